//! The application's settings file: RhoConnect's `settings/settings.yml`, read unchanged.
//!
//! The file has one section per environment (`:development:`, `:test:`, `:production:`,
//! chosen by `RHO_ENV`, then `RACK_ENV`, else `development`) and a `:sources:` section.
//! Keys may be written with or without the leading colon of Ruby symbols
//! (docs/configuration.md §3). Two extension keys per source pick the adapter:
//! `adapter:` (`demo`, `plugin`, `rest`) and `adapter_options:` (a map handed to it).

use std::path::Path;

use serde_json::Value as Json;

use super::ConfigError;

/// How a source's documents are partitioned (docs/sync-engine.md §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionType {
    User,
    App,
}

/// Whether devices sync a source incrementally or only through bulk data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncType {
    Incremental,
    BulkOnly,
}

/// Which built-in adapter serves a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterKind {
    /// Seeded, writable in-memory-of-Redis data for local runs and the benchmark.
    Demo,
    /// A backend serving RhoConnect's HTTP plugin callbacks (docs/adapters.md §4).
    Plugin,
    /// A plain REST backend described declaratively.
    Rest,
    /// The bench app's `MockAdapter` (docs/rest-api.md §13): a scratch document per user.
    Mock,
    /// RhoConnect's predefined `RhoInternalBenchmarkAdapter` (docs/rest-api.md §13).
    Bench,
}

impl AdapterKind {
    fn parse(source: &str, raw: &str) -> Result<Self, ConfigError> {
        match raw {
            "demo" => Ok(Self::Demo),
            "plugin" => Ok(Self::Plugin),
            "rest" => Ok(Self::Rest),
            "mock" => Ok(Self::Mock),
            "bench" => Ok(Self::Bench),
            other => Err(ConfigError::Invalid(format!(
                "source {source}: unknown adapter kind '{other}' (expected demo, plugin, rest, mock or bench)"
            ))),
        }
    }
}

/// One source's settings after defaulting (docs/configuration.md §5, docs/configuration.md §5).
#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: String,
    pub adapter: AdapterKind,
    pub adapter_options: serde_json::Map<String, Json>,
    pub poll_interval: i64,
    pub partition_type: PartitionType,
    pub sync_type: SyncType,
    pub priority: i64,
    /// Refreshes run in the adapter worker instead of inline.
    pub query_queued: bool,
    /// Client writes are applied by the adapter worker instead of inline in the request
    /// (inline is the default). See [`cud_queued`] for the settings that decide it.
    pub cud_queued: bool,
    /// The built-in `find_duplicates_on_update` validator (docs/sync-engine.md §6.5).
    pub find_duplicates_on_update: DuplicatePolicy,
    pub pass_through: bool,
    pub push_notify: bool,
    pub retry_limit: i64,
    pub simulate_time: i64,
    pub belongs_to: Vec<(String, String)>,
    pub url: String,
    pub login: String,
    pub password: String,
}

/// What the built-in `find_duplicates_on_update` validator does (docs/sync-engine.md §6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DuplicatePolicy {
    /// Not enabled (the default).
    #[default]
    Off,
    /// `find_duplicates_on_update: true` — a repeated update is skipped; its master's
    /// outcome is reported for it too.
    Skip,
    /// `find_duplicates_on_update: raise_error` — a repeated update fails with
    /// `Error during update: object conflict detected`.
    RaiseError,
}

impl DuplicatePolicy {
    fn parse(source: &str, value: Option<&Json>) -> Result<Self, ConfigError> {
        match value {
            None | Some(Json::Null) | Some(Json::Bool(false)) => Ok(Self::Off),
            Some(Json::Bool(true)) => Ok(Self::Skip),
            Some(Json::String(s)) if s == "true" || s == "skip" => Ok(Self::Skip),
            Some(Json::String(s)) if s == "false" => Ok(Self::Off),
            Some(Json::String(s)) if s == "raise_error" => Ok(Self::RaiseError),
            Some(other) => Err(ConfigError::Invalid(format!(
                "source {source}: find_duplicates_on_update must be true, false or raise_error, not {other}"
            ))),
        }
    }
}

