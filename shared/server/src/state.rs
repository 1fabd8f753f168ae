//! What every handler shares: configuration and the edges, built once per process.

use std::sync::Arc;

use crate::config::Config;
use crate::edges::{AwsClients, RedisEdge};
use crate::registry::{DynamoRegistry, Registry};

/// Shared handler state; cloning copies a few reference-counted handles.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub redis: RedisEdge,
    pub aws: AwsClients,
    registry: Arc<dyn Registry>,
}

impl AppState {
    pub fn new(config: Config, redis: RedisEdge, aws: AwsClients) -> Self {
        let registry = Arc::new(DynamoRegistry::new(aws.dynamodb.clone(), config.env.table.clone()));
        Self { config: Arc::new(config), redis, aws, registry }
    }

    /// The durable registry (users, tokens, clients).
    pub fn registry(&self) -> &dyn Registry {
        &*self.registry
    }
}
