//! The app server URL as the running system knows it (plugin-adapters.md §2): the value
//! stored through `POST /rc/v1/system/appserver` (cache key `appserver_url`, erased by a
//! reset), else the `:appserver:` setting. Read on every callback, because the API can
//! change it while functions run; one Redis `GET` per call.

use async_trait::async_trait;
use redis::AsyncCommands;

use super::deps::AppServerUrl;
use super::AdapterError;
use crate::edges::RedisEdge;
use crate::registry::cache::{redis_key, APPSERVER_DOC};

/// [`AppServerUrl`] over the registry cache, defaulting to the settings file.
#[derive(Clone)]
pub struct CachedAppServer {
    redis: RedisEdge,
    setting: Option<String>,
}

impl CachedAppServer {
    pub fn new(redis: RedisEdge, setting: Option<String>) -> Self {
        Self { redis, setting: setting.filter(|url| !url.trim().is_empty()) }
    }
}

#[async_trait]
impl AppServerUrl for CachedAppServer {
    async fn app_server_url(&self) -> Result<Option<String>, AdapterError> {
        let Some(key) = redis_key(&self.redis, APPSERVER_DOC) else { return Ok(self.setting.clone()) };
        let stored: Option<String> = self
            .redis
            .conn()
            .get(key)
            .await
            .map_err(|e| AdapterError::Backend(format!("cannot read the app server URL: {e}")))?;
        Ok(stored.filter(|url| !url.trim().is_empty()).or_else(|| self.setting.clone()))
    }
}
