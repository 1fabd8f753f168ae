//! Builds the adapter of each source from its settings (`adapter:` kind), with the
//! [`AdapterDeps`] of [`super::deps`].

use std::sync::Arc;

use super::bench::{BenchAdapter, BenchFlavor};
use super::deps::AdapterDeps;
use super::{demo::DemoAdapter, plugin::PluginAdapter, rest::RestAdapter, AdapterError, SourceAdapter};
use crate::config::{AdapterKind, SourceConfig};

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
