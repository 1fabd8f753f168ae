//! What every handler shares: configuration and the edges, built once per process.

use std::sync::Arc;

use std::time::Duration;

use crate::adapters::app_server::CachedAppServer;
use crate::adapters::deps::{AdapterDeps, AppServerUrl};
use crate::adapters::http_backend;
use crate::auth::throttle::ThrottleCounters;
use crate::config::Config;
use crate::edges::{AwsClients, QueueUrls, RedisEdge, S3BlobStore, SqsJobQueue, SqsQueueAdmin};
use crate::ports::{BlobStore, Clock, JobQueue, QueueAdmin};
use crate::registry::{CachedRegistry, DynamoRegistry, Registry};
use crate::sync::{Ports, SyncServices, SyncStore};

/// Shared handler state: the configuration, the raw edges a few routes need (health, the
/// local provisioning), and the sync services with their ports. Cloning copies one
/// reference-counted handle: axum clones the state for every handler and layer of every
/// request, and copying the dozens of handles inside (SDK clients, ports) showed up in
/// the no-change sync's profile, with the allocator work their drops caused.
#[derive(Clone)]
pub struct AppState(Arc<StateParts>);

/// What [`AppState`] shares (read through `Deref`).
#[derive(Clone)]
pub struct StateParts {
    pub config: Arc<Config>,
    pub redis: RedisEdge,
    pub aws: AwsClients,
    /// The services behind the device routes, over the store, registry, queue, blob store
    /// and clock ports.
    pub sync: SyncServices,
    /// The login throttle's counters (Redis, shared by every instance).
    pub throttle: Arc<dyn ThrottleCounters>,
    /// Queue depths and the DLQs, for the console's Jobs screen (docs/jobs.md §7).
    pub queue_admin: Arc<dyn QueueAdmin>,
}

impl AppState {
    pub fn new(config: Config, redis: RedisEdge, aws: AwsClients) -> Self {
        // The registry's hot reads come from Redis (docs/registry.md §3); DynamoDB stays the truth.
        let durable: Arc<dyn Registry> = Arc::new(DynamoRegistry::new(aws.dynamodb.clone(), config.env.table.clone()));
        let registry: Arc<dyn Registry> =
            Arc::new(CachedRegistry::new(durable, Arc::new(SyncStore::new(redis.clone()))));
        let queue: Arc<dyn JobQueue> = Arc::new(SqsJobQueue::new(aws.sqs.clone(), QueueUrls::from_env(&config.env)));
        let blobs: Arc<dyn BlobStore> = Arc::new(S3BlobStore::new(aws.s3.clone(), config.env.bucket.clone()));
        let app = &config.settings.app;
        let http = http_backend::client(Duration::from_secs(app.plugin_timeout.max(1))).unwrap_or_else(|err| {
            // Building a client only fails when the TLS backend cannot initialise; the
            // default client then still serves, without our transport rules.
            tracing::error!(error = %err, "backend HTTP client: falling back to defaults");
            reqwest::Client::new()
        });
        let app_server: Arc<dyn AppServerUrl> = Arc::new(CachedAppServer::new(redis.clone(), app.appserver.clone()));
        let deps =
            AdapterDeps { http, registry: registry.clone(), app: Arc::new(app.clone()), app_server: Some(app_server) };
        let ports = Ports { store: Arc::new(SyncStore::new(redis.clone())), registry, queue, blobs };
        let sync = SyncServices::new(ports, config.settings.clone(), &deps);
        let throttle: Arc<dyn ThrottleCounters> = Arc::new(SyncStore::new(redis.clone()));
        let queue_admin: Arc<dyn QueueAdmin> = Arc::new(SqsQueueAdmin::new(aws.sqs.clone(), &config.env));
        Self(Arc::new(StateParts { config: Arc::new(config), redis, aws, sync, throttle, queue_admin }))
    }

    /// The parts to change while the state is built (copied when already shared).
    fn parts_mut(&mut self) -> &mut StateParts {
        Arc::make_mut(&mut self.0)
    }

    /// The same state reading time from `clock` (tests move time instead of sleeping).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.parts_mut().sync.clock = clock;
        self
    }

    /// The same state sending jobs to `queue` (tests record them in a `MemoryJobQueue`).
    pub fn with_queue(mut self, queue: Arc<dyn JobQueue>) -> Self {
        let parts = self.parts_mut();
        parts.sync = parts.sync.clone().with_queue(queue);
        self
    }

    /// The same state looking at the DLQs through `admin`.
    pub fn with_queue_admin(mut self, admin: Arc<dyn QueueAdmin>) -> Self {
        self.parts_mut().queue_admin = admin;
        self
    }

    /// The same state storing objects in `blobs`.
    pub fn with_blobs(mut self, blobs: Arc<dyn BlobStore>) -> Self {
        let parts = self.parts_mut();
        parts.sync = parts.sync.clone().with_blobs(blobs);
        self
    }

    /// The durable registry (users, tokens, clients).
    pub fn registry(&self) -> &dyn Registry {
        self.sync.registry()
    }

    /// The job queues.
    pub fn queue(&self) -> &dyn JobQueue {
        self.sync.queue()
    }

    /// The blob store (the data bucket).
    pub fn blobs(&self) -> &dyn BlobStore {
        self.sync.blobs()
    }
}

impl std::ops::Deref for AppState {
    type Target = StateParts;

    fn deref(&self) -> &StateParts {
        &self.0
    }
}
