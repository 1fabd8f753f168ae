//! The registry-side records RhoConnect kept in its cache and that this port keeps in Redis
//! too, because they are meant to vanish on `system/reset` (docs/rest-api.md §4.3–4.5, §5.1):
//! the counters `user:count` / `client:count`, the app server URL `appserver_url`, and the
//! statistics `stat:<metric>` (docs/rest-api.md §4.5).
//!
//! [`redis_key`] maps those RhoConnect document names to the real keys, so the store API
//! (`GET /rc/v1/store/user:count`) resolves them to the same place. [`flush_namespace`]
//! is the cache half of `system/reset`. The rules live here (which series follows which
//! counter, the bucket size and retention, that an empty URL clears it); the reads and
//! writes are the store's ([`crate::store::meta`]).

use crate::edges::Keys;
use crate::store::keys;
/// The app server URL's RhoConnect name.
pub use crate::store::keys::APPSERVER_DOC;
pub use crate::store::Metric;
use crate::store::Store;
use crate::store::StoreError;

/// Stats bucket size and retention in seconds (docs/rest-api.md §4.5 defaults).
pub const STATS_RESOLUTION: i64 = 60;
pub const STATS_RETENTION: i64 = 44_640;

/// The Redis key of a RhoConnect document name this module owns, else `None`.
pub fn redis_key(keys: &Keys, docname: &str) -> Option<String> {
    match docname {
        "user:count" | "client:count" | APPSERVER_DOC => Some(keys::registry_record(keys, docname)),
        name => name.strip_prefix("stat:").map(|metric| keys::stat(keys, metric)),
    }
}

/// Which counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Users,
    Clients,
}

impl Counter {
    fn docname(self) -> &'static str {
        match self {
            Self::Users => "user:count",
            Self::Clients => "client:count",
        }
    }

    /// The stats metric that follows this counter.
    fn metric(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Clients => "clients",
        }
    }
}

/// Adds `delta` to a counter and, when stats are on, records the new value in its series.
/// `stats`: the `:stats:` setting.
pub async fn bump(store: &dyn Store, stats: bool, counter: Counter, delta: i64) -> Result<i64, StoreError> {
    let value = store.incr_counter(counter.docname(), delta).await?;
    if stats {
        record_counter(store, counter.metric(), value).await?;
    }
    Ok(value)
}

/// Records `value` as the current bucket of counter metric `metric`.
pub async fn record_counter(store: &dyn Store, metric: &str, value: i64) -> Result<(), StoreError> {
    let now = crate::auth::session::now() as i64;
    let start = now / STATS_RESOLUTION * STATS_RESOLUTION;
    store.record_stat(metric, start, STATS_RESOLUTION, STATS_RETENTION, value).await
}

/// Metric names matching a Redis glob, without the `stat:` prefix.
pub async fn metric_names(store: &dyn Store, glob: &str) -> Result<Vec<String>, StoreError> {
    store.stat_names(glob).await
}

/// Members `start..=finish` of a series (oldest first), or a string metric's value.
pub async fn metric(store: &dyn Store, name: &str, start: i64, finish: i64) -> Result<Metric, StoreError> {
    store.stat(name, start, finish).await
}

/// The app server URL set through the API (`None` when unset).
pub async fn appserver_url(store: &dyn Store) -> Result<Option<String>, StoreError> {
    store.app_server_url().await
}

/// Stores the app server URL verbatim; `None` or `""` clears it.
pub async fn set_appserver_url(store: &dyn Store, url: Option<&str>) -> Result<(), StoreError> {
    store.set_app_server_url(url.filter(|u| !u.is_empty())).await
}

/// Deletes every key of this deployment's namespace (`<ns>:{…}:…`), in SCAN batches so a
/// large cache never blocks Redis. Returns the count.
pub async fn flush_namespace(store: &dyn Store) -> Result<u64, StoreError> {
    store.flush_namespace().await
}
