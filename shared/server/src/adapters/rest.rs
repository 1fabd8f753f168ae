//! The `rest` adapter: a plain JSON REST backend described in the settings file, no code.
//!
//! A query is one call to `list_url`; the records are found at `records_pointer` (an array
//! of objects carrying `id_field`, or an object keyed by id), renamed through `field_map`
//! and handed to the engine, which normalises the values. Each device write is exactly one
//! call: create to `create.url` (the new id read at `create.id_pointer` of the reply),
//! update and delete to a URL with `{id}`. Failures carry the same device-facing messages
//! as the plugin adapter (docs/adapters.md §4.1). The option reference is in
//! `adapters/README.md`; validation lives in [`options`].

mod options;
mod template;

use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, Url};
use serde_json::{Map, Value};

use super::deps::AdapterDeps;
use super::http_backend::{self, json_request};
use super::{AdapterCtx, AdapterError, RawAttrs, RawObjects, SourceAdapter};
use crate::config::SourceConfig;
pub use options::RestOptions;
use template::{UrlTemplate, Vars};

/// Prefix of every message about a list reply the adapter cannot use.
pub const INVALID_QUERY_RESPONSE: &str = "Invalid query response";

/// The adapter of one `rest` source.
#[derive(Clone)]
pub struct RestAdapter {
    http: reqwest::Client,
    options: RestOptions,
}

impl RestAdapter {
    /// Validates `source.adapter_options`; secrets come from the process environment.
    pub fn new(source: &SourceConfig, deps: &AdapterDeps) -> Result<Self, AdapterError> {
        Self::with_env(source, deps, &|name| std::env::var(name).ok())
    }

    /// As [`RestAdapter::new`], reading `auth_secret_env` through `env`.
    pub fn with_env(
        source: &SourceConfig,
        deps: &AdapterDeps,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, AdapterError> {
        let default_timeout = Duration::from_secs(deps.app.plugin_timeout.max(1));
        let options = RestOptions::parse(source, default_timeout, env)
            .map_err(|message| AdapterError::Backend(format!("source {}: adapter_options: {message}", source.name)))?;
        Ok(Self { http: deps.http.clone(), options })
    }

    fn url(template: &UrlTemplate, ctx: &AdapterCtx, id: Option<&str>) -> Result<Url, AdapterError> {
        let vars = Vars { id, login: &ctx.login, partition: &ctx.partition, source: &ctx.source.name };
        template.expand(&vars).map_err(AdapterError::Backend)
    }

    async fn call(
        &self,
        ctx: &AdapterCtx,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<http_backend::Reply, AdapterError> {
        let request = json_request(&self.http, method, url, body);
        let mut request = http_backend::with_idempotency_key(request, ctx.idempotency_key.as_deref());
        if let Some((name, value)) = &self.options.auth {
            request = request.header(name, value);
        }
        http_backend::send(request, self.options.timeout).await
    }

    fn refused(ctx: &AdapterCtx, op: &str) -> AdapterError {
        AdapterError::Backend(format!("Source {} does not support {op}", ctx.source.name))
    }

    /// The object id of an update/delete (the engine always adds `"id"`).
    fn object_id(attrs: &RawAttrs) -> Result<String, AdapterError> {
        attrs.get("id").and_then(id_text).ok_or_else(|| AdapterError::Backend("Missing object id".into()))
    }

    /// Backend record → device attributes: `id_field` dropped (it is the key), names
    /// renamed through `field_map`, unmapped names kept unless `drop_unmapped`.
    fn to_device(&self, record: &Map<String, Value>) -> Map<String, Value> {
        let mut attrs = Map::new();
        for (name, value) in record {
            if *name == self.options.id_field {
                continue;
            }
            match self.options.field_map.iter().find(|(backend, _)| backend == name) {
                Some((_, device)) => {
                    attrs.insert(device.clone(), value.clone());
                }
                None if self.options.drop_unmapped => {}
                None => {
                    attrs.insert(name.clone(), value.clone());
                }
            }
        }
        attrs
    }

    /// Device attributes → backend body: the reverse renaming, `"id"` left out (it is in
    /// the URL or assigned by the backend).
    fn to_backend(&self, attrs: &RawAttrs) -> Value {
        let mut body = Map::new();
        for (name, value) in attrs {
            if name == "id" {
                continue;
            }
            match self.options.field_map.iter().find(|(_, device)| device == name) {
                Some((backend, _)) => {
                    body.insert(backend.clone(), value.clone());
                }
                None if self.options.drop_unmapped => {}
                None => {
                    body.insert(name.clone(), value.clone());
                }
            }
        }
        Value::Object(body)
    }

    /// The records of a list reply (see the module docs), as `query` returns them. Public
    /// for the fuzz target (docs/fuzzing.md).
    pub fn records(&self, body: &str) -> Result<RawObjects, AdapterError> {
        let invalid = |detail: String| AdapterError::Backend(format!("{INVALID_QUERY_RESPONSE}: {detail}"));
        let document: Value =
            serde_json::from_str(body).map_err(|err| invalid(format!("the body is not JSON ({err})")))?;
        let pointer = &self.options.records_pointer;
        let found = document.pointer(pointer).ok_or_else(|| invalid(format!("nothing at {pointer}")))?;
        let id_field = &self.options.id_field;
        let mut objects = RawObjects::new();
        match found {
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    let record = item.as_object().ok_or_else(|| invalid(format!("record {index} is not an object")))?;
                    let id = record
                        .get(id_field)
                        .and_then(id_text)
                        .ok_or_else(|| invalid(format!("record {index} has no usable '{id_field}'")))?;
                    objects.insert(id, Value::Object(self.to_device(record)));
                }
            }
            Value::Object(map) => {
                for (id, item) in map {
                    let record = item.as_object().ok_or_else(|| invalid(format!("record '{id}' is not an object")))?;
                    objects.insert(id.clone(), Value::Object(self.to_device(record)));
                }
            }
            Value::Null => {}
            _ => return Err(invalid(format!("{pointer} is neither a list nor an object of records"))),
        }
        Ok(objects)
    }

