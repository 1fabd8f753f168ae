//! What a REST backend answers (`rhosync_server::adapters::rest::RestAdapter`): list replies
//! decoded into records at `records_pointer` and renamed through `field_map`, and the new id
//! read from a create reply, under three option sets. A reply decodes or is refused with
//! "Invalid query response: …"; never a panic.
//!
//! Input layout: one byte (bit 0: 0 list, 1 create; the rest modulo 3 picks the source),
//! then the body (lossy UTF-8, as the HTTP client reads it).
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use rhosync_server::adapters::deps::AdapterDeps;
use rhosync_server::adapters::http_backend;
use rhosync_server::adapters::rest::{RestAdapter, INVALID_QUERY_RESPONSE};
use rhosync_server::config::Settings;
use rhosync_server::registry::MemoryRegistry;

/// `Item`: records in a list at a pointer, renamed fields, the id at a pointer of the create
/// reply; `Plain`: every default; `Strict`: only mapped fields kept.
const SETTINGS: &str = r#"
:test:
  :plugin_timeout: 5
:sources:
  Item:
    adapter: rest
    url: http://127.0.0.1:9/api/
    adapter_options:
      list_url: /users/{login}/items
      records_pointer: /data/items
      id_field: itemId
      create: {url: /items, id_pointer: /data/itemId}
      field_map: {itemName: name, qty: quantity}
  Plain:
    adapter: rest
    url: http://127.0.0.1:9/
    adapter_options:
      list_url: /things
      create: {url: /things}
  Strict:
    adapter: rest
    url: http://127.0.0.1:9/
    adapter_options:
      list_url: /things
      id_field: key
      create: {url: /things, id_pointer: /0/key}
      field_map: {title: name}
      drop_unmapped: true
"#;

/// (adapter, id field, device names kept when unmapped names are dropped)
struct Source {
    adapter: RestAdapter,
    id_field: &'static str,
    only: Option<&'static [&'static str]>,
}

fn sources() -> &'static [Source; 3] {
    static SOURCES: OnceLock<[Source; 3]> = OnceLock::new();
    SOURCES.get_or_init(|| {
        let settings = Settings::parse(SETTINGS, "test").expect("the target's settings parse");
        let deps = AdapterDeps {
            http: http_backend::client(Duration::from_secs(5)).expect("an HTTP client"),
            registry: Arc::new(MemoryRegistry::new()),
            app: Arc::new(settings.app.clone()),
            app_server: None,
        };
        let build = |name: &str| {
            let source = settings.source(name).expect("the source is configured");
            RestAdapter::with_env(source, &deps, &|_| None).expect("the target's options are valid")
        };
        [
            Source { adapter: build("Item"), id_field: "itemId", only: None },
            Source { adapter: build("Plain"), id_field: "id", only: None },
            Source { adapter: build("Strict"), id_field: "key", only: Some(&["name"]) },
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let source = &sources()[usize::from(mode >> 1) % 3];
    let body = String::from_utf8_lossy(rest);
    if mode & 1 == 1 {
        if let Some(id) = source.adapter.created_id(&body) {
            assert!(!id.is_empty());
        }
        return;
    }
    match source.adapter.records(&body) {
        Ok(objects) => {
            for (id, attrs) in &objects {
                let attrs = attrs.as_object().expect("every record is an attribute map");
                assert!(!attrs.contains_key(source.id_field), "record {id} kept its id field");
                if let Some(only) = source.only {
                    assert!(attrs.keys().all(|name| only.contains(&name.as_str())), "record {id}: {attrs:?}");
                }
            }
        }
        Err(err) => {
            let message = err.message();
            assert!(message.starts_with(INVALID_QUERY_RESPONSE), "{message}");
        }
    }
});
