//! The declarative `rest` adapter against a plain REST backend on a local port: URLs,
//! methods, field mapping, the auth header from the environment, one call per write,
//! failures as device messages, and option validation at construction.

#![allow(clippy::unwrap_used)]

mod adapters_support;

use std::time::Duration;

use serde_json::{json, Value};

use adapters_support::{attrs, ctx, deps, settings, Answer, Backend, Call};
use rhosync_server::adapters::rest::RestAdapter;
use rhosync_server::adapters::{factory, AdapterError, SourceAdapter};
use rhosync_server::config::Settings;

const SECRET: &str = "s3cret-value";

fn env(name: &str) -> Option<String> {
    (name == "ITEMS_TOKEN").then(|| SECRET.to_owned())
}

/// A fully specified source: relative URLs against `url:`, renamed fields, bearer auth.
fn item_settings(base: &str) -> Settings {
    settings(&format!(
        r#"
:test:
  :plugin_timeout: 5
:sources:
  Item:
    adapter: rest
    url: {base}/api/
    adapter_options:
      list_url: /users/{{login}}/items?expand=all
      records_pointer: /data/items
      id_field: itemId
      create: {{url: /items, id_pointer: /data/itemId}}
      update: {{method: PUT, url: "/items/{{id}}"}}
      delete: {{url: "/items/{{id}}"}}
      field_map: {{itemName: name, qty: quantity}}
      auth_header: Authorization
      auth_prefix: "Bearer "
      auth_secret_env: ITEMS_TOKEN
      timeout_secs: 0.5
"#
    ))
}

fn item_adapter(settings: &Settings) -> RestAdapter {
    RestAdapter::with_env(settings.source("Item").unwrap(), &deps(settings), &env).unwrap()
}

fn assert_auth(call: &Call) {
    assert_eq!(call.header("authorization"), Some("Bearer s3cret-value"));
    assert_eq!(call.header("accept"), Some("application/json"));
}

#[tokio::test]
async fn query_lists_records_at_the_pointer_renamed_through_the_field_map() {
    let backend = Backend::start(|_| {
        Answer::json(
            200,
            json!({"data": {"total": 2, "items": [
                {"itemId": 7, "itemName": "Bolt", "qty": 3, "color": "red"},
                {"itemId": "a b", "itemName": "Nut", "qty": null}
            ]}}),
        )
    })
    .await;
    let settings = item_settings(&backend.base);
    let adapter = item_adapter(&settings);

    let result = adapter.query(&ctx(&settings, "Item", "ann lee", "ann lee"), None).await.unwrap();
    assert_eq!(
        Value::Object(result),
        json!({"7": {"name": "Bolt", "quantity": 3, "color": "red"},
               "a b": {"name": "Nut", "quantity": null}})
    );
    let call = backend.take_one();
    assert_eq!(call.method, "GET");
    assert_eq!(call.uri, "/api/users/ann%20lee/items?expand=all");
    assert_auth(&call);
    assert_eq!(call.body, "");
}

#[tokio::test]
async fn query_accepts_records_keyed_by_id_and_an_empty_list() {
    let backend =
        Backend::start(|_| Answer::json(200, json!({"1": {"name": "a"}, "2": {"name": "b", "id": "2"}}))).await;
    let settings = settings(&format!(
        r#"
:test:
  :plugin_timeout: 5
:sources:
  Thing:
    adapter: rest
    adapter_options:
      list_url: {}/things
"#,
        backend.base
    ));
    let adapter = factory::build(settings.source("Thing").unwrap(), &deps(&settings)).unwrap();
    let ctx = ctx(&settings, "Thing", "u", "u");
    let result = adapter.query(&ctx, None).await.unwrap();
    // The id field is the key, not an attribute.
    assert_eq!(Value::Object(result), json!({"1": {"name": "a"}, "2": {"name": "b"}}));

    backend.answer(|_| Answer::json(200, json!([])));
    assert!(adapter.query(&ctx, None).await.unwrap().is_empty());
    assert_eq!(backend.calls().len(), 2);
}

