//! Effective source settings: the settings file, plus sources created on demand by plugin
//! traffic, plus the overrides written by `PUT /rc/v1/sources/{id}` and by the read-state
//! route's `poll_interval` (docs/rest-api.md §7, §5.6). Overrides live in the registry
//! (DynamoDB), so every function instance sees them and a Redis flush keeps them; a
//! `system/reset` clears them with the rest of the registry. The poll interval alone stays
//! in the cache, where the sync engine reads it (see [`set_poll_interval`]).
//!
//! [`SourceView`] is what the REST API shows (the 21 fields of docs/rest-api.md §7.2);
//! [`SourceView::config`] is the typed [`SourceConfig`] the sync engine should use.

use serde_json::{json, Value};

pub use super::effective::{effective, OVERRIDES_TTL_SECS};
use super::SyncServices;
use crate::config::{PartitionType, Settings, SourceConfig, SyncType};
use crate::registry::{RegistryError, SourceOverrides};
use crate::store::{keys, StoreError};

/// A failure reading or writing source settings.
#[derive(Debug, thiserror::Error)]
pub enum SourcesError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Cache(#[from] StoreError),
    /// A value the settings file would refuse; nothing was written.
    #[error("{0}")]
    Invalid(String),
}

/// String fields of a source record, in the display order of docs/rest-api.md §7.2.
pub const STRING_FIELDS: [&str; 16] = [
    "id",
    "rho__id",
    "name",
    "url",
    "login",
    "password",
    "callback_url",
    "partition_type",
    "sync_type",
    "queue",
    "query_queue",
    "cud_queue",
    "belongs_to",
    "has_many",
    "pass_through",
    "push_notify",
];

/// Integer fields, in display order (shown after the string fields).
pub const INTEGER_FIELDS: [&str; 5] = ["source_id", "priority", "retry_limit", "simulate_time", "poll_interval"];

/// Fields `PUT /rc/v1/sources/{id}` may write: rows 4–21 except the computed `has_many`.
pub fn is_writable(field: &str) -> bool {
    !matches!(field, "id" | "rho__id" | "name" | "has_many")
        && (STRING_FIELDS.contains(&field) || INTEGER_FIELDS.contains(&field))
}

/// One source as the REST API shows it.
#[derive(Debug, Clone)]
pub struct SourceView {
    /// Settings with the overrides applied.
    pub config: SourceConfig,
    pub overrides: SourceOverrides,
}

impl SourceView {
    fn new(settings: &Settings, name: &str, overrides: SourceOverrides) -> Self {
        Self { config: effective(settings, name, &overrides), overrides }
    }

    /// The displayed value of one field (`has_many` needs every source, see [`has_many`]).
    pub fn field(&self, name: &str) -> Value {
        if let Some(v) = self.overrides.get(name) {
            return v.clone();
        }
        let c = &self.config;
        match name {
            "id" | "rho__id" | "name" => json!(c.name),
            "url" => json!(c.url),
            "login" => json!(c.login),
            "password" => json!(c.password),
            "partition_type" => json!(match c.partition_type {
                PartitionType::User => "user",
                PartitionType::App => "app",
            }),
            "sync_type" => json!(match c.sync_type {
                SyncType::Incremental => "incremental",
                SyncType::BulkOnly => "bulk_sync_only",
            }),
            "belongs_to" if !c.belongs_to.is_empty() => {
                let list: Vec<Value> = c.belongs_to.iter().map(|(attr, target)| json!({ attr: target })).collect();
                json!(Value::Array(list).to_string())
            }
            "pass_through" if c.pass_through => json!("true"),
            "push_notify" => json!(c.push_notify.to_string()),
            "priority" => json!(c.priority),
            "retry_limit" => json!(c.retry_limit),
            "simulate_time" => json!(c.simulate_time),
            "poll_interval" => json!(c.poll_interval),
            _ => Value::Null,
        }
    }
}

/// Ruby `to_i` of a JSON value: leading integer part, anything else 0.
pub fn to_i(value: &Value) -> i64 {
    rhosync_engine::params::lenient_int(Some(value))
}

