//! Client writes through the `rest` adapter against a plain REST API on a local port:
//! create, update (legacy route) and delete from a device, queued and applied by the
//! adapter worker; one backend call per write, the link and a refused write's error in
//! the next page (docs/sync-engine.md §6, docs/device-protocol.md §6).

mod cud_support;
mod sync_support;

use cud_support::RestBackend;
use serde_json::json;
use sync_support::World;

fn settings(base: &str) -> String {
    format!(
        r#"
:development:
  :poll_interval_default: 300
  :device_auth: open
  :plugin_timeout: 3
:sources:
  Item:
    adapter: rest
    url: {base}
    poll_interval: 300
    cud_queue: true
    adapter_options:
      list_url: /items
      records_pointer: /items
      create: {{url: /items, id_pointer: /id}}
      update: {{method: PUT, url: "/items/{{id}}"}}
"#
    )
}

#[tokio::test]
async fn device_writes_reach_the_rest_backend_once_and_answers_reach_the_device() {
    let backend = RestBackend::start().await;
    let w = World::new("cudrest", &settings(&backend.base)).await;
    let mut d = w.device("ann").await;
    d.sync_all("Item", 100).await;

    let r = d.cud("Item", json!({"create": {"tmp-9": {"name": "Bolt", "qty": "3"}}})).await;
    assert_eq!(r.status, 200);
    w.settle_writes().await;
    let posts = backend.calls("POST /items");
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].body, json!({"name": "Bolt", "qty": "3"}));
    assert!(posts[0].idempotency_key.is_some());
    let page = d.query("Item", "").await;
    assert_eq!(page.command()["links"], json!({"tmp-9": {"l": "r1"}}), "{}", page.text);
    d.query("Item", &format!("token={}", page.token())).await;

    let body = json!({"source_name": "Item", "client_id": d.client_id, "update": {"r1": {"qty": "4"}}});
    let req = d
        .http
        .post(format!("{}/application", d.base))
        .header("Content-Type", "application/json")
        .body(body.to_string());
    assert_eq!(d.send(req).await.status, 200);
    w.settle_writes().await;
    assert_eq!(backend.calls("PUT /items/r1").len(), 1);
    assert_eq!(backend.items()["r1"]["qty"], "4");

    let req = d.http.delete(format!("{}/app/v1/Item/r1", d.base)).header("X-RhoConnect-CLIENT-ID", d.client_id.clone());
    assert_eq!(d.send(req).await.status, 200);
    w.settle_writes().await;
    assert_eq!(backend.calls("DELETE /items/r1").len(), 1);
    assert!(backend.items().is_empty());

    backend.fail("POST /items", 422);
    d.cud("Item", json!({"create": {"tmp-10": {"name": "Nut"}}})).await;
    w.settle_writes().await;
    let page = d.query("Item", "").await;
    assert_eq!(
        page.command()["create-error"],
        json!({"tmp-10": {"name": "Nut"}, "tmp-10-error": {"message": "422 Unprocessable Entity"}}),
        "{}",
        page.text
    );
    // One call per write: 2 creates (one refused), 1 update, 1 delete, plus list calls.
    let writes = backend.all_calls().into_iter().filter(|c| !c.path.starts_with("GET")).count();
    assert_eq!(writes, 4);
}
