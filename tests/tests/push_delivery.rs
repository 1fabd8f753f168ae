//! Pings end to end (docs/push.md): devices register through the device API, pings come
//! from the REST API and from backend pushes to a `push_notify` source, and the push
//! worker of the local runner delivers them to fake APNs (HTTP/2 over TLS), FCM (token
//! endpoint and `messages:send`), RhoConnect Push and webhook servers on port 0. Each test
//! checks the exact requests: paths, headers, signed tokens, payloads.

mod push_support;
mod sync_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::Engine;
use jsonwebtoken::Algorithm;
use push_support::{fcm_ok, now_secs, ok, verify_jwt, PushWorld, Recorded, Reply};
use serde_json::json;

fn bearer(r: &Recorded) -> String {
    r.header("authorization")
        .and_then(|a| a.strip_prefix("bearer ").or(a.strip_prefix("Bearer ")).map(str::to_owned))
        .unwrap_or_else(|| panic!("no bearer token on {}", r.path))
}

#[tokio::test]
async fn apns_gets_http2_requests_with_a_provider_token_and_the_payload_of_each_ping() {
    let w = PushWorld::new("apns", 200, ok(), fcm_ok()).await;
    w.register(
        "alice",
        json!({"device_type": "APPLE", "device_pin": "<AB CD EF 01>", "device_app_id": "com.example.ios",
               "phone_id": "ph-1", "device_app_version": "1.2"}),
    )
    .await;
    w.ping(json!({"user_id": ["alice"], "sources": ["Product"], "message": "hello world",
                  "vibrate": 2000, "badge": "5", "sound": "hello.mp3", "api_token": "must-not-travel"}))
        .await;
    let first = w.apns.wait_for("/3/device/", 1).await.remove(0);
    assert_eq!(first.version, http::Version::HTTP_2);
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/3/device/abcdef01");
    assert_eq!(first.header("apns-topic").as_deref(), Some("com.example.ios"));
    assert_eq!(first.header("apns-push-type").as_deref(), Some("alert"));
    assert_eq!(first.header("apns-priority").as_deref(), Some("10"));
    assert_eq!(
        first.json(),
        json!({"aps": {"alert": "hello world", "badge": 5, "sound": "hello.mp3", "vibrate": "2000"}, "do_sync": ["Product"]})
    );
    assert!(!first.text().contains("must-not-travel"));
    let token = bearer(&first);
    let (header, claims) = verify_jwt(&token, &w.keys.apns_public_pem, Algorithm::ES256);
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(header.kid.as_deref(), Some("ABC123DEFG"));
    assert_eq!(claims["iss"], "TEAM123456");
    let iat = claims["iat"].as_u64().unwrap_or_default();
    assert!(now_secs().abs_diff(iat) < 120, "iat {iat}");
    assert_eq!(claims.as_object().map(|c| c.len()), Some(2), "only iss and iat: {claims}");

    // A backend push to the push_notify source: a silent background ping.
    let (status, body) = w
        .world
        .admin(
            "POST",
            "/app/v1/Product/push_objects",
            Some(json!({"user_id": "alice", "objects": {"1": {"name": "x"}}})),
        )
        .await;
    assert_eq!((status, body.as_str()), (200, "done"));
    let second = w.apns.wait_for("/3/device/", 2).await.remove(1);
    assert_eq!(second.header("apns-push-type").as_deref(), Some("background"));
    assert_eq!(second.header("apns-priority").as_deref(), Some("5"));
    assert_eq!(second.json(), json!({"aps": {"vibrate": "", "content-available": 1}, "do_sync": ["Product"]}));
    assert_eq!(bearer(&second), token, "the provider token is reused");

    // A message without sources; a device without an app id gets the configured topic.
    w.register("bob", json!({"device_type": "iPhone", "device_pin": "beef"})).await;
    w.ping(json!({"user_id": "bob", "message": "m", "badge": ""})).await;
    let third = w.apns.wait_for("/3/device/beef", 1).await.remove(0);
    assert_eq!(third.header("apns-topic").as_deref(), Some("com.example.default"));
    assert_eq!(third.json(), json!({"aps": {"alert": "m", "badge": 0, "vibrate": ""}}));
    w.settle().await;
    assert_eq!(w.apns.requests().len(), 3);
}