/// Whether client writes of a source go through the adapter queue: RhoConnect's rule.
///
/// Writes are applied inline, inside the device's request, unless `cud_queue` or `queue`
/// names a queue (or is `true`); then the device's 200 comes once the write is durable in
/// the adapter queue and the adapter worker applies it (docs/sync-engine.md §6.1).
/// `cud_queue: false` keeps writes inline even when `queue` is set. Pass-through sources
/// never queue (docs/sync-engine.md §6.6).
fn cud_queued(map: &serde_json::Map<String, Json>) -> Result<bool, ConfigError> {
    let explicit = queue_flag(map.get("cud_queue")).or_else(|| queue_flag(map.get("queue")));
    Ok(explicit.unwrap_or(false))
}

/// Device authentication when no plugin backend authenticates logins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceAuth {
    /// Users must exist in the registry with a matching password.
    Local,
    /// Any non-empty login is accepted and created on first use (RC7's default app).
    Open,
}

/// Environment-level settings (docs/configuration.md §4) that the server uses.
#[derive(Debug, Clone)]
pub struct AppSettings {
    pub environment: String,
    pub syncserver: Option<String>,
    pub redis: Option<String>,
    pub api_token: Option<String>,
    pub secret: Option<String>,
    /// The old RhoConnect deployment's session secret (`config.ru`), so its devices' session
    /// cookies are exchanged once for ours (docs/migrating.md §3); `RHOCONNECT_LEGACY_SECRET`
    /// wins over it.
    pub legacy_secret: Option<String>,
    pub appserver: Option<String>,
    pub bulk_sync_poll_interval: u64,
    pub cookie_expire: u64,
    pub cookie_name: String,
    pub cookie_secure: bool,
    pub store_key_ttl: u64,
    pub plugin_timeout: u64,
    pub device_auth: DeviceAuth,
    /// Largest serialized query page, in bytes; kept far below Lambda's 6 MB response cap.
    pub page_byte_cap: usize,
    pub cors_origins: Vec<String>,
    /// Change history of a partition is kept at least this long (seconds) so devices that
    /// come back within the window get incremental pages; older events are pruned.
    pub history_retention_secs: u64,
    /// Cap on a partition's retained history events (`None`: max(100 000, 2 × md size));
    /// it wins over the retention window so memory stays bounded under heavy churn.
    pub history_max_events: Option<u64>,
    pub stats: bool,
    /// RhoConnect Push Service URL with the app name as userinfo (docs/configuration.md §4, docs/rest-api.md §4.6).
    pub push_server: Option<String>,
}

/// The whole settings file, sources sorted by priority (docs/sync-engine.md §1.1).
#[derive(Debug, Clone)]
pub struct Settings {
    pub app: AppSettings,
    pub sources: Vec<SourceConfig>,
    /// What a source not named in the file gets when plugin traffic creates it on demand
    /// (docs/rest-api.md §8): the environment defaults only.
    on_demand: SourceConfig,
    /// Each source's map as the file wrote it, and the environment section, so that
    /// settings changed at run time are read by the same parser as the file
    /// ([`Settings::source_with`]).
    raw_sources: serde_json::Map<String, Json>,
    env: serde_json::Map<String, Json>,
}

