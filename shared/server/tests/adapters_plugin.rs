//! The `plugin` adapter and authenticator against a real backend on a local port:
//! request bodies and headers as docs/adapters.md §4.1–§4.5 fix them, one call per write,
//! and every failure mapped to the message devices get.

#![allow(clippy::unwrap_used)]

mod adapters_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use adapters_support::{attrs, closed_port_url, ctx, deps, deps_with_token, settings, Answer, Backend, Call, TOKEN};
use rhosync_server::adapters::deps::AppServerUrl;
use rhosync_server::adapters::factory;
use rhosync_server::adapters::plugin::{PluginAdapter, PluginAuthenticator, NO_APP_SERVER};
use rhosync_server::adapters::{AdapterError, AuthOutcome, Authenticator, SourceAdapter};
use rhosync_server::config::Settings;

fn plugin_settings(appserver: &str) -> Settings {
    settings(&format!(
        r#"
:test:
  :appserver: {appserver}
  :plugin_timeout: 1
:sources:
  Product:
    adapter: plugin
  Shared:
    partition_type: app
"#
    ))
}

fn failed<T>(message: &str) -> Result<T, AdapterError> {
    Err(AdapterError::Backend(message.to_owned()))
}

fn adapter(settings: &Settings, source: &str) -> Arc<dyn SourceAdapter> {
    factory::build(settings.source(source).unwrap(), &deps(settings)).unwrap()
}

/// Headers every callback must carry (docs/adapters.md §4.1): exact content type, JSON
/// accept, our agent, no token header.
fn assert_plugin_headers(call: &Call) {
    assert_eq!(call.method, "POST");
    assert_eq!(call.header("content-type"), Some("application/json"));
    assert_eq!(call.header("accept"), Some("application/json"));
    let agent = call.header("user-agent").unwrap();
    assert!(agent.starts_with("rhoconnect-rs/"), "user-agent {agent}");
    assert_eq!(call.header("x-rhoconnect-api-token"), None);
    assert_eq!(call.header("authorization"), None);
}

#[tokio::test]
async fn query_posts_the_contract_body_and_returns_the_object_map() {
    let objects = json!({
        "1": {"name": "iPhone", "brand": "Apple", "price": "199.99"},
        "2": {"id": 2, "name": "G2", "brand": "HTC", "price": 199.99, "in_stock": true, "note": null}
    });
    let reply = objects.clone();
    let backend = Backend::start(move |_| Answer::json(200, reply.clone())).await;
    // A trailing slash on the base must not produce `//rhoconnect/...` (docs/adapters.md §4.1).
    let settings = plugin_settings(&format!("{}/", backend.base));
    let adapter = adapter(&settings, "Product");

    let result = adapter.query(&ctx(&settings, "Product", "testuser", "testuser"), None).await.unwrap();
    assert_eq!(Value::Object(result), objects, "raw objects are handed on for the engine to normalise");

    let call = backend.take_one();
    assert_eq!(call.uri, "/rhoconnect/query");
    assert_plugin_headers(&call);
    assert_eq!(
        call.json(),
        json!({"resource": "Product", "partition": "testuser", "attributes": null,
               "api_token": TOKEN, "user_id": "testuser"})
    );
}

#[tokio::test]
async fn query_forwards_the_device_query_and_names_the_user_for_app_partitions() {
    let backend = Backend::start(|_| Answer::json(200, json!([]))).await;
    let settings = plugin_settings(&backend.base);
    let adapter = adapter(&settings, "Shared");
    let params = json!({"category": "phones", "page": {"size": "10"}});

    // App-partitioned: stored under __shared__, but `partition` is the acting login
    // (docs/adapters.md §4.1).
    let result = adapter.query(&ctx(&settings, "Shared", "ann", "__shared__"), Some(&params)).await.unwrap();
    assert!(result.is_empty(), "[] is an empty result");

    let call = backend.take_one();
    assert_eq!(
        call.json(),
        json!({"resource": "Shared", "partition": "ann", "attributes": params,
               "api_token": TOKEN, "user_id": "ann"})
    );

    backend.answer(|_| Answer::json(200, json!({})));
    assert!(adapter.query(&ctx(&settings, "Shared", "ann", "__shared__"), None).await.unwrap().is_empty());
}