#[tokio::test]
async fn fcm_buys_an_oauth_token_once_and_sends_v1_messages() {
    let w = PushWorld::new("fcm", 200, ok(), fcm_ok()).await;
    w.register(
        "carol",
        json!({"device_type": "ANDROID", "device_push_type": "fcm", "device_pin": "fcm-token-1", "phone_id": "ph-2"}),
    )
    .await;
    w.ping(json!({"user_id": ["carol"], "sources": ["Product", "Other"], "message": "hello world", "vibrate": "5", "sound": "hello.mp3"}))
        .await;
    let sent = w.fcm.wait_for("/v1/", 1).await.remove(0);
    let tokens = w.fcm.to("/token");
    assert_eq!(tokens.len(), 1);
    let form: Vec<(String, String)> = url_pairs(&tokens[0].text());
    assert_eq!(form[0], ("grant_type".to_owned(), "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned()));
    assert_eq!(form[1].0, "assertion");
    let (header, claims) = verify_jwt(&form[1].1, &w.keys.fcm_public_pem, Algorithm::RS256);
    assert_eq!(header.kid.as_deref(), Some("key-1"));
    assert_eq!(claims["iss"], "push@demo-project.iam.gserviceaccount.com");
    assert_eq!(claims["scope"], "https://www.googleapis.com/auth/firebase.messaging");
    assert_eq!(claims["aud"], format!("{}/token", w.fcm.url));
    assert_eq!(claims["exp"].as_u64().unwrap_or_default() - claims["iat"].as_u64().unwrap_or_default(), 3600);

    assert_eq!(sent.path, "/v1/projects/demo-project/messages:send");
    assert_eq!(sent.header("authorization").as_deref(), Some("Bearer ya29.test-token"));
    let mut body = sent.json();
    let collapse = body["message"]["android"]["collapse_key"].take();
    let collapse: u64 = collapse.as_str().and_then(|c| c.parse().ok()).unwrap_or(u64::MAX);
    assert!(collapse < 100_000_000);
    assert_eq!(
        body,
        json!({"message": {"token": "fcm-token-1", "android": {
            "collapse_key": null, "priority": "high", "restricted_package_name": "com.example.android",
            "data": {"do_sync": "Product,Other", "alert": "hello world", "vibrate": "5", "sound": "hello.mp3", "phone_id": "ph-2"},
            "notification": {"body": "hello world"}}}})
    );

    // A second, silent ping: the access token is reused; an `android` device without a
    // push type goes to FCM too, since FCM is configured.
    w.register("carol", json!({"device_type": "ANDROID", "device_pin": "gcm-era-token"})).await;
    w.ping(json!({"user_id": "carol", "sources": "Product"})).await;
    let later = w.fcm.wait_for("/v1/", 3).await;
    assert_eq!(w.fcm.to("/token").len(), 1, "the access token is cached");
    let silent: Vec<_> = later[1..]
        .iter()
        .map(|r| (r.json()["message"]["token"].clone(), r.json()["message"]["android"].clone()))
        .collect();
    for (token, android) in silent {
        assert!(android.get("notification").is_none());
        let expected = if token == "fcm-token-1" {
            json!({"do_sync": "Product", "phone_id": "ph-2"})
        } else {
            json!({"do_sync": "Product"})
        };
        assert_eq!(android["data"], expected, "{token}");
    }
}

fn url_pairs(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
            (decode(k), decode(v))
        })
        .collect()
}

