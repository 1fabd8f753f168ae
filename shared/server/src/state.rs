//! What every handler shares: configuration and the edges, built once per process.

use std::sync::Arc;

use crate::adapters::factory::AdapterDeps;
use crate::config::Config;
use crate::edges::{AwsClients, RedisEdge};
use crate::registry::{DynamoRegistry, Registry};
use crate::sync::{Clock, SyncServices, SyncStore};

/// Shared handler state; cloning copies a few reference-counted handles.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub redis: RedisEdge,
    pub aws: AwsClients,
    registry: Arc<dyn Registry>,
    /// The sync store, the source adapters (built once) and the clock.
    pub sync: SyncServices,
}

impl AppState {
    pub fn new(config: Config, redis: RedisEdge, aws: AwsClients) -> Self {
        let registry: Arc<dyn Registry> = Arc::new(DynamoRegistry::new(aws.dynamodb.clone(), config.env.table.clone()));
        let deps = AdapterDeps {
            http: reqwest::Client::new(),
            registry: registry.clone(),
            app: Arc::new(config.settings.app.clone()),
        };
        let sync = SyncServices::new(SyncStore::new(redis.clone()), &config.settings.sources, &deps);
        Self { config: Arc::new(config), redis, aws, registry, sync }
    }

    /// The same state reading time from `clock` (tests move time instead of sleeping).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.sync.clock = clock;
        self
    }

    /// The durable registry (users, tokens, clients).
    pub fn registry(&self) -> &dyn Registry {
        &*self.registry
    }
}
