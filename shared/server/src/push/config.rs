//! Push settings (docs/push.md §8): the keys of the settings file's environment section,
//! with a few environment variables that win over them, so a deployment can name its
//! secrets and a test or an emulator can point the services at local servers.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Where a key lives: a file (relative paths are read beside the settings file) or an
/// AWS Secrets Manager secret (its name or ARN). A file named in the settings wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    File(PathBuf),
    Secret(String),
}

/// APNs production and sandbox hosts (docs/push.md §6.1).
pub const APNS_PRODUCTION: &str = "https://api.push.apple.com";
pub const APNS_SANDBOX: &str = "https://api.sandbox.push.apple.com";
/// FCM's API host and Google's OAuth2 token endpoint (docs/push.md §6.2).
pub const FCM_ENDPOINT: &str = "https://fcm.googleapis.com";
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// Devices one push job sends to before the rest is split into chunk jobs.
pub const DEFAULT_CHUNK_SIZE: usize = 200;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApnsSettings {
    /// Base URL (`https://api.push.apple.com`, the sandbox, or an override).
    pub endpoint: String,
    /// Whether an endpoint was named explicitly (by setting or environment).
    pub endpoint_set: bool,
    /// Provider token key (.p8), with its key id and team id.
    pub key: Option<KeySource>,
    pub key_id: Option<String>,
    pub team_id: Option<String>,
    /// The topic of devices that registered no `device_app_id`.
    pub topic: Option<String>,
    /// An extra trusted root certificate (PEM), for emulators with their own CA.
    pub ca_file: Option<PathBuf>,
}

impl ApnsSettings {
    /// RhoConnect ignored pings when APNs had neither credentials nor a server.
    pub fn is_configured(&self) -> bool {
        self.key.is_some() || self.endpoint_set
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FcmSettings {
    pub project_id: Option<String>,
    pub package_name: Option<String>,
    /// The service-account key (JSON).
    pub service_account: Option<KeySource>,
    pub endpoint: String,
    /// Overrides the key's own `token_uri`.
    pub token_uri: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushSettings {
    pub apns: ApnsSettings,
    pub fcm: FcmSettings,
    /// RhoConnect Push Service URL, app name and password as userinfo.
    pub push_server: Option<String>,
    /// URL the `webhook` push type posts to.
    pub webhook: Option<String>,
    pub chunk_size: usize,
}

fn text(map: &Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl PushSettings {
    /// Reads `env_section` (the settings file's environment section, keys without colons);
    /// relative file names are resolved against `settings_dir`; `var` looks up the
    /// environment variables that override settings.
    pub fn from_settings(
        env_section: &Map<String, Value>,
        settings_dir: Option<&Path>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let var = |key: &str| var(key).filter(|v| !v.trim().is_empty());
        let file = |name: String| {
            let path = PathBuf::from(name);
            match settings_dir {
                Some(dir) if path.is_relative() => dir.join(path),
                _ => path,
            }
        };
        let key_source = |secret_var: &str, setting: &str, fallback_var: Option<&str>| {
            // A key file named in the settings wins over the deployment's secret.
            text(env_section, setting)
                .map(|f| KeySource::File(file(f)))
                .or_else(|| var(secret_var).map(KeySource::Secret))
                .or_else(|| fallback_var.and_then(&var).map(|f| KeySource::File(PathBuf::from(f))))
        };
        let sandbox = match text(env_section, "apns_environment").as_deref() {
            Some("sandbox") | Some("development") => true,
            Some(_) => false,
            None => text(env_section, "iphoneserver").is_some_and(|s| s.contains("sandbox")),
        };
        let explicit = var("RHOSYNC_APNS_ENDPOINT").or_else(|| text(env_section, "apns_endpoint"));
        let apns = ApnsSettings {
            endpoint_set: explicit.is_some(),
            endpoint: explicit
                .unwrap_or_else(|| if sandbox { APNS_SANDBOX } else { APNS_PRODUCTION }.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            key: key_source("RHOSYNC_APNS_KEY_SECRET", "apns_key_file", None),
            key_id: text(env_section, "apns_key_id"),
            team_id: text(env_section, "apns_team_id"),
            topic: text(env_section, "apns_topic"),
            ca_file: var("RHOSYNC_APNS_CA_FILE")
                .map(PathBuf::from)
                .or_else(|| text(env_section, "apns_ca_file").map(file)),
        };
        let fcm = FcmSettings {
            project_id: text(env_section, "fcm_project_id"),
            package_name: text(env_section, "package_name"),
            service_account: key_source(
                "RHOSYNC_FCM_SERVICE_ACCOUNT_SECRET",
                "fcm_service_account",
                Some("GOOGLE_APPLICATION_CREDENTIALS"),
            ),
            endpoint: var("RHOSYNC_FCM_ENDPOINT")
                .or_else(|| text(env_section, "fcm_endpoint"))
                .unwrap_or_else(|| FCM_ENDPOINT.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            token_uri: var("RHOSYNC_FCM_TOKEN_URI").or_else(|| text(env_section, "fcm_token_uri")),
        };
        let chunk_size = match env_section.get("push_chunk_size") {
            Some(Value::Number(n)) => n.as_u64().map(|n| n as usize),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_CHUNK_SIZE);
        Self {
            apns,
            fcm,
            push_server: text(env_section, "push_server"),
            webhook: var("RHOSYNC_PUSH_WEBHOOK").or_else(|| text(env_section, "push_webhook")),
            chunk_size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn section(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn hosts_follow_the_environment_settings_and_overrides() {
        let none = |_: &str| None;
        let s = PushSettings::from_settings(&section(json!({})), None, none);
        assert_eq!(s.apns.endpoint, APNS_PRODUCTION);
        assert!(!s.apns.is_configured());
        assert_eq!(s.chunk_size, DEFAULT_CHUNK_SIZE);
        let s = PushSettings::from_settings(
            &section(json!({"iphoneserver": "gateway.sandbox.push.apple.com", "apns_key_file": "k.p8"})),
            Some(Path::new("/etc/app")),
            none,
        );
        assert_eq!(s.apns.endpoint, APNS_SANDBOX);
        assert_eq!(s.apns.key, Some(KeySource::File(PathBuf::from("/etc/app/k.p8"))));
        let s = PushSettings::from_settings(
            &section(json!({"apns_environment": "production", "iphoneserver": "sandbox", "push_chunk_size": 2,
                "fcm_service_account": "/abs/sa.json"})),
            None,
            |k: &str| match k {
                "RHOSYNC_APNS_ENDPOINT" => Some("https://127.0.0.1:9/".into()),
                "RHOSYNC_APNS_KEY_SECRET" => Some("arn:apns".into()),
                _ => None,
            },
        );
        assert_eq!(s.apns.endpoint, "https://127.0.0.1:9");
        assert_eq!(s.apns.key, Some(KeySource::Secret("arn:apns".into())));
        assert_eq!(s.fcm.service_account, Some(KeySource::File(PathBuf::from("/abs/sa.json"))));
        assert_eq!(s.chunk_size, 2);
    }
}
