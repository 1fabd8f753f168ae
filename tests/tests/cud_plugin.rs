//! Client writes and device login against a real plugin-contract backend, through the sync
//! routes of both families, the adapter queue and the adapter worker of the in-process
//! runner (docs/sync-engine.md §6, docs/adapters.md §4.2–4.4): one backend call per write, links
//! and errors in the device's next page, login renaming and refusals, a failed query
//! leaving the data alone, and queued refreshes.

mod cud_support;
mod sync_support;

use cud_support::PluginBackend;
use serde_json::{json, Value};
use sync_support::{Device, World};

fn settings(appserver: &str) -> String {
    format!(
        "\
:development:
  :poll_interval_default: 300
  :plugin_timeout: 3
  :appserver: {appserver}
:sources:
  Contact:
    adapter: plugin
    poll_interval: 300
    cud_queue: true
  Queued:
    adapter: plugin
    poll_interval: 300
    query_queue: true
    cud_queue: true
"
    )
}

/// Syncs `source` to the end and merges the commands of the pages.
async fn next_commands(d: &mut Device, source: &str) -> Value {
    let mut merged = serde_json::Map::new();
    for page in d.sync_all(source, 100).await {
        if let Value::Object(cmd) = page.command() {
            for (k, v) in cmd {
                match (merged.get_mut(&k), v) {
                    (Some(Value::Object(have)), Value::Object(more)) => have.extend(more),
                    (_, v) => {
                        merged.insert(k, v);
                    }
                }
            }
        }
    }
    Value::Object(merged)
}

#[tokio::test]
async fn writes_of_both_route_families_reach_the_plugin_backend_once_each() {
    let backend = PluginBackend::start().await;
    backend.set_objects("ann", json!({"1": {"name": "Alpha"}}));
    let w = World::new("cudplug", &settings(&backend.base)).await;
    let mut d = w.device_with_password("ann", "secret").await;
    assert_eq!(next_commands(&mut d, "Contact").await["insert"], json!({"1": {"name": "Alpha"}}));

    // Create (v1 route): one backend call, the link in the next page.
    let r = d.cud("Contact", json!({"create": {"tmp-1": {"name": "Beta"}}})).await;
    assert_eq!((r.status, r.text.as_str()), (200, ""));
    w.settle_writes().await;
    let creates = backend.calls("create");
    assert_eq!(creates.len(), 1, "{creates:?}");
    assert_eq!(creates[0].body["attributes"], json!({"name": "Beta"}));
    assert_eq!(creates[0].body["partition"], "ann");
    let first_key = creates[0].idempotency_key.clone().expect("writes carry Idempotency-Key");
    let cmd = next_commands(&mut d, "Contact").await;
    assert_eq!(cmd["links"], json!({"tmp-1": {"l": "101"}}), "{cmd}");
    assert!(cmd.get("insert").is_none(), "the created object is not echoed back: {cmd}");

    // Update (PUT /app/v1/{source}/{id}) and update (legacy POST /application).
    let req = d
        .http
        .put(format!("{}/app/v1/Contact/101", d.base))
        .header("X-RhoConnect-CLIENT-ID", d.client_id.clone())
        .header("Content-Type", "application/json")
        .body(json!({"update": {"name": "Beta 2"}}).to_string());
    assert_eq!(d.send(req).await.status, 200);
    let legacy = json!({"source_name": "Contact", "client_id": d.client_id, "update": {"1": {"name": "Alpha 2"}}});
    let req = d
        .http
        .post(format!("{}/application", d.base))
        .header("Content-Type", "application/json")
        .body(legacy.to_string());
    let r = d.send(req).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.header("warning").is_some(), "legacy routes carry the Warning header");
    w.settle_writes().await;
    let updates: Vec<Value> = backend.calls("update").into_iter().map(|c| c.body["attributes"].clone()).collect();
    assert_eq!(updates.len(), 2, "{updates:?}");
    assert!(updates.contains(&json!({"name": "Beta 2", "id": "101"})), "{updates:?}");
    assert!(updates.contains(&json!({"name": "Alpha 2", "id": "1"})), "{updates:?}");

    // Delete (DELETE /app/v1/{source}/{id}): the adapter gets the attributes the server knows.
    let req =
        d.http.delete(format!("{}/app/v1/Contact/101", d.base)).header("X-RhoConnect-CLIENT-ID", d.client_id.clone());
    assert_eq!(d.send(req).await.status, 200);
    w.settle_writes().await;
    let deletes = backend.calls("delete");
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0].body["attributes"], json!({"name": "Beta", "id": "101"}));
    assert!(!backend.objects("ann").contains_key("101"));

    // A failing update: update-error and update-rollback in the next page, sent once.
    backend.fail("update", 500);
    d.cud("Contact", json!({"update": {"1": {"name": "Nope"}}})).await;
    w.settle_writes().await;
    let cmd = next_commands(&mut d, "Contact").await;
    assert_eq!(
        cmd["update-error"],
        json!({"1": {"name": "Nope"}, "1-error": {"message": "500 Internal Server Error"}}),
        "{cmd}"
    );
    assert_eq!(cmd["update-rollback"], json!({"1": {"name": "Alpha"}}), "{cmd}");
    assert!(next_commands(&mut d, "Contact").await.get("update-error").is_none(), "errors are sent once");

    // Exactly one backend call per write, each with its own key.
    assert_eq!(
        (backend.calls("create").len(), backend.calls("update").len(), backend.calls("delete").len()),
        (1, 3, 1)
    );
    let keys: Vec<String> = ["create", "update", "delete"]
        .iter()
        .flat_map(|c| backend.calls(c))
        .filter_map(|c| c.idempotency_key)
        .collect();
    assert_eq!(keys.len(), 5);
    assert!(keys.iter().filter(|k| **k == first_key).count() == 1);
}

