//! Source settings written through `PUT /rc/v1/sources/{id}` take effect on the paths that
//! read them, on this instance at once and on others within the overrides' cache time; a
//! value the settings file would refuse is refused and writes nothing.

mod cud_support;
mod sync_support;

use cud_support::PluginBackend;
use rhosync_server::sync::sources::OVERRIDES_TTL_SECS;
use serde_json::{json, Value};
use sync_support::World;

fn settings(appserver: &str) -> String {
    format!(
        "\
:development:
  :poll_interval_default: 300
  :plugin_timeout: 5
  :appserver: {appserver}
:sources:
  Contact:
    adapter: plugin
    cud_queue: true
"
    )
}

async fn field(w: &World, name: &str) -> Value {
    let (status, body) = w.admin("GET", "/rc/v1/sources/Contact", None).await;
    assert_eq!(status, 200, "{body}");
    let fields: Vec<Value> = serde_json::from_str(&body).expect("field list");
    fields.into_iter().find(|f| f["name"] == name).map(|f| f["value"].clone()).unwrap_or(Value::Null)
}

#[tokio::test]
async fn source_settings_written_through_the_api_take_effect() {
    let backend = PluginBackend::start().await;
    // No adapter worker runs: a queued write stays on the queue, an inline one reaches the
    // backend inside the request.
    let w = World::http_only("srcsettings", &settings(&backend.base)).await;
    let mut d = w.device_with_password("ann", "secret").await;
    assert_eq!(d.cud("Contact", json!({"create": {"a": {"name": "A"}}})).await.status, 200);
    assert_eq!(backend.calls("create").len(), 0, "queued, as the file says");

    let (status, body) = w.admin("PUT", "/rc/v1/sources/Contact", Some(json!({"data": {"cud_queue": "false"}}))).await;
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(d.cud("Contact", json!({"create": {"b": {"name": "B"}}})).await.status, 200);
    assert_eq!(backend.calls("create").len(), 1, "inline from the next request on");
    assert_eq!(d.query("Contact", "").await.command()["links"]["b"], json!({"l": "101"}));

    // A value the settings file would refuse: 400 with the parser's message, nothing written.
    let (status, body) = w
        .admin("PUT", "/rc/v1/sources/Contact", Some(json!({"data": {"retry_limit": 4, "partition_type": "galaxy"}})))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("partition_type must be user or app"), "{body}");
    assert_eq!(field(&w, "partition_type").await, json!("user"));
    assert_eq!(field(&w, "retry_limit").await, json!(0));
    assert_eq!(field(&w, "cud_queue").await, json!("false"));

    // Another instance's write (straight to the registry): this instance keeps what it read
    // for OVERRIDES_TTL_SECS, then acts on the new value.
    let mut overrides = serde_json::Map::new();
    overrides.insert("cud_queue".into(), json!("true"));
    w.env.state.registry().put_source_overrides("Contact", &overrides).await.expect("registry");
    assert_eq!(d.cud("Contact", json!({"create": {"c": {"name": "C"}}})).await.status, 200);
    assert_eq!(backend.calls("create").len(), 2, "still inline while the read is fresh");
    w.clock.advance_secs(OVERRIDES_TTL_SECS);
    assert_eq!(d.cud("Contact", json!({"create": {"e": {"name": "E"}}})).await.status, 200);
    assert_eq!(backend.calls("create").len(), 2, "queued again once the cached read expired");
}

/// A system reset clears the overrides with the registry; the instance that ran it acts on
/// the settings file again at once.
#[tokio::test]
async fn a_system_reset_drops_the_overrides() {
    let backend = PluginBackend::start().await;
    let w = World::http_only("srcreset", &settings(&backend.base)).await;
    let (status, _) = w.admin("PUT", "/rc/v1/sources/Contact", Some(json!({"data": {"cud_queue": "false"}}))).await;
    assert_eq!(status, 200);
    let mut d = w.device_with_password("ann", "secret").await;
    assert_eq!(d.cud("Contact", json!({"create": {"a": {"name": "A"}}})).await.status, 200);
    assert_eq!(backend.calls("create").len(), 1, "inline while overridden");
    let (status, body) = w.admin("POST", "/rc/v1/system/reset", None).await;
    assert_eq!((status, body.as_str()), (200, "DB reset"));
    assert_eq!(field(&w, "cud_queue").await, Value::Null);
    // The reset voided the sessions: a new login, then a write is queued as the file says.
    let mut d = w.device_with_password("ann", "secret").await;
    assert_eq!(d.cud("Contact", json!({"create": {"b": {"name": "B"}}})).await.status, 200);
    assert_eq!(backend.calls("create").len(), 1, "queued again after the reset");
}
