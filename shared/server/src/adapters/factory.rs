//! Builds the adapter of each source from its settings (`adapter:` kind).

use std::sync::Arc;

use super::plugin::AppServerUrl;
use super::bench::{BenchAdapter, BenchFlavor};
use super::{demo::DemoAdapter, plugin::PluginAdapter, rest::RestAdapter, AdapterError, SourceAdapter};
use crate::config::{AdapterKind, AppSettings, SourceConfig};
use crate::registry::Registry;

/// What adapters may need beyond their own settings; built once per process.
#[derive(Clone)]
pub struct AdapterDeps {
    /// One HTTP client (connection pool) for every backend call.
    pub http: reqwest::Client,
    /// For the server-wide API token that plugin callbacks carry.
    pub registry: Arc<dyn Registry>,
    pub app: Arc<AppSettings>,
    /// Where plugin backends live now (the URL set through the API, else `:appserver:`);
    /// `None` reads only the `:appserver:` setting.
    pub app_server: Option<Arc<dyn AppServerUrl>>,
}

/// The adapter serving `source`.
pub fn build(source: &SourceConfig, deps: &AdapterDeps) -> Result<Arc<dyn SourceAdapter>, AdapterError> {
    Ok(match source.adapter {
        AdapterKind::Demo => Arc::new(DemoAdapter::new(source)?),
        AdapterKind::Plugin => Arc::new(PluginAdapter::new(source, deps)?),
        AdapterKind::Rest => Arc::new(RestAdapter::new(source, deps)?),
        AdapterKind::Mock => Arc::new(BenchAdapter::new(BenchFlavor::Mock, source)),
        AdapterKind::Bench => Arc::new(BenchAdapter::new(BenchFlavor::Benchmark, source)),
    })
}
