//! The RhoConnect bench adapters (docs/rest-api.md §13): `MockAdapter` of the bench app and
//! the predefined `RhoInternalBenchmarkAdapter`. Both keep their "backend" in a scratch
//! document `test_db_storage:application:<name>` that the bench writes through the store
//! API; create files the object under its `mock_id`, update merges attributes into an
//! existing object, delete removes it — each a compare-and-set of the whole document, so
//! simultaneous writes all land. A backend document that is not an object map is
//! a query error; `adapter_options.partitions` maps logins to custom partition keys.

use std::time::Duration;

use async_trait::async_trait;
use rhosync_engine::values::{bodies_from_json, BodyMap, JsonObjects};
use serde_json::{Map, Value};

use super::scratch_cas::change_doc;
use super::{AdapterCtx, AdapterError, RawAttrs, RawObjects, SourceAdapter};

/// Which bench adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchFlavor {
    /// `MockAdapter`: one backend document per partition user.
    Mock,
    /// `RhoInternalBenchmarkAdapter`: backend documents shared by login prefix
    /// (`nq…` → `nquser`, `mq…` → `mquser`, else `benchuser`), `simulate_time` honoured.
    Benchmark,
}

/// A bench adapter over a scratch document.
pub struct BenchAdapter {
    flavor: BenchFlavor,
    /// `adapter_options.partitions`: login → partition key (a custom partition function,
    /// docs/sync-engine.md §1.2, e.g. users grouped by tenant).
    partitions: Map<String, Value>,
}

impl BenchAdapter {
    pub fn new(flavor: BenchFlavor, source: &crate::config::SourceConfig) -> Self {
        let partitions = match source.adapter_options.get("partitions") {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        Self { flavor, partitions }
    }

    fn db_name(&self, ctx: &AdapterCtx) -> String {
        let owner = match self.flavor {
            BenchFlavor::Mock => ctx.partition.clone(),
            BenchFlavor::Benchmark => match ctx.partition.get(..2) {
                Some("nq") => "nquser".to_owned(),
                Some("mq") => "mquser".to_owned(),
                _ => "benchuser".to_owned(),
            },
        };
        format!("test_db_storage:application:{owner}")
    }

    /// `RhoInternalBenchmarkAdapter` sleeps `simulate_time` seconds before a query.
    async fn simulate_time(&self, ctx: &AdapterCtx) {
        if self.flavor == BenchFlavor::Benchmark && ctx.source.simulate_time > 0 {
            tokio::time::sleep(Duration::from_secs(ctx.source.simulate_time as u64)).await;
        }
    }

    async fn load(&self, ctx: &AdapterCtx) -> Result<Map<String, Value>, AdapterError> {
        let name = self.db_name(ctx);
        object_map(&name, ctx.scratch.get(&name).await?)
    }

    /// Loads the backend document, lets `change` edit it and saves it only if nobody saved
    /// meanwhile, else starts over ([`change_doc`]): simultaneous writes of one backend all
    /// land. `change` answers whether there is anything to save.
    async fn update_doc<F>(&self, ctx: &AdapterCtx, mut change: F) -> Result<(), AdapterError>
    where
        F: FnMut(&mut Map<String, Value>) -> bool + Send,
    {
        let name = self.db_name(ctx);
        change_doc(&*ctx.scratch, &name, |value| {
            let mut data = object_map(&name, value)?;
            Ok(change(&mut data).then_some(Value::Object(data)))
        })
        .await
    }
}

/// The backend document as an object map (absent or `null`: empty).
fn object_map(name: &str, value: Option<Value>) -> Result<Map<String, Value>, AdapterError> {
    match value {
        Some(Value::Object(m)) => Ok(m),
        None | Some(Value::Null) => Ok(Map::new()),
        Some(_) => Err(not_an_object_map(name)),
    }
}

/// What RhoConnect's mock would raise on: the backend is not an object map.
fn not_an_object_map(name: &str) -> AdapterError {
    AdapterError::Backend(format!("{name} is not an object map"))
}

fn id_of(attrs: &RawAttrs) -> Option<String> {
    match attrs.get("id") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

#[async_trait]
impl SourceAdapter for BenchAdapter {
    fn partition_name(&self, login: &str) -> String {
        match self.partitions.get(login) {
            Some(Value::String(p)) => p.clone(),
            _ => login.to_owned(),
        }
    }

    async fn query(&self, ctx: &AdapterCtx, _params: Option<&Value>) -> Result<RawObjects, AdapterError> {
        self.simulate_time(ctx).await;
        self.load(ctx).await
    }

    /// The backend document's text read straight into bodies (no JSON tree of it); the same
    /// objects and the same refusal as [`BenchAdapter::load`]'s.
    async fn query_bodies(&self, ctx: &AdapterCtx, _params: Option<&Value>) -> Result<BodyMap, AdapterError> {
        self.simulate_time(ctx).await;
        let name = self.db_name(ctx);
        let Some(text) = ctx.scratch.read_text(&name).await? else { return Ok(BodyMap::new()) };
        match bodies_from_json(&text) {
            Ok(JsonObjects::Objects(bodies)) => Ok(bodies),
            Ok(JsonObjects::Null) => Ok(BodyMap::new()),
            // Text that is no JSON reads as a string document (`StoreScratch::read`).
            Ok(_) | Err(_) => Err(not_an_object_map(&name)),
        }
    }

    async fn create(&self, ctx: &AdapterCtx, attrs: &mut RawAttrs) -> Result<Option<String>, AdapterError> {
        let id = match attrs.get("mock_id") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Ok(None),
        };
        self.update_doc(ctx, |data| {
            data.insert(id.clone(), Value::Object(attrs.clone()));
            true
        })
        .await?;
        Ok(Some(id))
    }

    async fn update(&self, ctx: &AdapterCtx, attrs: &RawAttrs) -> Result<(), AdapterError> {
        let Some(id) = id_of(attrs) else { return Ok(()) };
        self.update_doc(ctx, |data| {
            let Some(Value::Object(existing)) = data.get_mut(&id) else { return false };
            for (k, v) in attrs.iter().filter(|(k, _)| k.as_str() != "id") {
                existing.insert(k.clone(), v.clone());
            }
            true
        })
        .await
    }

    async fn delete(&self, ctx: &AdapterCtx, attrs: &RawAttrs) -> Result<(), AdapterError> {
        let Some(id) = id_of(attrs) else { return Ok(()) };
        self.update_doc(ctx, |data| data.remove(&id).is_some()).await
    }
}