    /// The new id in a create reply; `None` when the backend did not say. Not an error:
    /// the backend has stored the object, and failing would make the device keep (and
    /// maybe resend) it. Without an id the device drops its temporary copy and the next
    /// query brings the object back (docs/sync-engine.md §6.4).
    /// Public for the fuzz target (docs/fuzzing.md).
    pub fn created_id(&self, body: &str) -> Option<String> {
        if body.trim().is_empty() {
            return None;
        }
        let id = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|reply| reply.pointer(&self.options.create_id_pointer).and_then(id_text));
        if id.is_none() {
            tracing::warn!(
                pointer = %self.options.create_id_pointer,
                "rest adapter: the create reply carries no id at the configured pointer"
            );
        }
        id
    }
}

/// An id as text: strings as they are, numbers in decimal; nothing else is an id.
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[async_trait]
impl SourceAdapter for RestAdapter {
    /// The device's `query` parameter is not forwarded: the list URL is fixed.
    async fn query(&self, ctx: &AdapterCtx, _params: Option<&Value>) -> Result<RawObjects, AdapterError> {
        let url = Self::url(&self.options.list_url, ctx, None)?;
        let body = (self.options.list_method != Method::GET).then(|| Value::Object(Map::new()));
        let reply = self.call(ctx, self.options.list_method.clone(), url, body.as_ref()).await?;
        self.records(&reply.body)
    }

    async fn create(&self, ctx: &AdapterCtx, attrs: &mut RawAttrs) -> Result<Option<String>, AdapterError> {
        let op = self.options.create.as_ref().ok_or_else(|| Self::refused(ctx, "create"))?;
        let url = Self::url(&op.url, ctx, None)?;
        let reply = self.call(ctx, op.method.clone(), url, Some(&self.to_backend(attrs))).await?;
        Ok(self.created_id(&reply.body))
    }

    async fn update(&self, ctx: &AdapterCtx, attrs: &RawAttrs) -> Result<(), AdapterError> {
        let op = self.options.update.as_ref().ok_or_else(|| Self::refused(ctx, "update"))?;
        let id = Self::object_id(attrs)?;
        let url = Self::url(&op.url, ctx, Some(&id))?;
        self.call(ctx, op.method.clone(), url, Some(&self.to_backend(attrs))).await?;
        Ok(())
    }

    async fn delete(&self, ctx: &AdapterCtx, attrs: &RawAttrs) -> Result<(), AdapterError> {
        let op = self.options.delete.as_ref().ok_or_else(|| Self::refused(ctx, "delete"))?;
        let id = Self::object_id(attrs)?;
        let url = Self::url(&op.url, ctx, Some(&id))?;
        self.call(ctx, op.method.clone(), url, None).await?;
        Ok(())
    }
}
