//! Typed configuration: the settings file ([`settings`]) plus the process environment
//! ([`Env`]). Both are read once at start-up; any problem is one [`ConfigError`] whose
//! message names the missing or malformed thing, so a function fails its cold start with a
//! single clear line instead of a panic.

pub mod settings;

use std::path::PathBuf;

pub use settings::{
    AdapterKind, AppSettings, DeviceAuth, DuplicatePolicy, PartitionType, Settings, SourceConfig, SyncType,
};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("{0}")]
    Invalid(String),
}

/// Everything a function reads from its environment (docs/configuration.md §2, plus the
/// resource names that `template.yaml` and `infra/` hand over).
#[derive(Debug, Clone)]
pub struct Env {
    pub settings_path: PathBuf,
    pub environment: String,
    pub redis_url: String,
    /// Prefix of every Redis key (`RHOSYNC_REDIS_NAMESPACE`, default `rs`), so deployments or
    /// parallel tests can share one Redis.
    pub redis_namespace: String,
    pub secret: String,
    pub api_token: Option<String>,
    pub admin_password: Option<String>,
    pub table: String,
    pub bucket: String,
    pub adapter_queue_url: String,
    pub push_queue_url: String,
    pub bulk_queue_url: String,
    /// Set only against an emulator (moto, LocalStack); the AWS SDK reads it itself.
    pub aws_endpoint_url: Option<String>,
}

/// The whole configuration of one process.
#[derive(Debug, Clone)]
pub struct Config {
    pub env: Env,
    /// Shared with the sync services ([`crate::sync::SyncServices`]), which read it too.
    pub settings: std::sync::Arc<Settings>,
}

impl Config {
    /// Reads the environment, then the settings file it names.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Same as [`Config::from_env`] over any variable lookup, so tests need not mutate the
    /// process environment.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |key: &'static str| var(key).filter(|v| !v.trim().is_empty());
        let need = |key: &'static str| get(key).ok_or(ConfigError::Missing(key));
        let environment = get("RHO_ENV").or_else(|| get("RACK_ENV")).unwrap_or_else(|| "development".into());
        let settings_path = PathBuf::from(need("RHOSYNC_SETTINGS")?);
        let settings = Settings::load(&settings_path, &environment)?;
        let redis_url = get("REDIS_URL")
            .or_else(|| get("REDIS"))
            .or_else(|| get("REDISTOGO_URL"))
            .or_else(|| settings.app.redis.clone())
            .ok_or(ConfigError::Missing("REDIS_URL"))?;
        let redis_url = if redis_url.contains("://") { redis_url } else { format!("redis://{redis_url}") };
        let secret = get("RHOCONNECT_SECRET")
            .or_else(|| settings.app.secret.clone())
            .ok_or(ConfigError::Missing("RHOCONNECT_SECRET"))?;
        if secret.len() < 32 {
            return Err(ConfigError::Invalid("RHOCONNECT_SECRET must be at least 32 characters long".into()));
        }
        let env = Env {
            settings_path,
            environment,
            redis_url,
            redis_namespace: get("RHOSYNC_REDIS_NAMESPACE").unwrap_or_else(|| "rs".into()),
            secret,
            api_token: get("API_TOKEN").or_else(|| settings.app.api_token.clone()),
            admin_password: var("PSWRD"),
            table: need("RHOSYNC_TABLE")?,
            bucket: need("RHOSYNC_BUCKET")?,
            adapter_queue_url: need("RHOSYNC_ADAPTER_QUEUE_URL")?,
            push_queue_url: need("RHOSYNC_PUSH_QUEUE_URL")?,
            bulk_queue_url: need("RHOSYNC_BULK_QUEUE_URL")?,
            aws_endpoint_url: get("AWS_ENDPOINT_URL"),
        };
        Ok(Self { env, settings: std::sync::Arc::new(settings) })
    }
}