#[tokio::test]
async fn writes_make_exactly_one_call_each_with_the_contract_bodies() {
    let backend = Backend::start(|call| match call.uri.as_str() {
        "/rhoconnect/create" => Answer::text(200, "42\n"),
        _ => Answer::text(200, "42"),
    })
    .await;
    let settings = plugin_settings(&backend.base);
    let adapter = adapter(&settings, "Product");
    let ctx = ctx(&settings, "Product", "testuser", "testuser");

    let mut created = attrs(json!({"name": "iPhone", "brand": "Apple", "price": "199.99"}));
    let id = adapter.create(&ctx, &mut created).await.unwrap();
    assert_eq!(id.as_deref(), Some("42"), "the trimmed body is the new id (docs/adapters.md §4.4)");
    let call = backend.take_one();
    assert_eq!(call.uri, "/rhoconnect/create");
    assert_plugin_headers(&call);
    assert_eq!(
        call.json(),
        json!({"resource": "Product", "partition": "testuser",
               "attributes": {"name": "iPhone", "brand": "Apple", "price": "199.99"},
               "api_token": TOKEN, "user_id": "testuser"})
    );

    adapter.update(&ctx, &attrs(json!({"price": "149.99", "id": "42"}))).await.unwrap();
    let call = backend.take_one();
    assert_eq!(call.uri, "/rhoconnect/update");
    assert_plugin_headers(&call);
    assert_eq!(
        call.json(),
        json!({"resource": "Product", "partition": "testuser",
               "attributes": {"price": "149.99", "id": "42"},
               "api_token": TOKEN, "user_id": "testuser"})
    );

    let had = json!({"name": "iPhone", "brand": "Apple", "price": "149.99", "id": "42"});
    adapter.delete(&ctx, &attrs(had.clone())).await.unwrap();
    let call = backend.take_one();
    assert_eq!(call.uri, "/rhoconnect/delete");
    assert_plugin_headers(&call);
    assert_eq!(
        call.json(),
        json!({"resource": "Product", "partition": "testuser", "attributes": had,
               "api_token": TOKEN, "user_id": "testuser"})
    );
}

