//! The `demo` adapter: a small seeded product catalogue per partition, kept in a scratch
//! document (`demo:<source>:<partition>`) so that writes through sync persist and the
//! store API can inspect or replace it. Serves the out-of-the-box local run.

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use super::scratch_cas::change_doc;
use super::{AdapterCtx, AdapterError, RawAttrs, RawObjects, SourceAdapter};
use crate::config::SourceConfig;

pub struct DemoAdapter;

impl DemoAdapter {
    pub fn new(_source: &SourceConfig) -> Result<Self, AdapterError> {
        Ok(Self)
    }

    fn doc(ctx: &AdapterCtx) -> String {
        format!("demo:{}:{}", ctx.source.name, ctx.partition)
    }

    async fn load(ctx: &AdapterCtx) -> Result<Map<String, Value>, AdapterError> {
        match ctx.scratch.get(&Self::doc(ctx)).await? {
            Some(Value::Object(m)) => Ok(m),
            _ => {
                let seeded = seed();
                // Seeded once: a document someone wrote meanwhile is kept.
                Self::change(ctx, |_| false).await?;
                Ok(match ctx.scratch.get(&Self::doc(ctx)).await? {
                    Some(Value::Object(m)) => m,
                    _ => seeded,
                })
            }
        }
    }

    /// Changes the catalogue by compare-and-set ([`change_doc`]), seeding it first when it
    /// is missing, so that simultaneous writes all land (two creates get two ids).
    /// `change` answers whether there is anything to save.
    async fn change<F>(ctx: &AdapterCtx, mut change: F) -> Result<(), AdapterError>
    where
        F: FnMut(&mut Map<String, Value>) -> bool + Send,
    {
        change_doc(&*ctx.scratch, &Self::doc(ctx), |value| {
            let (mut data, seeded) = match value {
                Some(Value::Object(m)) => (m, false),
                _ => (seed(), true),
            };
            Ok((change(&mut data) || seeded).then_some(Value::Object(data)))
        })
        .await
    }
}

fn seed() -> Map<String, Value> {
    let items = [
        ("1", "iPhone", "Apple", "199.99"),
        ("2", "G2", "Android", "99.99"),
        ("3", "Fuze", "HTC", "299.99"),
        ("4", "Pixel", "Google", "349.99"),
        ("5", "Lumia", "Nokia", "149.99"),
    ];
    items
        .iter()
        .map(|(id, name, brand, price)| ((*id).to_owned(), json!({"name": name, "brand": brand, "price": price})))
        .collect()
}

fn id_of(attrs: &RawAttrs) -> Option<String> {
    attrs.get("id").map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))
}

#[async_trait]
impl SourceAdapter for DemoAdapter {
    async fn query(&self, ctx: &AdapterCtx, _params: Option<&Value>) -> Result<RawObjects, AdapterError> {
        Self::load(ctx).await
    }

    async fn search(&self, ctx: &AdapterCtx, params: Option<&Value>) -> Result<RawObjects, AdapterError> {
        let data = Self::load(ctx).await?;
        let Some(Value::Object(wanted)) = params else { return Ok(data) };
        Ok(data.into_iter().filter(|(_, obj)| wanted.iter().all(|(k, v)| obj.get(k) == Some(v))).collect())
    }

    async fn create(&self, ctx: &AdapterCtx, attrs: &mut RawAttrs) -> Result<Option<String>, AdapterError> {
        let mut id = String::new();
        Self::change(ctx, |data| {
            let next = data.keys().filter_map(|k| k.parse::<u64>().ok()).max().unwrap_or(0) + 1;
            id = next.to_string();
            data.insert(id.clone(), Value::Object(attrs.clone()));
            true
        })
        .await?;
        Ok(Some(id))
    }

    async fn update(&self, ctx: &AdapterCtx, attrs: &RawAttrs) -> Result<(), AdapterError> {
        let Some(id) = id_of(attrs) else { return Ok(()) };
        Self::change(ctx, |data| {
            let Some(Value::Object(obj)) = data.get_mut(&id) else { return false };
            obj.extend(attrs.iter().filter(|(k, _)| k.as_str() != "id").map(|(k, v)| (k.clone(), v.clone())));
            true
        })
        .await
    }

    async fn delete(&self, ctx: &AdapterCtx, attrs: &RawAttrs) -> Result<(), AdapterError> {
        let Some(id) = id_of(attrs) else { return Ok(()) };
        Self::change(ctx, |data| data.remove(&id).is_some()).await
    }
}