#[tokio::test]
async fn device_login_goes_to_the_backend_with_renaming_and_the_spec_statuses() {
    let backend = PluginBackend::start().await;
    backend.rename("newuser", "different");
    backend.set_objects("different", json!({"7": {"name": "Mapped"}}));
    let w = World::new("cudlogin", &settings(&backend.base)).await;

    let mut d = w.device_with_password("newuser", "whatever").await;
    assert!(w.env.state.registry().user("different").await.expect("registry").is_some(), "renamed user created");
    assert_eq!(next_commands(&mut d, "Contact").await["insert"], json!({"7": {"name": "Mapped"}}));
    assert_eq!(backend.calls("query")[0].body["partition"], "different");
    d.cud("Contact", json!({"create": {"t": {"name": "N"}}})).await;
    w.settle_writes().await;
    assert_eq!(backend.calls("create")[0].body["partition"], "different", "writes act for the mapped user");

    let mut anon = Device { http: w.http.clone(), base: w.runner.base_url(), cookie: None, client_id: String::new() };
    let r = anon.post_json("/rc/v1/app/login", json!({"login": "bad", "password": "wrong"})).await;
    assert_eq!((r.status, r.text.as_str()), (401, "Unable to authenticate 'bad'"));
    backend.fail("authenticate", 500);
    let r = anon.post_json("/application/clientlogin", json!({"login": "ann", "password": "secret"})).await;
    assert_eq!((r.status, r.text.as_str()), (500, "500 Internal Server Error"));

    // The URL set at run time (cache key appserver_url) wins over the setting.
    let other = PluginBackend::start().await;
    rhosync_server::registry::cache::set_appserver_url(&*w.env.state.sync.store, Some(&other.base))
        .await
        .expect("set url");
    let r = anon.post_json("/rc/v1/app/login", json!({"login": "zoe", "password": "secret"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(other.calls("authenticate").len(), 1);
}

#[tokio::test]
async fn a_failed_query_leaves_the_data_and_a_queued_refresh_replaces_it() {
    let backend = PluginBackend::start().await;
    backend.set_objects("ann", json!({"1": {"name": "Alpha"}}));
    let w = World::new("cudquery", &settings(&backend.base)).await;
    let mut d = w.device_with_password("ann", "secret").await;
    next_commands(&mut d, "Contact").await;

    backend.fail("query", 502);
    w.force_refresh("ann", "Contact").await;
    let page = d.query("Contact", "").await;
    let cmd = page.command();
    assert_eq!(cmd["source-error"], json!({"query-error": {"message": "502 Bad Gateway"}}), "{cmd}");
    assert!(cmd.get("delete").is_none(), "md unchanged: {cmd}");
    assert_eq!(page.total(), 1);
    backend.heal("query");

    // Queued refresh: the first page is served from the (empty) cache, the worker then
    // replaces the md, and the next page carries the backend's data.
    let first = d.query("Queued", "").await;
    assert_eq!(first.status, 200);
    assert!(first.command().get("insert").is_none(), "{}", first.text);
    w.settle_writes().await;
    assert_eq!(backend.calls("query").iter().filter(|c| c.body["resource"] == "Queued").count(), 1);
    assert_eq!(next_commands(&mut d, "Queued").await["insert"], json!({"1": {"name": "Alpha"}}));
}