impl Settings {
    /// Reads and validates the settings file for `environment`.
    pub fn load(path: &Path, environment: &str) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| ConfigError::Invalid(format!("cannot read settings file {}: {err}", path.display())))?;
        Self::parse(&text, environment).map_err(|err| match err {
            ConfigError::Invalid(msg) => ConfigError::Invalid(format!("settings file {}: {msg}", path.display())),
            other => other,
        })
    }

    /// Parses settings text; split from [`Settings::load`] so tests need no files.
    pub fn parse(text: &str, environment: &str) -> Result<Self, ConfigError> {
        let yaml: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(text).map_err(|err| ConfigError::Invalid(format!("malformed YAML: {err}")))?;
        let root = normalise(yaml_to_json(yaml)?);
        let Json::Object(root) = root else {
            return Err(ConfigError::Invalid("the top level must be a map".into()));
        };
        let env = match root.get(environment) {
            Some(Json::Object(map)) => map.clone(),
            Some(_) => return Err(ConfigError::Invalid(format!("section :{environment}: must be a map"))),
            None => serde_json::Map::new(),
        };
        let app = AppSettings::from_map(environment, &env)?;
        let raw_sources = match root.get("sources") {
            Some(Json::Object(map)) => map.clone(),
            Some(Json::Null) | None => serde_json::Map::new(),
            Some(_) => return Err(ConfigError::Invalid(":sources: must be a map".into())),
        };
        let sources = raw_sources
            .iter()
            .map(|(name, value)| SourceConfig::from_value(name, value, &env))
            .collect::<Result<Vec<_>, _>>()?;
        let mut sources = sources;
        // Stable sort keeps file order among equal priorities.
        sources.sort_by_key(|s| s.priority);
        let on_demand = SourceConfig::from_value("", &Json::Null, &env)?;
        Ok(Self { app, sources, on_demand, raw_sources, env })
    }

    /// The environment section as the file wrote it (keys without colons), for settings
    /// read elsewhere (push, docs/push.md §8).
    pub fn environment_section(&self) -> &serde_json::Map<String, Json> {
        &self.env
    }

    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// The settings of `name` if it is in the file, else those of a source created on demand.
    pub fn source_or_default(&self, name: &str) -> SourceConfig {
        self.source(name).cloned().unwrap_or_else(|| SourceConfig { name: name.to_owned(), ..self.on_demand.clone() })
    }

    /// The settings of `name` with `overrides` (field → value, as `PUT /rc/v1/sources/{id}`
    /// writes them) laid over the file's entry and read by the file's own parser, so a value
    /// set at run time means what it means in the file. An override replaces the file's
    /// key (`force_default` does not hide it). Fails like the file would for a bad value.
    pub fn source_with(
        &self,
        name: &str,
        overrides: &serde_json::Map<String, Json>,
    ) -> Result<SourceConfig, ConfigError> {
        let mut map = match self.raw_sources.get(name) {
            Some(Json::Object(map)) => map.clone(),
            _ => serde_json::Map::new(),
        };
        let mut env = self.env.clone();
        for (field, value) in overrides {
            let value = match (field.as_str(), value) {
                // Kept as JSON text, as RhoConnect shows it (`"[{\"brand\":\"Product\"}]"`).
                ("belongs_to", Json::String(text)) => serde_json::from_str(text)
                    .map_err(|e| ConfigError::Invalid(format!("source {name}: belongs_to must be a JSON list: {e}")))?,
                _ => normalise(value.clone()),
            };
            if field == "poll_interval" || field == "push_notify" {
                // These two fall back to the environment's `<key>_default`, which
                // `force_default` prefers over the source's own key: an explicit run-time
                // value must win either way.
                env.insert(format!("{field}_default"), value.clone());
            }
            map.insert(field.clone(), value);
        }
        SourceConfig::from_value(name, &Json::Object(map), &env)
    }
}