#[tokio::test]
async fn each_write_is_exactly_one_call_with_backend_names() {
    let backend = Backend::start(|call| match call.method.as_str() {
        "POST" => Answer::json(201, json!({"data": {"itemId": 99, "itemName": "Bolt"}})),
        _ => Answer::text(204, ""),
    })
    .await;
    let settings = item_settings(&backend.base);
    let adapter = item_adapter(&settings);
    let ctx = ctx(&settings, "Item", "ann", "ann");

    let mut created = attrs(json!({"name": "Bolt", "quantity": "3", "color": "red"}));
    assert_eq!(adapter.create(&ctx, &mut created).await.unwrap().as_deref(), Some("99"));
    let call = backend.take_one();
    assert_eq!((call.method.as_str(), call.uri.as_str()), ("POST", "/api/items"));
    assert_auth(&call);
    assert_eq!(call.header("content-type"), Some("application/json"));
    assert_eq!(call.json(), json!({"itemName": "Bolt", "qty": "3", "color": "red"}));

    adapter.update(&ctx, &attrs(json!({"quantity": "4", "id": "a/b"}))).await.unwrap();
    let call = backend.take_one();
    assert_eq!((call.method.as_str(), call.uri.as_str()), ("PUT", "/api/items/a%2Fb"));
    assert_auth(&call);
    assert_eq!(call.json(), json!({"qty": "4"}), "the id travels in the URL only");

    adapter.delete(&ctx, &attrs(json!({"name": "Bolt", "quantity": "4", "id": "7"}))).await.unwrap();
    let call = backend.take_one();
    assert_eq!((call.method.as_str(), call.uri.as_str()), ("DELETE", "/api/items/7"));
    assert_auth(&call);
    assert_eq!(call.body, "");
}

#[tokio::test]
async fn a_create_reply_without_an_id_gives_no_id_rather_than_an_error() {
    let backend = Backend::start(|_| Answer::json(201, json!({"ok": true}))).await;
    let settings = item_settings(&backend.base);
    let adapter = item_adapter(&settings);
    let ctx = ctx(&settings, "Item", "ann", "ann");
    for reply in [Answer::json(201, json!({"ok": true})), Answer::text(201, ""), Answer::text(200, "<html>")] {
        backend.answer(move |_| reply.clone());
        assert_eq!(adapter.create(&ctx, &mut attrs(json!({"name": "x"}))).await, Ok(None));
        backend.take_one();
    }
}

#[tokio::test]
async fn defaults_hang_off_the_list_url() {
    let backend = Backend::start(|call| match call.method.as_str() {
        "POST" => Answer::json(201, json!({"id": "n-1", "name": "x"})),
        _ => Answer::text(200, "{}"),
    })
    .await;
    let settings = settings(&format!(
        r#"
:test:
  :plugin_timeout: 5
:sources:
  Thing:
    adapter: rest
    adapter_options:
      list_url: {}/things/
      delete: false
"#,
        backend.base
    ));
    let adapter = factory::build(settings.source("Thing").unwrap(), &deps(&settings)).unwrap();
    let ctx = ctx(&settings, "Thing", "u", "u");

    assert_eq!(adapter.create(&ctx, &mut attrs(json!({"name": "x"}))).await.unwrap().as_deref(), Some("n-1"));
    let call = backend.take_one();
    assert_eq!((call.method.as_str(), call.uri.as_str()), ("POST", "/things/"));
    assert_eq!(call.header("authorization"), None);

    adapter.update(&ctx, &attrs(json!({"name": "y", "id": "n-1"}))).await.unwrap();
    let call = backend.take_one();
    assert_eq!((call.method.as_str(), call.uri.as_str()), ("PATCH", "/things/n-1"));
    assert_eq!(call.json(), json!({"name": "y"}));

    let refused = adapter.delete(&ctx, &attrs(json!({"name": "y", "id": "n-1"}))).await;
    assert_eq!(refused, Err(AdapterError::Backend("Source Thing does not support delete".into())));
    assert!(backend.calls().is_empty());
}

