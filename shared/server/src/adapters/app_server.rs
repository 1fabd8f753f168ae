//! The app server URL as the running system knows it (docs/adapters.md §4.7): the value
//! stored through `POST /rc/v1/system/appserver` (cache key `appserver_url`, erased by a
//! reset), else the `:appserver:` setting. Read on every callback, because the API can
//! change it while functions run; one Redis `GET` per call.

use async_trait::async_trait;

use super::deps::AppServerUrl;
use super::AdapterError;
use crate::store::SyncStore;

/// [`AppServerUrl`] over the registry cache, defaulting to the settings file.
#[derive(Clone)]
pub struct CachedAppServer {
    store: SyncStore,
    setting: Option<String>,
}

impl CachedAppServer {
    /// Reads through `store` (a [`SyncStore`] or the Redis edge it wraps).
    pub fn new(store: impl Into<SyncStore>, setting: Option<String>) -> Self {
        Self { store: store.into(), setting: setting.filter(|url| !url.trim().is_empty()) }
    }
}

#[async_trait]
impl AppServerUrl for CachedAppServer {
    async fn app_server_url(&self) -> Result<Option<String>, AdapterError> {
        let stored = self
            .store
            .app_server_url()
            .await
            .map_err(|e| AdapterError::Backend(format!("cannot read the app server URL: {e}")))?;
        Ok(stored.filter(|url| !url.trim().is_empty()).or_else(|| self.setting.clone()))
    }
}
