//! What adapters are built with: [`AdapterDeps`], and the [`AppServerUrl`] port it carries.
//!
//! Kept apart from [`super::factory`], which builds every kind of adapter, so that each
//! adapter can name its dependencies without importing the module that imports it.

use std::sync::Arc;

use async_trait::async_trait;

use super::AdapterError;
use crate::config::AppSettings;
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

/// Where the plugin backend lives *now*. The URL can change at run time
/// (`POST /rc/v1/system/appserver`, erased by a reset), so adapters ask on every call.
#[async_trait]
pub trait AppServerUrl: Send + Sync {
    /// The configured app server URL, possibly with userinfo; `None` when unset.
    async fn app_server_url(&self) -> Result<Option<String>, AdapterError>;
}