#[tokio::test]
async fn drop_unmapped_keeps_only_mapped_fields_both_ways() {
    let backend = Backend::start(|call| match call.method.as_str() {
        "GET" => Answer::json(200, json!([{"id": 1, "title": "T", "internal": "x"}])),
        _ => Answer::text(200, ""),
    })
    .await;
    let settings = settings(&format!(
        r#"
:test:
  :plugin_timeout: 5
:sources:
  Thing:
    adapter: rest
    adapter_options:
      list_url: {}/things
      field_map: {{title: name}}
      drop_unmapped: true
"#,
        backend.base
    ));
    let adapter = factory::build(settings.source("Thing").unwrap(), &deps(&settings)).unwrap();
    let ctx = ctx(&settings, "Thing", "u", "u");
    let result = adapter.query(&ctx, None).await.unwrap();
    assert_eq!(Value::Object(result), json!({"1": {"name": "T"}}));
    backend.take_one();
    adapter.update(&ctx, &attrs(json!({"name": "U", "junk": "j", "id": "1"}))).await.unwrap();
    assert_eq!(backend.take_one().json(), json!({"title": "U"}));
}

#[tokio::test]
async fn failures_become_device_messages_with_one_call_per_write() {
    let backend = Backend::start(|_| Answer::text(500, "oops")).await;
    let settings = item_settings(&backend.base);
    let adapter = item_adapter(&settings);
    let ctx = ctx(&settings, "Item", "ann", "ann");
    let backend_err = |m: &str| AdapterError::Backend(m.to_owned());

    assert_eq!(adapter.query(&ctx, None).await, Err(backend_err("500 Internal Server Error")));
    backend.take_one();
    assert_eq!(
        adapter.create(&ctx, &mut attrs(json!({"name": "x"}))).await,
        Err(backend_err("500 Internal Server Error"))
    );
    backend.take_one();

    backend.answer(|_| Answer::text(401, ""));
    assert_eq!(
        adapter.update(&ctx, &attrs(json!({"name": "x", "id": "1"}))).await,
        Err(backend_err("401 Unauthorized"))
    );
    backend.take_one();

    backend.answer(|_| Answer::text(404, ""));
    assert_eq!(adapter.delete(&ctx, &attrs(json!({"name": "x", "id": "1"}))).await, Err(backend_err("404 Not Found")));
    backend.take_one();

    // timeout_secs: 0.5
    backend.answer(|_| Answer::text(200, "{}").after(Duration::from_secs(3)));
    let started = std::time::Instant::now();
    assert_eq!(
        adapter.create(&ctx, &mut attrs(json!({"name": "x"}))).await,
        Err(AdapterError::Timeout("Timed out reading data from server".into()))
    );
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    backend.take_one();
}

#[tokio::test]
async fn unusable_list_replies_are_invalid_query_responses() {
    let backend = Backend::start(|_| Answer::text(200, "{oops")).await;
    let settings = item_settings(&backend.base);
    let adapter = item_adapter(&settings);
    let ctx = ctx(&settings, "Item", "ann", "ann");
    let message = |result: Result<_, AdapterError>| match result {
        Err(AdapterError::Backend(m)) => m,
        other => panic!("expected a backend error, got {other:?}"),
    };

    let m = message(adapter.query(&ctx, None).await);
    assert!(m.starts_with("Invalid query response: the body is not JSON"), "{m}");

    let cases = [
        (json!({"data": {}}), "Invalid query response: nothing at /data/items"),
        (
            json!({"data": {"items": "none"}}),
            "Invalid query response: /data/items is neither a list nor an object of records",
        ),
        (
            json!({"data": {"items": [{"itemId": 1}, {"itemName": "no id"}]}}),
            "Invalid query response: record 1 has no usable 'itemId'",
        ),
        (json!({"data": {"items": [{"itemId": true}]}}), "Invalid query response: record 0 has no usable 'itemId'"),
        (json!({"data": {"items": [3]}}), "Invalid query response: record 0 is not an object"),
    ];
    for (body, expected) in cases {
        backend.answer(move |_| Answer::json(200, body.clone()));
        assert_eq!(message(adapter.query(&ctx, None).await), expected);
    }
    assert_eq!(backend.calls().len(), 6);
}