/// The source named `name` (case-sensitive), if the settings or the registry know it.
pub async fn find(svc: &SyncServices, name: &str) -> Result<Option<SourceView>, SourcesError> {
    let overrides = svc.registry().source_overrides(name).await?;
    let known = svc.settings.source(name).is_some();
    let mut view = match overrides {
        None if !known => return Ok(None),
        overrides => SourceView::new(&svc.settings, name, overrides.unwrap_or_default()),
    };
    if let Some(seconds) = poll_interval_override(svc, name).await? {
        view.config.poll_interval = seconds;
        view.overrides.insert("poll_interval".into(), json!(seconds));
    }
    Ok(Some(view))
}

/// The source, registering it with the settings' defaults if it is unknown (plugin sources
/// are created on demand, docs/rest-api.md §8).
pub async fn ensure(svc: &SyncServices, name: &str) -> Result<SourceView, SourcesError> {
    if let Some(view) = find(svc, name).await? {
        return Ok(view);
    }
    svc.registry().put_source_overrides(name, &SourceOverrides::new()).await?;
    Ok(SourceView::new(&svc.settings, name, SourceOverrides::new()))
}

/// Every source of the app, ordered by priority, then name (docs/rest-api.md §7.1).
pub async fn all(svc: &SyncServices) -> Result<Vec<SourceView>, SourcesError> {
    let mut names: Vec<String> = svc.settings.sources.iter().map(|s| s.name.clone()).collect();
    for name in svc.registry().registered_sources().await? {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let mut views = Vec::with_capacity(names.len());
    for name in names {
        if let Some(view) = find(svc, &name).await? {
            views.push(view);
        }
    }
    views.sort_by(|a, b| (a.config.priority, &a.config.name).cmp(&(b.config.priority, &b.config.name)));
    Ok(views)
}

/// `has_many` of `name`: `"<source>,<attribute>"` for every source whose `belongs_to`
/// points at it, comma-joined; `None` when nothing does.
pub fn has_many(all: &[SourceView], name: &str) -> Option<String> {
    let parts: Vec<String> = all
        .iter()
        .flat_map(|v| {
            v.config
                .belongs_to
                .iter()
                .filter(|(_, target)| target == name)
                .map(move |(attr, _)| format!("{},{attr}", v.config.name))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(","))
}

/// Writes overrides; integer fields are stored as Ruby `to_i` of the value. Fields must
/// have been checked with [`is_writable`]. The result is read by the settings parser first:
/// a value the settings file would refuse (`partition_type: foo`) fails with
/// [`SourcesError::Invalid`] and nothing is written. `poll_interval` goes to the cache
/// (see [`set_poll_interval`]), everything else to the registry; the sync services of this
/// instance see the change at once, other instances within [`OVERRIDES_TTL_SECS`].
pub async fn write_fields(svc: &SyncServices, name: &str, fields: &[(String, Value)]) -> Result<(), SourcesError> {
    let mut overrides = svc.registry().source_overrides(name).await?.unwrap_or_default();
    let mut poll = None;
    for (field, value) in fields {
        if field == "poll_interval" {
            poll = Some(to_i(value));
            continue;
        }
        let stored = if INTEGER_FIELDS.contains(&field.as_str()) && !value.is_null() {
            json!(to_i(value))
        } else {
            match value {
                Value::Null | Value::String(_) => value.clone(),
                other => json!(other.to_string()),
            }
        };
        overrides.insert(field.clone(), stored);
    }
    svc.settings.source_with(name, &overrides).map_err(|e| SourcesError::Invalid(e.to_string()))?;
    if let Some(seconds) = poll {
        set_poll_interval(svc, name, seconds).await?;
    }
    svc.registry().put_source_overrides(name, &overrides).await?;
    svc.forget_source(name);
    Ok(())
}

/// The poll interval is the one field kept in the cache, as RhoConnect kept it
/// (`source:<name>:poll_interval`, docs/rest-api.md §7.2), at the key the sync engine reads
/// ([`crate::store::keys::poll_interval`]); a reset drops it with the rest of the cache.
pub async fn poll_interval_override(svc: &SyncServices, name: &str) -> Result<Option<i64>, SourcesError> {
    let store = &svc.store;
    let value = store.get(&keys::poll_interval(store.keys(), name)).await?;
    Ok(value.and_then(|v| v.trim().parse().ok()))
}

/// Sets the global poll interval of a source (R3 and the read state's `poll_interval`).
pub async fn set_poll_interval(svc: &SyncServices, name: &str, seconds: i64) -> Result<(), SourcesError> {
    let store = &svc.store;
    Ok(store.set(&keys::poll_interval(store.keys(), name), Some(&seconds.to_string()), None).await?)
}