#[tokio::test]
async fn rhoconnect_push_and_the_webhook_get_their_posts() {
    let w = PushWorld::new("rps", 200, ok(), fcm_ok()).await;
    let rps_client = w
        .register(
            "dave",
            json!({"device_type": "ANDROID", "device_push_type": "rhoconnect_push", "device_pin": "uuid-1:beef"}),
        )
        .await;
    let hook_client =
        w.register("dave", json!({"device_type": "APPLE", "device_push_type": "webhook", "device_pin": "hook-1", "device_app_version": "3"}))
            .await;
    w.ping(json!({"user_id": ["dave"], "sources": ["Product"], "message": "hi", "badge": "2"})).await;
    let rps = w.rps.wait_for("/messageQueue/", 1).await.remove(0);
    assert_eq!(rps.path, "/messageQueue/uuid-1:beef");
    let basic = base64::engine::general_purpose::STANDARD.encode("someappname:");
    assert_eq!(rps.header("authorization"), Some(format!("Basic {basic}")));
    assert_eq!(rps.header("content-type").as_deref(), Some("application/json"));
    assert_eq!(rps.json(), json!({"collapseId": 2, "data": {"alert": "hi", "vibrate": "", "do_sync": ["Product"]}}));
    let hook = w.hook.wait_for("/hook", 1).await.remove(0);
    assert_eq!(
        hook.json(),
        json!({"device": {"client_id": hook_client, "device_pin": "hook-1", "device_port": "", "phone_id": "",
                          "device_app_id": "", "device_app_version": "3"},
               "notice": {"message": "hi", "sources": ["Product"], "badge": "2", "vibrate": ""}})
    );
    assert_ne!(rps_client, hook_client);
}

