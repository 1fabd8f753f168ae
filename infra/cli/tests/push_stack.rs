//! Push through the whole local stack (`docs/push.md §1`, §6.1): the runner (HTTP and the
//! push worker's queue consumer) with settings made by the fake APNs of `rhosync-local
//! fake-apns` (the same settings `infra/dev --fake-push` writes), a device that logs in
//! and registers an APNs token, then `rhosync-admin ping demo --message hi` and a backend
//! `push_objects` on a `push_notify` source; both must show up in the fake's request log.

use std::time::Duration;

use clap::Parser;
use rhosync_admin::{run, Cli};
use rhosync_e2e::{eventually, start_runner, TestEnv, DEMO_SETTINGS, TEST_API_TOKEN};
use serde_json::{json, Value};

fn log_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("log line {line}: {e}")))
        .collect()
}

#[tokio::test]
async fn cli_ping_and_push_objects_reach_the_fake_apns() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bind = "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}"));
    let fake = rhosync_local::fake_apns::start(dir.path(), bind).await.unwrap_or_else(|e| panic!("fake APNs: {e}"));
    let base_settings = DEMO_SETTINGS.replace(":development:\n", ":development:\n  :device_auth: open\n");
    let settings = rhosync_local::fake_apns::settings_with(&base_settings, &fake).unwrap_or_else(|e| panic!("{e}"));
    let env = TestEnv::new("pushstack", &settings).await;
    let runner = start_runner(&env, 0).await;
    let base = runner.base_url();
    let http = reqwest::Client::new();

    // The device: login, clientcreate, clientregister with an APNs token.
    let login = http
        .post(format!("{base}/rc/v1/app/login"))
        .json(&json!({"login": "demo", "password": "demo"}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("login: {e}"));
    assert_eq!(login.status(), 200);
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("no session cookie"))
        .to_owned();
    let created: Value = http
        .post(format!("{base}/rc/v1/clients"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap_or_else(|e| panic!("clientcreate: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("clientcreate: {e}"));
    let client_id = created["client"]["client_id"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
    let registered = http
        .post(format!("{base}/rc/v1/clients/{client_id}/register"))
        .header("cookie", &cookie)
        .json(&json!({"device_type": "APPLE", "device_pin": "abcd1234", "device_app_id": "com.example.demoapp"}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("clientregister: {e}"));
    assert_eq!(registered.status(), 200);

    // The CLI's ping.
    let argv = ["rhosync-admin", "--server", &base, "--token", TEST_API_TOKEN, "ping", "demo", "--message", "hi"];
    let out = run(Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{e}"))).await;
    assert_eq!(out.unwrap_or_else(|e| panic!("ping: {e}")), "");
    let first = eventually(Duration::from_secs(20), || async {
        let lines = log_lines(&fake.log_file);
        (!lines.is_empty()).then(|| lines[0].clone())
    })
    .await
    .unwrap_or_else(|| panic!("the ping did not reach the fake APNs"));
    assert_eq!(first["method"], "POST");
    assert_eq!(first["path"], "/3/device/abcd1234");
    assert_eq!(first["version"], "HTTP/2.0");
    assert_eq!(first["headers"]["apns-topic"], "com.example.demoapp");
    assert_eq!(first["headers"]["apns-push-type"], "alert");
    assert!(first["headers"]["authorization"].as_str().is_some_and(|a| a.starts_with("Bearer ")), "{first}");
    assert_eq!(first["payload"], json!({"aps": {"alert": "hi", "vibrate": ""}}));

    // A backend push to Product (push_notify by the settings' default): a background ping.
    let pushed = http
        .post(format!("{base}/app/v1/Product/push_objects"))
        .header("X-RhoConnect-API-TOKEN", TEST_API_TOKEN)
        .json(&json!({"user_id": "demo", "objects": {"1": {"name": "x"}}}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("push_objects: {e}"));
    assert_eq!(pushed.status(), 200);
    let second = eventually(Duration::from_secs(20), || async { log_lines(&fake.log_file).get(1).cloned() })
        .await
        .unwrap_or_else(|| panic!("push_objects did not ping the fake APNs"));
    assert_eq!(second["path"], "/3/device/abcd1234");
    assert_eq!(second["headers"]["apns-push-type"], "background");
    assert_eq!(second["payload"], json!({"aps": {"vibrate": "", "content-available": 1}, "do_sync": ["Product"]}));

    runner.shutdown().await;
    drop(fake);
}