/// Builds a `rest` source with the given `adapter_options` YAML (indented 6 spaces).
fn build_with(options: &str, url: &str) -> Result<RestAdapter, AdapterError> {
    let settings = settings(&format!(
        ":test:\n  :plugin_timeout: 5\n:sources:\n  Thing:\n    adapter: rest\n    url: {url}\n    adapter_options:\n{options}"
    ));
    RestAdapter::with_env(settings.source("Thing").unwrap(), &deps(&settings), &env)
}

#[test]
fn bad_options_are_refused_at_construction_with_the_key_named() {
    let ok = "      list_url: http://h/things\n";
    assert!(build_with(ok, "").is_ok());
    let cases = [
        ("      records_pointer: /x\n", "list_url is required"),
        ("      lst_url: http://h/x\n", "unknown option 'lst_url'"),
        ("      list_url: /things\n", "list_url: '/things' is relative but the source has no url: setting"),
        ("      list_url: http://h/{id}\n", "list_url: 'http://h/{id}': {id} is only available to update and delete"),
        ("      list_url: http://h/{user}\n", "unknown placeholder {user}"),
        ("      list_url: http://h/x\n      list_method: FETCH\n", "list_method: 'FETCH' is not one of"),
        ("      list_url: http://h/x\n      records_pointer: data\n", "records_pointer must be a JSON pointer"),
        ("      list_url: http://h/x?a=1\n", "create.url is required because list_url has a query string"),
        ("      list_url: http://h/x\n      update: {url: http://h/y}\n", "update.url must contain {id}"),
        ("      list_url: http://h/x\n      delete: {verb: DELETE}\n", "delete.verb is not an option"),
        ("      list_url: http://h/x\n      create: yes please\n", "create must be a map {method, url} or false"),
        ("      list_url: http://h/x\n      field_map: {a: n, b: n}\n", "field_map maps two backend fields to 'n'"),
        ("      list_url: http://h/x\n      timeout_secs: 0\n", "timeout_secs must be a number of seconds above 0"),
        (
            "      list_url: http://h/x\n      auth_header: Authorization\n",
            "auth_header and auth_secret_env go together",
        ),
        (
            "      list_url: http://h/x\n      auth_header: Authorization\n      auth_secret_env: NOT_SET_ANYWHERE\n",
            "auth_secret_env: the environment variable NOT_SET_ANYWHERE is not set",
        ),
        (
            "      list_url: http://h/x\n      auth_header: \"Bad Header\"\n      auth_secret_env: ITEMS_TOKEN\n",
            "auth_header: 'Bad Header' is not a valid header name",
        ),
    ];
    for (options, expected) in cases {
        let err = build_with(options, "").err().unwrap_or_else(|| panic!("accepted:\n{options}"));
        let message = err.message();
        assert!(message.starts_with("source Thing: adapter_options: "), "{message}");
        assert!(message.contains(expected), "options:\n{options}\nmessage: {message}\nexpected: {expected}");
        assert!(!message.contains(SECRET));
    }
}

#[test]
fn the_factory_reports_option_errors() {
    let settings = settings(":test:\n  :plugin_timeout: 5\n:sources:\n  Thing:\n    adapter: rest\n");
    let err = factory::build(settings.source("Thing").unwrap(), &deps(&settings)).err().unwrap();
    assert_eq!(err, AdapterError::Backend("source Thing: adapter_options: list_url is required".into()));
}
