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
    /// RhoConnect's old session secret (`RHOCONNECT_LEGACY_SECRET`, else `:legacy_secret:`):
    /// when set, a device's RhoConnect session cookie is exchanged once for ours
    /// (docs/migrating.md §3).
    pub legacy_secret: Option<String>,
    pub api_token: Option<String>,
    pub admin_password: Option<String>,
    pub table: String,
    pub bucket: String,
    pub adapter_queue_url: String,
    pub push_queue_url: String,
    pub bulk_queue_url: String,
    /// The queues' DLQs (`RHOSYNC_*_DLQ_URL`); when unset, the queue admin finds each DLQ
    /// from its queue's redrive policy (docs/jobs.md §7).
    pub adapter_dlq_url: Option<String>,
    pub push_dlq_url: Option<String>,
    pub bulk_dlq_url: Option<String>,
    /// Set only against an emulator (moto, LocalStack); the AWS SDK reads it itself.
    pub aws_endpoint_url: Option<String>,
    /// How long a dependency may keep a request waiting (docs/configuration.md §2).
    pub timeouts: Timeouts,
}

/// How long one call to Redis or to an AWS service may take before the request gives up and
/// answers 503 (docs/configuration.md §2). The defaults keep an outage's answer within about
/// 2 s; workers, which move bigger payloads and answer nobody waiting, get longer ones from
/// `template.yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// `RHOSYNC_REDIS_TIMEOUT_MS`: connecting, and each command's answer.
    pub redis_ms: u64,
    /// `RHOSYNC_AWS_TIMEOUT_MS`: each AWS call, retries included (connecting: at most 1 s).
    pub aws_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { redis_ms: 1_500, aws_ms: 1_800 }
    }
}

/// The whole configuration of one process.
#[derive(Debug, Clone)]
pub struct Config {
    pub env: Env,
    /// Shared with the sync services ([`crate::sync::SyncServices`]), which read it too.
    pub settings: std::sync::Arc<Settings>,
}

/// A positive number of milliseconds from `value`, else `default`.
fn millis(value: Option<String>, key: &str, default: u64) -> Result<u64, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(ms) if ms > 0 => Ok(ms),
            _ => Err(ConfigError::Invalid(format!("{key} must be a positive number of milliseconds, not {v:?}"))),
        },
    }
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
            legacy_secret: get("RHOCONNECT_LEGACY_SECRET").or_else(|| settings.app.legacy_secret.clone()),
            api_token: get("API_TOKEN").or_else(|| settings.app.api_token.clone()),
            admin_password: var("PSWRD"),
            table: need("RHOSYNC_TABLE")?,
            bucket: need("RHOSYNC_BUCKET")?,
            adapter_queue_url: need("RHOSYNC_ADAPTER_QUEUE_URL")?,
            push_queue_url: need("RHOSYNC_PUSH_QUEUE_URL")?,
            bulk_queue_url: need("RHOSYNC_BULK_QUEUE_URL")?,
            adapter_dlq_url: get("RHOSYNC_ADAPTER_DLQ_URL"),
            push_dlq_url: get("RHOSYNC_PUSH_DLQ_URL"),
            bulk_dlq_url: get("RHOSYNC_BULK_DLQ_URL"),
            aws_endpoint_url: get("AWS_ENDPOINT_URL"),
            timeouts: Timeouts {
                redis_ms: millis(
                    get("RHOSYNC_REDIS_TIMEOUT_MS"),
                    "RHOSYNC_REDIS_TIMEOUT_MS",
                    Timeouts::default().redis_ms,
                )?,
                aws_ms: millis(get("RHOSYNC_AWS_TIMEOUT_MS"), "RHOSYNC_AWS_TIMEOUT_MS", Timeouts::default().aws_ms)?,
            },
        };
        // An admin without a password in production is an open door: refuse to start unless
        // the operator says so explicitly (docs/configuration.md §2).
        let empty_password = env.admin_password.as_deref().is_none_or(str::is_empty);
        let allowed = get("RHOSYNC_ALLOW_EMPTY_ADMIN_PASSWORD").is_some_and(|v| v == "true" || v == "1");
        if env.environment == "production" && empty_password && !allowed {
            return Err(ConfigError::Invalid(
                "the admin password (PSWRD) is empty in the production environment; set one, or set \
                 RHOSYNC_ALLOW_EMPTY_ADMIN_PASSWORD=true to run without"
                    .into(),
            ));
        }
        Ok(Self { env, settings: std::sync::Arc::new(settings) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = std::env::temp_dir().join(format!("rhosync-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let path = dir.join("settings.yml");
        std::fs::write(&path, ":production:\n  :redis: localhost:6379\n:development:\n  :redis: localhost:6379\n")
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let path = path.to_string_lossy().into_owned();
        let mut vars: Vec<(String, String)> = [
            ("RHOSYNC_SETTINGS", path.as_str()),
            ("RHOCONNECT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("RHOSYNC_TABLE", "t"),
            ("RHOSYNC_BUCKET", "b"),
            ("RHOSYNC_ADAPTER_QUEUE_URL", "q1"),
            ("RHOSYNC_PUSH_QUEUE_URL", "q2"),
            ("RHOSYNC_BULK_QUEUE_URL", "q3"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        vars.reverse(); // the extras win
        Config::from_lookup(|key| vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
    }

    #[test]
    fn production_refuses_an_empty_admin_password_unless_told_otherwise() {
        let err = config(&[("RHO_ENV", "production")]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("PSWRD"), "{err}");
        assert!(config(&[("RHO_ENV", "production"), ("PSWRD", "")]).is_err());
        assert!(config(&[("RHO_ENV", "production"), ("PSWRD", "s3cret")]).is_ok());
        assert!(config(&[("RHO_ENV", "production"), ("RHOSYNC_ALLOW_EMPTY_ADMIN_PASSWORD", "true")]).is_ok());
        assert!(config(&[]).is_ok(), "development may run without one");
    }

    #[test]
    fn timeouts_default_to_an_answer_within_two_seconds_and_can_be_set() {
        let c = config(&[]).expect("config");
        assert_eq!(c.env.timeouts, Timeouts::default());
        assert!(Timeouts::default().redis_ms <= 2_000 && Timeouts::default().aws_ms <= 2_000);
        let c = config(&[("RHOSYNC_REDIS_TIMEOUT_MS", "9000"), ("RHOSYNC_AWS_TIMEOUT_MS", "30000")]).expect("config");
        assert_eq!(c.env.timeouts, Timeouts { redis_ms: 9_000, aws_ms: 30_000 });
        assert!(config(&[("RHOSYNC_REDIS_TIMEOUT_MS", "0")]).is_err());
        assert!(config(&[("RHOSYNC_AWS_TIMEOUT_MS", "soon")]).is_err());
    }

    #[test]
    fn the_legacy_secret_is_optional_and_the_environment_wins() {
        assert_eq!(config(&[]).expect("config").env.legacy_secret, None);
        let c = config(&[("RHOCONNECT_LEGACY_SECRET", "old-config-ru-secret")]).expect("config");
        assert_eq!(c.env.legacy_secret.as_deref(), Some("old-config-ru-secret"));
    }
}