impl AppSettings {
    fn from_map(environment: &str, env: &serde_json::Map<String, Json>) -> Result<Self, ConfigError> {
        let device_auth = match opt_string(env, "device_auth")?.as_deref() {
            None | Some("local") => DeviceAuth::Local,
            Some("open") => DeviceAuth::Open,
            Some(other) => {
                return Err(ConfigError::Invalid(format!(":device_auth: must be local or open, not '{other}'")))
            }
        };
        let cors_origins = match env.get("cors_origins") {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::String(s)) => vec![s.clone()],
            Some(Json::Array(items)) => items.iter().map(scalar_string).collect(),
            Some(_) => return Err(ConfigError::Invalid(":cors_origins: must be a list".into())),
        };
        Ok(Self {
            environment: environment.to_owned(),
            syncserver: opt_string(env, "syncserver")?,
            redis: opt_string(env, "redis")?,
            api_token: opt_string(env, "api_token")?,
            secret: opt_string(env, "secret")?,
            legacy_secret: opt_string(env, "legacy_secret")?,
            appserver: opt_string(env, "appserver")?,
            bulk_sync_poll_interval: opt_uint(env, "bulk_sync_poll_interval")?.unwrap_or(3600),
            cookie_expire: opt_uint(env, "cookie_expire")?.unwrap_or(31_536_000),
            cookie_name: opt_string(env, "cookie_name")?.unwrap_or_else(|| "rhoconnect_session".to_owned()),
            cookie_secure: opt_bool(env, "cookie_secure")?.unwrap_or(false),
            store_key_ttl: opt_uint(env, "store_key_ttl")?.unwrap_or(86_400),
            plugin_timeout: opt_uint(env, "plugin_timeout")?.unwrap_or(30),
            device_auth,
            page_byte_cap: opt_uint(env, "page_byte_cap")?.unwrap_or(1024 * 1024) as usize,
            cors_origins,
            history_retention_secs: opt_uint(env, "history_retention_secs")?.unwrap_or(7 * 86_400),
            history_max_events: opt_uint(env, "history_max_events")?,
            stats: opt_bool(env, "stats")?.unwrap_or(true),
            push_server: opt_string(env, "push_server")?,
        })
    }
}

impl SourceConfig {
    fn from_value(name: &str, value: &Json, env: &serde_json::Map<String, Json>) -> Result<Self, ConfigError> {
        let empty = serde_json::Map::new();
        let map = match value {
            Json::Object(map) => map,
            Json::Null => &empty,
            _ => return Err(ConfigError::Invalid(format!("source {name}: must be a map"))),
        };
        let ctx = |e: ConfigError| match e {
            ConfigError::Invalid(m) => ConfigError::Invalid(format!("source {name}: {m}")),
            other => other,
        };
        if map.contains_key("schema") {
            return Err(ConfigError::Invalid(format!(
                "source {name}: 'schema' is not allowed in settings; the adapter provides it"
            )));
        }
        let adapter = match opt_string(map, "adapter").map_err(ctx)? {
            Some(kind) => AdapterKind::parse(name, &kind)?,
            // RC7 serves sources without a local model through the app server.
            None => AdapterKind::Plugin,
        };
        let adapter_options = match map.get("adapter_options") {
            None | Some(Json::Null) => serde_json::Map::new(),
            Some(Json::Object(o)) => o.clone(),
            Some(_) => return Err(ConfigError::Invalid(format!("source {name}: adapter_options must be a map"))),
        };
        let force_default = opt_bool(map, "force_default").map_err(ctx)?.unwrap_or(false);
        let defaulted = |key: &str| -> Option<&Json> {
            let own = if force_default { None } else { map.get(key) };
            own.or_else(|| env.get(&format!("{key}_default"))).or_else(|| env.get(key))
        };
        let poll_interval = match defaulted("poll_interval") {
            Some(v) => int_of(v)
                .ok_or_else(|| ConfigError::Invalid(format!("source {name}: poll_interval must be an integer")))?,
            None => 300,
        };
        let push_notify = match defaulted("push_notify") {
            Some(v) => bool_of(v)
                .ok_or_else(|| ConfigError::Invalid(format!("source {name}: push_notify must be a boolean")))?,
            None => false,
        };
        let partition_type = match opt_string(map, "partition_type").map_err(ctx)?.as_deref() {
            None | Some("user") => PartitionType::User,
            Some("app") => PartitionType::App,
            Some(other) => {
                return Err(ConfigError::Invalid(format!(
                    "source {name}: partition_type must be user or app, not '{other}'"
                )))
            }
        };
        let sync_type = match opt_string(map, "sync_type").map_err(ctx)?.as_deref() {
            None | Some("incremental") => SyncType::Incremental,
            Some("bulk_only") | Some("bulk_sync_only") => SyncType::BulkOnly,
            Some(other) => {
                return Err(ConfigError::Invalid(format!(
                    "source {name}: sync_type must be incremental or bulk_sync_only, not '{other}'"
                )))
            }
        };
        let queue = queue_flag(map.get("queue"));
        let belongs_to = match map.get("belongs_to") {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::Array(items)) => items
                .iter()
                .filter_map(|item| item.as_object())
                .flat_map(|o| o.iter().map(|(k, v)| (k.clone(), scalar_string(v))))
                .collect(),
            Some(_) => return Err(ConfigError::Invalid(format!("source {name}: belongs_to must be a list"))),
        };
        Ok(Self {
            name: name.to_owned(),
            adapter,
            adapter_options,
            poll_interval,
            partition_type,
            sync_type,
            priority: opt_int(map, "priority").map_err(ctx)?.unwrap_or(3),
            query_queued: queue_flag(map.get("query_queue")).unwrap_or(queue.unwrap_or(false)),
            cud_queued: cud_queued(map).map_err(ctx)?,
            find_duplicates_on_update: DuplicatePolicy::parse(name, map.get("find_duplicates_on_update"))?,
            pass_through: opt_bool(map, "pass_through").map_err(ctx)?.unwrap_or(false),
            push_notify,
            retry_limit: opt_int(map, "retry_limit").map_err(ctx)?.unwrap_or(0),
            simulate_time: opt_int(map, "simulate_time").map_err(ctx)?.unwrap_or(0),
            belongs_to,
            url: opt_string(map, "url").map_err(ctx)?.unwrap_or_default(),
            login: opt_string(map, "login").map_err(ctx)?.unwrap_or_default(),
            password: opt_string(map, "password").map_err(ctx)?.unwrap_or_default(),
        })
    }
}

