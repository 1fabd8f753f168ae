//! Runs the adapter guide's example (`examples/inventory_adapter.rs`) against its toy
//! warehouse, so the guide's code keeps compiling and keeps doing what the guide says.

#![allow(clippy::unwrap_used)]

#[path = "../examples/inventory_adapter.rs"]
mod inventory;

use std::sync::Arc;

use serde_json::{json, Value};

use rhosync_server::adapters::AdapterError;

#[tokio::test]
async fn the_inventory_example_syncs_its_warehouse() {
    let steps = inventory::demo::run(Arc::new(inventory::NoRegistry), "secret").await.unwrap();
    let steps: Vec<Value> = steps.into_iter().map(Value::Object).collect();
    assert_eq!(
        steps,
        vec![
            json!({"A1": {"on_hand": 3, "bin": "B-7"}}),
            json!({"A1": {"on_hand": 2, "bin": null}, "C3": {"on_hand": 12, "bin": "A-1"}}),
            json!({"C3": {"on_hand": 12, "bin": "A-1"}}),
        ]
    );
}

#[tokio::test]
async fn a_refused_warehouse_login_is_a_login_error() {
    let result = inventory::demo::run(Arc::new(inventory::NoRegistry), "wrong").await;
    assert_eq!(result, Err(AdapterError::Login("warehouse refused user clerk".into())));
}
