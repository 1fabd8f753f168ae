//! The sync engine's I/O half: the services behind the device routes (login, clients,
//! query, client writes, search) and the document routes of the REST API, over the store
//! ([`crate::store`]: the Redis layout of the versioned partition model of
//! `rhosync_engine::model` and its atomic scripts).
//!
//! * [`refresh`] — calling a source adapter and writing its result (`sync::refresh`, also
//!   used by the adapter worker for queued refreshes);
//! * [`query`] — one query page: token rules, refresh decision, planning, commit;
//! * [`cud`] — client creates/updates/deletes: accepted and queued (or applied inline),
//!   applied once by the adapter worker;
//! * [`search`] — search pages;
//! * [`clients`] — device login, client records (cached in Redis, durable in DynamoDB),
//!   reset and user switch;
//! * [`docs`] — RC7 document names resolved onto this layout (store API);
//! * [`push`] — backend pushes into a master document (`push_objects`, `fast_*`);
//! * [`scratch`] — adapter scratch documents;
//! * [`sessions`] — whether a signed session still names an existing user;
//! * [`sources`] — effective source settings: the settings file plus the overrides of the
//!   REST API (kept in the registry, the poll interval in the cache).
//!
//! # Cost (measured by `tests/tests/sync_cost.rs`, 100k-object source)
//!
//! `cargo test -p rhosync-e2e --test sync_cost -- --nocapture` counts `INFO commandstats`
//! on a private redis-server (script inner commands included):
//!
//! * no-change sync (device in step, poll interval not elapsed): 1 round trip — one
//!   pipeline of five `GET`s (client record, poll interval and the three keys of the
//!   session check in [`sessions`]) and the query script in its read-only probe mode —
//!   11 commands, all O(1): no index scan, no write;
//! * 10 objects changed (push API), then a sync cycle: 2 requests, 4 round trips, 48
//!   commands. The page: the pipeline (whose probe already read the change-index slice
//!   and the objects) and the commit script; the acknowledgement: the pipelined read and
//!   the query script, which completes the cycle the page ended and answers in step;
//! * a device in step keeps one small hash (`c:<id>:st`, ~184 bytes).

pub mod clients;
pub mod cud;
pub mod docs;
pub mod push;
pub mod query;
pub mod refresh;
pub mod scratch;
pub mod search;
pub mod sessions;
pub mod sources;

use std::collections::HashMap;
use std::sync::Arc;

pub use refresh::refresh;
pub use crate::store::SyncStore;

use crate::adapters::deps::AdapterDeps;
use crate::adapters::factory;
use crate::adapters::{AdapterCtx, AdapterError, SourceAdapter};
use crate::config::{PartitionType, SourceConfig};
use crate::ports::{BlobError, Clock, QueueError, SystemClock};
use crate::AppState;
use crate::store::keys::{PartitionKeys, SHARED_PARTITION};

/// Errors of the sync services; mapped to HTTP once, in `crate::http::error`.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    #[error("Unknown client")]
    UnknownClient,
    #[error("Unknown source")]
    UnknownSource,
    #[error("Unknown user '{0}'")]
    UnknownUser(String),
    /// Bad input the caller can fix; nothing was written.
    #[error("{0}")]
    BadInput(String),
    /// A refusal with RhoConnect's exact 500 text (rest-api.md §1.6).
    #[error("{0}")]
    Refused(String),
    /// The same client synced the same source concurrently; retry.
    #[error("concurrent sync of the same client and source; retry")]
    Conflict,
    /// S3 or SQS refused a write (client writes are durable only once both took it).
    #[error("{0}")]
    Queue(String),
    #[error("{0}")]
    Internal(String),
}

impl From<rhosync_engine::model::ModelError> for SyncError {
    fn from(e: rhosync_engine::model::ModelError) -> Self {
        SyncError::Internal(e.to_string())
    }
}

impl From<rhosync_engine::values::ValuesError> for SyncError {
    fn from(e: rhosync_engine::values::ValuesError) -> Self {
        SyncError::Internal(e.to_string())
    }
}

/// The queue or the blob store did not take (or give back) a job or its payload: the work
/// is not durable, so the caller fails and the device or SQS retries.
impl From<QueueError> for SyncError {
    fn from(e: QueueError) -> Self {
        SyncError::Queue(e.to_string())
    }
}

impl From<BlobError> for SyncError {
    fn from(e: BlobError) -> Self {
        SyncError::Queue(e.to_string())
    }
}

/// An adapter as built at start-up (or why it could not be).
pub type BuiltAdapter = Result<Arc<dyn SourceAdapter>, AdapterError>;

/// Process-wide sync services: the store, the adapters (built once) and the clock.
#[derive(Clone)]
pub struct SyncServices {
    pub store: SyncStore,
    pub clock: Arc<dyn Clock>,
    adapters: Arc<HashMap<String, BuiltAdapter>>,
    /// The settings file's sources, shared so a request does not copy its source's settings.
    configs: Arc<HashMap<String, Arc<SourceConfig>>>,
}

impl SyncServices {
    /// Builds every configured source's adapter once.
    pub fn new(store: SyncStore, sources: &[SourceConfig], deps: &AdapterDeps) -> Self {
        let adapters = sources.iter().map(|s| (s.name.clone(), factory::build(s, deps))).collect();
        let configs = sources.iter().map(|s| (s.name.clone(), Arc::new(s.clone()))).collect();
        Self { store, clock: Arc::new(SystemClock), adapters: Arc::new(adapters), configs: Arc::new(configs) }
    }

    /// The settings of a source of the settings file.
    pub fn source_config(&self, source: &str) -> Option<Arc<SourceConfig>> {
        self.configs.get(source).cloned()
    }

    /// The adapter of a configured source (its construction error, if it failed).
    pub fn adapter(&self, source: &str) -> Result<Arc<dyn SourceAdapter>, AdapterError> {
        match self.adapters.get(source) {
            Some(Ok(a)) => Ok(a.clone()),
            Some(Err(e)) => Err(e.clone()),
            None => Err(AdapterError::Backend(format!("no adapter is configured for source {source}"))),
        }
    }
}

/// One configured source as a request sees it.
#[derive(Clone)]
pub struct SourceCtx {
    pub config: Arc<SourceConfig>,
    pub adapter: Result<Arc<dyn SourceAdapter>, AdapterError>,
}

impl SourceCtx {
    /// The configured source `name`, or `None`.
    pub fn find(state: &AppState, name: &str) -> Option<Self> {
        let config = state.sync.source_config(name)?;
        Some(Self { adapter: state.sync.adapter(name), config })
    }

    /// The partition key for `login` (sync-engine.md §4.2).
    pub fn partition(&self, login: &str) -> String {
        match self.config.partition_type {
            PartitionType::App => SHARED_PARTITION.to_owned(),
            PartitionType::User => match &self.adapter {
                Ok(a) => a.partition_name(login),
                Err(_) => login.to_owned(),
            },
        }
    }

    pub fn keys(&self, state: &AppState, login: &str) -> PartitionKeys {
        PartitionKeys::new(&state.redis.keys, &self.config.name, &self.partition(login))
    }

    /// The context adapter calls get.
    pub fn adapter_ctx(&self, state: &AppState, login: &str) -> AdapterCtx {
        AdapterCtx {
            login: login.to_owned(),
            partition: self.partition(login),
            source: self.config.clone(),
            scratch: Arc::new(scratch::RedisScratch::new(state.sync.store.clone())),
            idempotency_key: None,
        }
    }
}
