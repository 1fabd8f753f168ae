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
//! * [`rejected`] — client writes an adapter rejected, for the console: list, retry, dismiss;
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
//! * 10 objects changed (push API), then a sync cycle: 2 requests, 4 round trips, 46
//!   commands. The page: the pipeline (whose probe already read the change-index slice
//!   and the objects) and the commit script; the acknowledgement: the pipelined read and
//!   the query script, which completes the cycle the page ended and answers in step;
//! * a device in step keeps one small hash (`c:<id>:st`, ~184 bytes).

pub mod clients;
pub mod cud;
pub mod docs;
pub mod effective;
pub mod push;
pub mod query;
pub mod refresh;
pub mod rejected;
pub mod scratch;
pub mod search;
pub mod sessions;
pub mod sources;

use std::collections::HashMap;
use std::sync::Arc;

pub use crate::store::SyncStore;
pub use refresh::refresh;

use crate::adapters::deps::AdapterDeps;
use crate::adapters::factory;
use crate::adapters::plugin::PluginAuthenticator;
use crate::adapters::{AdapterCtx, AdapterError, SourceAdapter};
use crate::config::{AppSettings, Settings};
use crate::config::{PartitionType, SourceConfig};
use crate::ports::{BlobError, BlobStore, Clock, JobQueue, QueueError, SystemClock};
use crate::registry::Registry;
use crate::store::keys::{PartitionKeys, SHARED_PARTITION};
use crate::store::Store;

/// Errors of the sync services; mapped to HTTP once, in `crate::http::error`.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    #[error("Unknown client")]
    UnknownClient,
    /// The session names a user that no longer exists (or was deleted after it was issued).
    #[error("Not authenticated")]
    NotAuthenticated,
    #[error("Unknown source")]
    UnknownSource,
    #[error("Unknown user '{0}'")]
    UnknownUser(String),
    /// Bad input the caller can fix; nothing was written.
    #[error("{0}")]
    BadInput(String),
    /// A refusal with RhoConnect's exact 500 text (docs/rest-api.md §1.5).
    #[error("{0}")]
    Refused(String),
    /// A commit lost a race with another request of the same client (its generation moved).
    /// Internal to the query step, which reads again and decides again
    /// (docs/sync-engine.md §5.7); never answered to a device.
    #[error("the client state changed during the request")]
    Conflict,
    /// Other writers kept winning the same partition for longer than a request should wait:
    /// answered 503 with `Retry-After`; nothing was written.
    #[error("{0}")]
    Busy(String),
    /// A dependency (named) is unreachable, slow or throttling: answered 503.
    #[error("{what} is unavailable: {detail}")]
    Unavailable { what: &'static str, detail: String },
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
        match e {
            QueueError::Unavailable { .. } => SyncError::Unavailable { what: "the job queue", detail: e.to_string() },
            other => SyncError::Queue(other.to_string()),
        }
    }
}

impl From<BlobError> for SyncError {
    fn from(e: BlobError) -> Self {
        if e.outage {
            SyncError::Unavailable { what: "file storage", detail: e.to_string() }
        } else {
            SyncError::Queue(e.to_string())
        }
    }
}

/// An adapter as built at start-up (or why it could not be).
pub type BuiltAdapter = Result<Arc<dyn SourceAdapter>, AdapterError>;

/// What the sync services run on: the ports (store, registry, job queue, blob store, clock),
/// the settings and the source adapters (built once). Built once per process; cloning copies
/// a few reference-counted handles. Services take this, never the HTTP state, so they can
/// run over in-memory edges of the same ports in unit tests.
#[derive(Clone)]
pub struct SyncServices {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    registry: Arc<dyn Registry>,
    queue: Arc<dyn JobQueue>,
    blobs: Arc<dyn BlobStore>,
    /// The settings file (app settings and the sources, by priority).
    pub settings: Arc<Settings>,
    /// Device logins while an app server URL is configured (docs/adapters.md §4.2).
    pub authenticator: Arc<PluginAuthenticator>,
    adapters: Arc<HashMap<String, BuiltAdapter>>,
    /// The settings file's sources, shared so a request does not copy its source's settings.
    configs: Arc<HashMap<String, Arc<SourceConfig>>>,
    /// The file's settings with the REST API's overrides, as recently read ([`effective`]).
    effective: Arc<effective::EffectiveSources>,
    /// This process's statistics accumulator (`crate::stats`), on when `:stats:` is.
    pub stats: Arc<crate::stats::StatsRecorder>,
}

/// The ports [`SyncServices`] runs on.
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub registry: Arc<dyn Registry>,
    pub queue: Arc<dyn JobQueue>,
    pub blobs: Arc<dyn BlobStore>,
}

impl SyncServices {
    /// Builds every configured source's adapter once.
    pub fn new(ports: Ports, settings: Arc<Settings>, deps: &AdapterDeps) -> Self {
        let sources = &settings.sources;
        let adapters = sources.iter().map(|s| (s.name.clone(), factory::build(s, deps))).collect();
        let configs = sources.iter().map(|s| (s.name.clone(), Arc::new(s.clone()))).collect();
        Self {
            store: ports.store,
            clock: Arc::new(SystemClock),
            registry: ports.registry,
            queue: ports.queue,
            blobs: ports.blobs,
            authenticator: Arc::new(PluginAuthenticator::new(deps)),
            stats: Arc::new(crate::stats::StatsRecorder::new(settings.app.stats)),
            settings,
            adapters: Arc::new(adapters),
            configs: Arc::new(configs),
            effective: Arc::default(),
        }
    }

    /// The durable registry (users, tokens, clients).
    pub fn registry(&self) -> &dyn Registry {
        &*self.registry
    }

    /// The job queues.
    pub fn queue(&self) -> &dyn JobQueue {
        &*self.queue
    }

    /// The blob store (the data bucket).
    pub fn blobs(&self) -> &dyn BlobStore {
        &*self.blobs
    }

    /// The app-wide settings.
    pub fn app(&self) -> &AppSettings {
        &self.settings.app
    }

    /// The same services sending jobs to `queue`.
    pub fn with_queue(mut self, queue: Arc<dyn JobQueue>) -> Self {
        self.queue = queue;
        self
    }

    /// The same services storing objects in `blobs`.
    pub fn with_blobs(mut self, blobs: Arc<dyn BlobStore>) -> Self {
        self.blobs = blobs;
        self
    }

    /// The settings of a source as the settings file has them (requests act on
    /// [`SyncServices::source`], which adds the REST API's overrides).
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
    /// The partition key for `login` (docs/sync-engine.md §1.2).
    pub fn partition(&self, login: &str) -> String {
        match self.config.partition_type {
            PartitionType::App => SHARED_PARTITION.to_owned(),
            PartitionType::User => match &self.adapter {
                Ok(a) => a.partition_name(login),
                Err(_) => login.to_owned(),
            },
        }
    }

    pub fn keys(&self, svc: &SyncServices, login: &str) -> PartitionKeys {
        PartitionKeys::new(svc.store.keys(), &self.config.name, &self.partition(login))
    }

    /// The context adapter calls get.
    pub fn adapter_ctx(&self, svc: &SyncServices, login: &str) -> AdapterCtx {
        AdapterCtx {
            login: login.to_owned(),
            partition: self.partition(login),
            source: self.config.clone(),
            scratch: Arc::new(scratch::StoreScratch::new(svc.store.clone())),
            idempotency_key: None,
        }
    }
}
