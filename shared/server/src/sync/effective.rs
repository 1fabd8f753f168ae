//! The source settings a request acts on: the settings file's entry with the overrides
//! written through `PUT /rc/v1/sources/{id}` laid over it ([`super::sources::effective`]).
//!
//! Overrides live in the registry (DynamoDB): durable, and the same for every instance. A
//! request must not pay a registry read for them, so each instance keeps what it read for
//! [`OVERRIDES_TTL_SECS`] (by the clock port): a change takes effect at once on the instance
//! that wrote it ([`SyncServices::forget_source`]) and within that time on the others. A
//! source without overrides costs one map lookup per request once its entry is read.
//! The poll interval is not part of this: it stays in the cache, where the query route
//! reads it in its first round trip (`super::sources::set_poll_interval`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::{SourceCtx, SyncError, SyncServices};
use crate::config::{Settings, SourceConfig};
use crate::registry::SourceOverrides;

/// The settings of `name` with its overrides, read by the settings file's own parser
/// ([`Settings::source_with`]). Overrides are checked when written (`super::sources::write_fields`), so
/// this falls back to the file's settings only for a record written by an older version.
pub fn effective(settings: &Settings, name: &str, overrides: &SourceOverrides) -> SourceConfig {
    if overrides.is_empty() {
        return settings.source_or_default(name);
    }
    settings.source_with(name, overrides).unwrap_or_else(|err| {
        tracing::warn!(source = name, error = %err, "stored source settings no longer parse; using the file's");
        settings.source_or_default(name)
    })
}

/// How long an instance trusts the overrides it read, in seconds.
pub const OVERRIDES_TTL_SECS: u64 = 5;

/// Per source: when its overrides were read (clock seconds) and the context built from them.
#[derive(Default)]
pub struct EffectiveSources {
    entries: RwLock<HashMap<String, (u64, SourceCtx)>>,
}

impl EffectiveSources {
    fn fresh(&self, name: &str, now: u64) -> Option<SourceCtx> {
        let entries = self.entries.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries
            .get(name)
            .filter(|(read_at, _)| now < read_at.saturating_add(OVERRIDES_TTL_SECS))
            .map(|(_, ctx)| ctx.clone())
    }

    fn put(&self, name: &str, now: u64, ctx: SourceCtx) {
        let mut entries = self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.insert(name.to_owned(), (now, ctx));
    }

    fn forget(&self, name: Option<&str>) {
        let mut entries = self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        match name {
            Some(name) => {
                entries.remove(name);
            }
            None => entries.clear(),
        }
    }
}

impl SyncServices {
    /// The configured source `name` as a request acts on it now, or `None` when the settings
    /// file does not configure it (sources created on demand exist for the REST API only).
    pub async fn source(&self, name: &str) -> Result<Option<SourceCtx>, SyncError> {
        let Some(file) = self.source_config(name) else { return Ok(None) };
        let now = self.clock.now_secs();
        if let Some(ctx) = self.effective.fresh(name, now) {
            return Ok(Some(ctx));
        }
        let overrides = self.registry().source_overrides(name).await?.unwrap_or_default();
        let config = if overrides.is_empty() { file } else { Arc::new(effective(&self.settings, name, &overrides)) };
        let ctx = SourceCtx { config, adapter: self.adapter(name) };
        self.effective.put(name, now, ctx.clone());
        Ok(Some(ctx))
    }

    /// Drops what this instance knows of `name`'s overrides (they were just written).
    pub fn forget_source(&self, name: &str) {
        self.effective.forget(Some(name));
    }

    /// Drops what this instance knows of every source's overrides (a system reset cleared
    /// them).
    pub fn forget_sources(&self) {
        self.effective.forget(None);
    }
}