#[tokio::test]
async fn dead_addresses_are_removed_and_the_other_devices_still_hear() {
    let apns: Reply = Arc::new(|r: &Recorded| {
        let json = vec![("content-type", "application/json".to_owned())];
        if r.path.ends_with("/dead") {
            (410, json, r#"{"reason":"Unregistered","timestamp":1}"#.into())
        } else if r.path.ends_with("/bad") {
            (400, json, r#"{"reason":"BadDeviceToken"}"#.into())
        } else if r.path.ends_with("/topic") {
            (400, json, r#"{"reason":"DeviceTokenNotForTopic"}"#.into())
        } else {
            (200, Vec::new(), String::new())
        }
    });
    let fcm: Reply = Arc::new(|r: &Recorded| {
        if r.path == "/token" {
            (200, Vec::new(), r#"{"access_token":"t","expires_in":3600}"#.into())
        } else if r.text().contains("\"gone\"") {
            (
                404,
                Vec::new(),
                r#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}"#.into(),
            )
        } else {
            (
                400,
                Vec::new(),
                r#"{"error":{"code":400,"status":"INVALID_ARGUMENT","details":[{"errorCode":"UNREGISTERED"}]}}"#.into(),
            )
        }
    });
    let w = PushWorld::new("dead", 200, apns, fcm).await;
    let dead = w.register("erin", json!({"device_type": "APPLE", "device_pin": "dead"})).await;
    let bad = w.register("erin", json!({"device_type": "APPLE", "device_pin": "bad"})).await;
    let topic = w.register("erin", json!({"device_type": "APPLE", "device_pin": "topic"})).await;
    let good = w.register("erin", json!({"device_type": "APPLE", "device_pin": "good"})).await;
    let gone =
        w.register("erin", json!({"device_type": "ANDROID", "device_push_type": "fcm", "device_pin": "gone"})).await;
    let unreg =
        w.register("erin", json!({"device_type": "ANDROID", "device_push_type": "fcm", "device_pin": "unreg"})).await;
    w.ping(json!({"user_id": "erin", "message": "hi"})).await;
    w.settle().await;
    assert_eq!(w.apns.to("/3/device/").len(), 4);
    assert_eq!(w.fcm.to("/v1/").len(), 2);
    for id in [&dead, &bad, &gone, &unreg] {
        assert_eq!(w.device_fields(id).await.get("device_pin"), None, "{id}: a dead pin is removed");
        assert!(w.device_fields(id).await.contains_key("device_type"), "the rest of the registration stays");
    }
    for (id, pin) in [(&topic, "topic"), (&good, "good")] {
        assert_eq!(w.device_fields(id).await.get("device_pin").map(String::as_str), Some(pin));
    }
    // The next ping goes only to the live ones.
    w.ping(json!({"user_id": "erin", "message": "again"})).await;
    w.settle().await;
    assert_eq!(w.apns.to("/3/device/").len(), 6);
    assert_eq!(w.fcm.to("/v1/").len(), 2);
}

#[tokio::test]
async fn refusals_are_retried_after_retry_after_then_end_in_the_dlq_and_nothing_is_sent_twice() {
    let slow_calls = Arc::new(AtomicUsize::new(0));
    let calls = slow_calls.clone();
    let apns: Reply = Arc::new(move |r: &Recorded| {
        if r.path.ends_with("/slow") && calls.fetch_add(1, Ordering::SeqCst) == 0 {
            (429, vec![("retry-after", "3".into())], r#"{"reason":"TooManyRequests"}"#.into())
        } else if r.path.ends_with("/down") {
            (503, Vec::new(), r#"{"reason":"ServiceUnavailable"}"#.into())
        } else {
            (200, Vec::new(), String::new())
        }
    });
    let w = PushWorld::new("retry", 200, apns, fcm_ok()).await;
    for pin in ["slow", "down", "fine"] {
        w.register("frank", json!({"device_type": "APPLE", "device_pin": pin})).await;
    }
    w.ping(json!({"user_id": "frank", "message": "hi"})).await;
    w.settle().await;
    assert_eq!(w.apns.to("/3/device/fine").len(), 1, "delivered once over every redelivery");
    assert_eq!(w.apns.to("/3/device/slow").len(), 2, "429 with Retry-After: retried on the redelivery");
    // 503 without Retry-After: once more at once, on each of the three receives.
    assert_eq!(w.apns.to("/3/device/down").len(), 6);
    let env = &w.world.env;
    let sqs = env.state.aws.sqs.clone();
    let dlq = sqs
        .get_queue_url()
        .queue_name(format!("{}-push-dlq", env.prefix))
        .send()
        .await
        .ok()
        .and_then(|o| o.queue_url)
        .unwrap_or_else(|| panic!("no push DLQ"));
    let got =
        sqs.receive_message().queue_url(dlq).max_number_of_messages(10).send().await.unwrap_or_else(|e| panic!("{e}"));
    let bodies: Vec<String> = got.messages.unwrap_or_default().into_iter().filter_map(|m| m.body).collect();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert!(bodies[0].contains("\"kind\":\"ping\""), "{}", bodies[0]);
}

#[tokio::test]
async fn duplicate_deliveries_unknown_users_and_large_pings() {
    let w = PushWorld::new("dups", 2, ok(), fcm_ok()).await;
    // An unknown user and a user whose client never registered: 200, nothing sent.
    w.ping(json!({"user_id": ["nobody"], "message": "hi"})).await;
    w.world.device("quiet").await;
    w.ping(json!({"user_id": "quiet", "message": "hi"})).await;
    let (status, body) = w.world.admin("POST", "/rc/v1/users/ping", Some(json!({"message": "no users"}))).await;
    assert_eq!((status, body.as_str()), (200, ""));
    w.settle().await;
    assert!(w.apns.requests().is_empty());

    // Five devices, two per chunk; the same pin registered twice is reached once.
    for i in 0..5 {
        w.register("grace", json!({"device_type": "APPLE", "device_pin": format!("p{i}")})).await;
    }
    w.register("heidi", json!({"device_type": "APPLE", "device_pin": "p0"})).await;
    w.ping(json!({"user_id": ["grace", "heidi"], "message": "hi"})).await;
    w.settle().await;
    let mut paths: Vec<String> = w.apns.requests().into_iter().map(|r| r.path).collect();
    paths.sort();
    assert_eq!(paths, (0..5).map(|i| format!("/3/device/p{i}")).collect::<Vec<_>>());

    // SQS delivering one ping message twice sends nothing twice.
    let message = rhosync_server::ports::JobMessage {
        id: Some("fixed-ping-id".into()),
        job: rhosync_server::ports::Job::ping(vec!["heidi".into()], vec!["Product".into()], "job"),
    };
    let queue = w.world.env.state.queue();
    queue.send(rhosync_server::ports::Queue::Push, &message).await.unwrap_or_else(|e| panic!("{e}"));
    queue.send(rhosync_server::ports::Queue::Push, &message).await.unwrap_or_else(|e| panic!("{e}"));
    w.settle().await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(w.apns.requests().len(), 6, "one more request for the two deliveries");
}
