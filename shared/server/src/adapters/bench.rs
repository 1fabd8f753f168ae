//! The RhoConnect bench adapters (docs/rest-api.md §13): `MockAdapter` of the bench app and
//! the predefined `RhoInternalBenchmarkAdapter`. Both keep their "backend" in a scratch
//! document `test_db_storage:application:<name>` that the bench writes through the store
//! API; create files the object under its `mock_id`, update merges attributes into an
//! existing object, delete removes it. A backend document that is not an object map is
//! a query error; `adapter_options.partitions` maps logins to custom partition keys.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};

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

    async fn load(&self, ctx: &AdapterCtx) -> Result<Map<String, Value>, AdapterError> {
        let name = self.db_name(ctx);
        match ctx.scratch.get(&name).await? {
            Some(Value::Object(m)) => Ok(m),
            None | Some(Value::Null) => Ok(Map::new()),
            // What RhoConnect's mock would raise on: the backend is not an object map.
            Some(_) => Err(AdapterError::Backend(format!("{name} is not an object map"))),
        }
    }

    async fn save(&self, ctx: &AdapterCtx, data: Map<String, Value>) -> Result<(), AdapterError> {
        ctx.scratch.set(&self.db_name(ctx), Value::Object(data)).await
    }
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
        if self.flavor == BenchFlavor::Benchmark && ctx.source.simulate_time > 0 {
            tokio::time::sleep(Duration::from_secs(ctx.source.simulate_time as u64)).await;
        }
        self.load(ctx).await
    }

    async fn create(&self, ctx: &AdapterCtx, attrs: &mut RawAttrs) -> Result<Option<String>, AdapterError> {
        let id = match attrs.get("mock_id") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Ok(None),
        };
        let mut data = self.load(ctx).await?;
        data.insert(id.clone(), Value::Object(attrs.clone()));
        self.save(ctx, data).await?;
        Ok(Some(id))
    }

    async fn update(&self, ctx: &AdapterCtx, attrs: &RawAttrs) -> Result<(), AdapterError> {
        let Some(id) = id_of(attrs) else { return Ok(()) };
        let mut data = self.load(ctx).await?;
        let Some(Value::Object(existing)) = data.get_mut(&id) else { return Ok(()) };
        for (k, v) in attrs.iter().filter(|(k, _)| k.as_str() != "id") {
            existing.insert(k.clone(), v.clone());
        }
        self.save(ctx, data).await
    }

    async fn delete(&self, ctx: &AdapterCtx, attrs: &RawAttrs) -> Result<(), AdapterError> {
        let Some(id) = id_of(attrs) else { return Ok(()) };
        let mut data = self.load(ctx).await?;
        if data.remove(&id).is_some() {
            self.save(ctx, data).await?;
        }
        Ok(())
    }
}
