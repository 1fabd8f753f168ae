//! What every handler shares: configuration and the edges, built once per process.

use std::sync::Arc;

use std::time::Duration;

use crate::adapters::app_server::CachedAppServer;
use crate::adapters::deps::{AdapterDeps, AppServerUrl};
use crate::adapters::http_backend;
use crate::adapters::plugin::PluginAuthenticator;
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
    /// Device logins while an app server URL is configured (plugin-adapters.md §4).
    pub authenticator: Arc<PluginAuthenticator>,
}

impl AppState {
    pub fn new(config: Config, redis: RedisEdge, aws: AwsClients) -> Self {
        let registry: Arc<dyn Registry> = Arc::new(DynamoRegistry::new(aws.dynamodb.clone(), config.env.table.clone()));
        let app = &config.settings.app;
        let http = http_backend::client(Duration::from_secs(app.plugin_timeout.max(1))).unwrap_or_else(|err| {
            // Building a client only fails when the TLS backend cannot initialise; the
            // default client then still serves, without our transport rules.
            tracing::error!(error = %err, "backend HTTP client: falling back to defaults");
            reqwest::Client::new()
        });
        let app_server: Arc<dyn AppServerUrl> = Arc::new(CachedAppServer::new(redis.clone(), app.appserver.clone()));
        let deps = AdapterDeps {
            http,
            registry: registry.clone(),
            app: Arc::new(app.clone()),
            app_server: Some(app_server),
        };
        let authenticator = Arc::new(PluginAuthenticator::new(&deps));
        let sync = SyncServices::new(SyncStore::new(redis.clone()), &config.settings.sources, &deps);
        Self { config: Arc::new(config), redis, aws, registry, sync, authenticator }
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