/// RC7 names a queue (`queue: some_queue`); any non-empty name or `true` means "queued".
fn queue_flag(value: Option<&Json>) -> Option<bool> {
    match value? {
        Json::Null => None,
        Json::Bool(b) => Some(*b),
        Json::String(s) => Some(!s.is_empty() && s != "false"),
        _ => Some(true),
    }
}

/// YAML → JSON; YAML maps with non-string keys are rejected rather than guessed at.
fn yaml_to_json(value: serde_yaml_ng::Value) -> Result<Json, ConfigError> {
    use serde_yaml_ng::Value as Y;
    Ok(match value {
        Y::Null => Json::Null,
        Y::Bool(b) => Json::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Json::from(i)
            } else if let Some(u) = n.as_u64() {
                Json::from(u)
            } else {
                serde_json::Number::from_f64(n.as_f64().unwrap_or(0.0)).map_or(Json::Null, Json::Number)
            }
        }
        Y::String(s) => Json::String(s),
        Y::Sequence(items) => Json::Array(items.into_iter().map(yaml_to_json).collect::<Result<_, _>>()?),
        Y::Mapping(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => return Err(ConfigError::Invalid(format!("unsupported map key {other:?}"))),
                };
                out.insert(key, yaml_to_json(v)?);
            }
            Json::Object(out)
        }
        Y::Tagged(tagged) => yaml_to_json(tagged.value)?,
    })
}

/// Strips the Ruby-symbol colons: `:poll_interval:` and `poll_interval` are the same key.
fn normalise(value: Json) -> Json {
    match value {
        Json::Object(map) => {
            Json::Object(map.into_iter().map(|(k, v)| (k.trim_start_matches(':').to_owned(), normalise(v))).collect())
        }
        Json::Array(items) => Json::Array(items.into_iter().map(normalise).collect()),
        other => other,
    }
}

fn scalar_string(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

fn int_of(v: &Json) -> Option<i64> {
    match v {
        Json::Number(n) => n.as_i64(),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn bool_of(v: &Json) -> Option<bool> {
    match v {
        Json::Bool(b) => Some(*b),
        Json::String(s) if s == "true" => Some(true),
        Json::String(s) if s == "false" => Some(false),
        Json::Null => Some(false),
        _ => None,
    }
}

fn opt_string(map: &serde_json::Map<String, Json>, key: &str) -> Result<Option<String>, ConfigError> {
    match map.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Object(_)) | Some(Json::Array(_)) => Err(ConfigError::Invalid(format!("{key} must be a scalar"))),
        Some(v) => Ok(Some(scalar_string(v))),
    }
}

fn opt_int(map: &serde_json::Map<String, Json>, key: &str) -> Result<Option<i64>, ConfigError> {
    match map.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(v) => int_of(v).map(Some).ok_or_else(|| ConfigError::Invalid(format!("{key} must be an integer"))),
    }
}