#[tokio::test]
async fn create_reads_json_string_ids_and_treats_an_empty_body_as_no_id() {
    let backend = Backend::start(|_| Answer::json(200, json!("abc-7"))).await;
    let settings = plugin_settings(&backend.base);
    let adapter = adapter(&settings, "Product");
    let ctx = ctx(&settings, "Product", "u", "u");

    let id = adapter.create(&ctx, &mut attrs(json!({"name": "x"}))).await.unwrap();
    assert_eq!(id.as_deref(), Some("abc-7"));
    backend.take_one();

    backend.answer(|_| Answer::text(200, ""));
    assert_eq!(adapter.create(&ctx, &mut attrs(json!({"name": "x"}))).await.unwrap(), None);
    backend.take_one();

    // Verbatim otherwise: backends must answer the bare id (docs/adapters.md §4.4).
    backend.answer(|_| Answer::json(201, json!({"id": 5})));
    let id = adapter.create(&ctx, &mut attrs(json!({"name": "x"}))).await.unwrap();
    assert_eq!(id.as_deref(), Some(r#"{"id":5}"#));
    backend.take_one();
}

#[tokio::test]
async fn non_2xx_answers_become_status_and_reason_with_one_call_per_write() {
    let backend = Backend::start(|_| Answer::text(500, "boom")).await;
    let settings = plugin_settings(&backend.base);
    let adapter = adapter(&settings, "Product");
    let ctx = ctx(&settings, "Product", "u", "u");

    assert_eq!(adapter.query(&ctx, None).await, failed("500 Internal Server Error"));
    backend.take_one();
    assert_eq!(adapter.create(&ctx, &mut attrs(json!({"name": "x"}))).await, failed("500 Internal Server Error"));
    backend.take_one();

    backend.answer(|_| Answer::text(404, "no such route"));
    assert_eq!(adapter.update(&ctx, &attrs(json!({"name": "y", "id": "1"}))).await, failed("404 Not Found"));
    backend.take_one();

    backend.answer(|_| Answer::text(422, ""));
    assert_eq!(adapter.delete(&ctx, &attrs(json!({"name": "y", "id": "1"}))).await, failed("422 Unprocessable Entity"));
    backend.take_one();

    // Redirects are not followed: a 3xx is an error (docs/adapters.md §4.1).
    backend.answer(|_| Answer::text(302, ""));
    assert_eq!(adapter.query(&ctx, None).await, failed("302 Found"));
    backend.take_one();
}

#[tokio::test]
async fn malformed_query_replies_are_invalid_query_responses() {
    let backend = Backend::start(|_| Answer::text(200, "{not json")).await;
    let settings = plugin_settings(&backend.base);
    let adapter = adapter(&settings, "Product");
    let ctx = ctx(&settings, "Product", "u", "u");
    let invalid = Err(AdapterError::Backend("Invalid query response".into()));

    assert_eq!(adapter.query(&ctx, None).await, invalid);
    for body in ["\"text\"", "[1,2]", "17", "null", ""] {
        backend.answer(move |_| Answer::text(200, body));
        assert_eq!(adapter.query(&ctx, None).await, invalid, "body {body:?}");
    }
    assert_eq!(backend.calls().len(), 6);
}

#[tokio::test]
async fn a_backend_slower_than_plugin_timeout_times_out() {
    let backend = Backend::start(|_| Answer::text(200, "{}").after(Duration::from_secs(4))).await;
    let settings = plugin_settings(&backend.base); // :plugin_timeout: 1
    let adapter = adapter(&settings, "Product");
    let ctx = ctx(&settings, "Product", "u", "u");

    let started = Instant::now();
    let result = adapter.query(&ctx, None).await;
    assert_eq!(result, Err(AdapterError::Timeout("Timed out reading data from server".into())));
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(3), "waited {waited:?}");

    let quick = PluginAdapter::new(settings.source("Product").unwrap(), &deps(&settings))
        .unwrap()
        .with_timeout(Duration::from_millis(200));
    let result = quick.delete(&ctx, &attrs(json!({"a": "1", "id": "1"}))).await;
    assert_eq!(result, Err(AdapterError::Timeout("Timed out reading data from server".into())));
    assert_eq!(backend.calls().len(), 2, "one call each, no retry");
}

#[tokio::test]
async fn a_refused_connection_is_reported_as_such() {
    let settings = plugin_settings(&closed_port_url().await);
    let adapter = adapter(&settings, "Product");
    let result = adapter.query(&ctx(&settings, "Product", "u", "u"), None).await;
    assert_eq!(result, Err(AdapterError::Backend("Connection refused".into())));
}

#[tokio::test]
async fn without_an_app_server_url_calls_fail_with_the_rc7_message() {
    let settings = settings(
        r#"
:test:
  :plugin_timeout: 1
:sources:
  Product:
    adapter: plugin
"#,
    );
    let adapter = adapter(&settings, "Product");
    let ctx = ctx(&settings, "Product", "u", "u");
    let missing = |r: Result<(), AdapterError>| assert_eq!(r, Err(AdapterError::Backend(NO_APP_SERVER.into())));
    missing(adapter.query(&ctx, None).await.map(|_| ()));
    missing(adapter.create(&ctx, &mut attrs(json!({"a": "1"}))).await.map(|_| ()));
    missing(adapter.update(&ctx, &attrs(json!({"a": "1", "id": "1"}))).await);
    missing(adapter.delete(&ctx, &attrs(json!({"a": "1", "id": "1"}))).await);

    let auth = PluginAuthenticator::new(&deps(&settings));
    assert_eq!(auth.authenticate("ann", "pw", &Map::new()).await, AuthOutcome::Error(NO_APP_SERVER.into()));
}

#[tokio::test]
async fn a_source_url_serves_when_no_app_server_is_configured() {
    let backend = Backend::start(|_| Answer::json(200, json!({"1": {"a": "b"}}))).await;
    let settings = settings(&format!(
        r#"
:test:
  :plugin_timeout: 1
:sources:
  Product:
    adapter: plugin
    url: {}/crm/
"#,
        backend.base
    ));
    let adapter = adapter(&settings, "Product");
    let result = adapter.query(&ctx(&settings, "Product", "u", "u"), None).await.unwrap();
    assert_eq!(Value::Object(result), json!({"1": {"a": "b"}}));
    assert_eq!(backend.take_one().uri, "/crm/rhoconnect/query");
}

#[tokio::test]
async fn userinfo_is_stripped_and_only_stands_in_for_a_missing_token() {
    let backend = Backend::start(|_| Answer::json(200, json!({}))).await;
    let with_userinfo = backend.base.replace("http://", "http://sometoken@");
    let settings = plugin_settings(&with_userinfo);

    let adapter = factory::build(settings.source("Product").unwrap(), &deps(&settings)).unwrap();
    adapter.query(&ctx(&settings, "Product", "u", "u"), None).await.unwrap();
    let call = backend.take_one();
    assert_plugin_headers(&call); // no Authorization: the userinfo did not leak into basic auth
    assert_eq!(call.json()["api_token"], json!(TOKEN), "the server token wins");

    let tokenless = deps_with_token(&settings, None);
    let adapter = factory::build(settings.source("Product").unwrap(), &tokenless).unwrap();
    adapter.query(&ctx(&settings, "Product", "u", "u"), None).await.unwrap();
    assert_eq!(backend.take_one().json()["api_token"], json!("sometoken"));
}

/// An app server URL that changes at run time, like the `appserver_url` cache key.
struct Switchable(Mutex<Option<String>>);

#[async_trait]
impl AppServerUrl for Switchable {
    async fn app_server_url(&self) -> Result<Option<String>, AdapterError> {
        Ok(self.0.lock().unwrap().clone())
    }
}

#[tokio::test]
async fn the_app_server_url_is_looked_up_on_every_call() {
    let first = Backend::start(|_| Answer::json(200, json!({"1": {"from": "first"}}))).await;
    let second = Backend::start(|_| Answer::json(200, json!({"1": {"from": "second"}}))).await;
    let settings = plugin_settings(&first.base);
    let url = Arc::new(Switchable(Mutex::new(None)));
    let adapter =
        PluginAdapter::new(settings.source("Product").unwrap(), &deps(&settings)).unwrap().with_app_server(url.clone());
    let ctx = ctx(&settings, "Product", "u", "u");

    assert_eq!(adapter.query(&ctx, None).await, Err(AdapterError::Backend(NO_APP_SERVER.into())));
    *url.0.lock().unwrap() = Some(second.base.clone());
    let result = adapter.query(&ctx, None).await.unwrap();
    assert_eq!(result["1"]["from"], json!("second"));
    assert!(first.calls().is_empty());
    second.take_one();
}

#[tokio::test]
async fn writes_without_an_id_are_refused_before_any_call() {
    let backend = Backend::start(|_| Answer::text(200, "")).await;
    let settings = plugin_settings(&backend.base);
    let adapter = adapter(&settings, "Product");
    let ctx = ctx(&settings, "Product", "u", "u");
    assert!(adapter.update(&ctx, &attrs(json!({"a": "1"}))).await.is_err());
    assert!(adapter.delete(&ctx, &attrs(json!({"a": "1"}))).await.is_err());
    assert!(backend.calls().is_empty());
}

#[tokio::test]
async fn authenticate_posts_login_password_token_and_maps_the_answer() {
    let backend = Backend::start(|call| {
        let login = call.json()["login"].as_str().unwrap().to_owned();
        match login.as_str() {
            "lucas" => Answer::text(200, "lucas"),
            "newuser" => Answer::text(200, "different\n"),
            "quiet" => Answer::text(200, ""),
            "refused" => Answer::text(401, "Authentication has failed"),
            "forbidden" => Answer::text(403, ""),
            "broken" => Answer::text(500, "stack trace"),
            "slow" => Answer::text(200, "slow").after(Duration::from_secs(3)),
            _ => Answer::text(404, ""),
        }
    })
    .await;
    let settings = plugin_settings(&backend.base);
    let auth = PluginAuthenticator::new(&deps(&settings));
    let extra = serde_json::from_value::<Map<String, Value>>(json!({"remember_me": 1})).unwrap();

    assert_eq!(auth.authenticate("lucas", "secret", &extra).await, AuthOutcome::Allow("lucas".into()));
    let call = backend.take_one();
    assert_eq!(call.uri, "/rhoconnect/authenticate");
    assert_plugin_headers(&call);
    // Exactly the members of docs/adapters.md §4's authenticate row: no device extras, no
    // partition.
    assert_eq!(call.json(), json!({"login": "lucas", "password": "secret", "api_token": TOKEN}));

    let cases = [
        ("newuser", AuthOutcome::Allow("different".into())),
        ("quiet", AuthOutcome::Allow("quiet".into())),
        ("refused", AuthOutcome::Deny),
        ("forbidden", AuthOutcome::Deny),
        ("broken", AuthOutcome::Error("500 Internal Server Error".into())),
        ("nobody", AuthOutcome::Error("404 Not Found".into())),
        ("slow", AuthOutcome::Error("Timed out reading data from server".into())),
    ];
    for (login, expected) in cases {
        assert_eq!(auth.authenticate(login, "pw", &Map::new()).await, expected, "login {login}");
        backend.take_one();
    }

    let dead = plugin_settings(&closed_port_url().await);
    let auth = PluginAuthenticator::new(&deps(&dead));
    assert_eq!(auth.authenticate("lucas", "pw", &Map::new()).await, AuthOutcome::Error("Connection refused".into()));
}