fn opt_uint(map: &serde_json::Map<String, Json>, key: &str) -> Result<Option<u64>, ConfigError> {
    match opt_int(map, key)? {
        Some(n) if n < 0 => Err(ConfigError::Invalid(format!("{key} must not be negative"))),
        other => Ok(other.map(|n| n as u64)),
    }
}

fn opt_bool(map: &serde_json::Map<String, Json>, key: &str) -> Result<Option<bool>, ConfigError> {
    match map.get(key) {
        None => Ok(None),
        Some(v) => bool_of(v).map(Some).ok_or_else(|| ConfigError::Invalid(format!("{key} must be true or false"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
:development:
  :poll_interval_default: 201
  :syncserver: http://localhost:9292/application
:sources:
  Product:
    adapter: demo
    :poll_interval: 300
    partition_type: app
    priority: 5
  OtherAdapter:
    adapter: demo
    poll_interval: 300
    force_default: true
    priority: 1
  Plain:
    queue: adapters
"#;

    #[test]
    fn reads_rc7_style_keys_and_defaults() {
        let s = Settings::parse(SAMPLE, "development").expect("valid settings");
        let names: Vec<_> = s.sources.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["OtherAdapter", "Plain", "Product"], "sorted by priority");
        let product = s.source("Product").expect("Product");
        assert_eq!(product.poll_interval, 300);
        assert_eq!(product.partition_type, PartitionType::App);
        assert_eq!(s.source("OtherAdapter").expect("other").poll_interval, 201, "force_default");
        let plain = s.source("Plain").expect("plain");
        assert_eq!(plain.poll_interval, 201, "environment default");
        assert_eq!(plain.adapter, AdapterKind::Plugin);
        assert!(plain.query_queued && plain.cud_queued);
        assert!(!product.cud_queued, "writes are inline by default, as in RhoConnect");
        assert!(!product.query_queued, "queries are not");
        assert_eq!(s.app.syncserver.as_deref(), Some("http://localhost:9292/application"));
        assert_eq!(s.app.cookie_name, "rhoconnect_session");
    }

    #[test]
    fn inline_writes_and_duplicate_validator_are_per_source() {
        let text = ":sources:\n  A:\n    find_duplicates_on_update: true\n  B:\n    cud_queue: false\n    queue: q\n    find_duplicates_on_update: raise_error\n  C:\n    queue: q\n  E:\n    cud_queue: true\n";
        let s = Settings::parse(text, "development").expect("valid");
        let a = s.source("A").expect("A");
        assert!(!a.cud_queued);
        assert_eq!(a.find_duplicates_on_update, DuplicatePolicy::Skip);
        let b = s.source("B").expect("B");
        assert!(!b.cud_queued);
        assert_eq!(b.find_duplicates_on_update, DuplicatePolicy::RaiseError);
        assert!(b.query_queued, "queue: q still queues the refreshes");
        assert!(s.source("C").expect("C").cud_queued);
        assert!(s.source("E").expect("E").cud_queued);
        assert!(Settings::parse(":sources:\n  D:\n    find_duplicates_on_update: 3\n", "development").is_err());
    }

    #[test]
    fn rejects_unknown_adapter_kind() {
        let err = Settings::parse(":sources:\n  P:\n    adapter: soap\n", "development").expect_err("must fail");
        assert!(err.to_string().contains("unknown adapter kind 'soap'"), "{err}");
    }

    #[test]
    fn rejects_schema_setting_and_malformed_yaml() {
        let err = Settings::parse(":sources:\n  P:\n    schema: {}\n", "development").expect_err("schema");
        assert!(err.to_string().contains("schema"), "{err}");
        let err = Settings::parse(":sources: [unclosed\n", "development").expect_err("yaml");
        assert!(err.to_string().contains("malformed YAML"), "{err}");
    }
}
