//! The push benchmark's parts (scenario `push`, run by `crate::scenarios`): one ping to
//! many registered devices, delivered by the push worker's own code to the fake APNs and
//! FCM of `rhosync-fake-push`, beside a floor — a bare HTTP/2 client replaying the very
//! requests the worker sent to the same fakes. See docs/push.md "Benchmark".
//!
//! - here: the keys and the worker's settings file ([`Setup`]) and the floor's plan (the
//!   recorded requests, [`PlanEntry`]);
//! - `worker`: `rhosync-bench push-worker`, the push worker alone in a child process (the
//!   local runner's SQS consumer over the push queue, nothing else), so its CPU is read
//!   from `/proc` apart from the fakes and the load generator;
//! - `floor`: `rhosync-bench push-floor`, the floor's child process.
//!
//! Both children talk to the parent over stdin/stdout: a line `ready` once set up, then
//! (the floor) `go` from the parent, `done …` when finished; closing stdin stops them.

pub mod floor;
pub mod worker;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// The next line of stdin (read on a blocking thread: tokio's stdin is not built here).
pub async fn stdin_line() -> Result<String> {
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await
    .context("reading stdin")?
    .context("reading stdin")
}

/// Returns once stdin is closed (the parent's signal to stop, or its death).
pub async fn stdin_closed() {
    let _ = tokio::task::spawn_blocking(|| {
        use std::io::Read;
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    })
    .await;
}

/// The access token the fake FCM hands out.
pub const FCM_ACCESS_TOKEN: &str = "ya29.bench-access-token";
/// The APNs topic the bench devices register (`device_app_id`).
pub const APP_ID: &str = "com.example.rhosync.bench";
/// The APNs key id and team id in the worker's settings.
pub const APNS_KEY_ID: &str = "BENCHKEY01";
pub const APNS_TEAM_ID: &str = "BENCHTEAM1";

/// Key files and the settings file of the worker, in one directory.
pub struct Setup {
    pub dir: PathBuf,
    pub ca_file: PathBuf,
    pub settings: PathBuf,
}

impl Setup {
    /// Writes fresh keys (an ES256 `.p8` for APNs, an RSA service account for FCM whose
    /// `token_uri` is the fake FCM's), the fakes' certificate and `base_settings` with the
    /// push keys added to its `:development:` section.
    pub fn write(dir: &Path, base_settings: &str, apns_url: &str, fcm_url: &str, ca_pem: &str) -> Result<Setup> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let write = |name: &str, text: &str| -> Result<PathBuf> {
            let path = dir.join(name);
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            Ok(path)
        };
        let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).context("APNs key")?;
        let rsa = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
            .context("FCM service-account key")?;
        let account = serde_json::json!({
            "type": "service_account",
            "project_id": "bench-project",
            "private_key_id": "bench-key-1",
            "private_key": rsa.serialize_pem(),
            "client_email": "push@bench-project.iam.gserviceaccount.com",
            "token_uri": format!("{fcm_url}{}", rhosync_fake_push::fcm::TOKEN_PATH),
        });
        let p8 = write(&format!("AuthKey_{APNS_KEY_ID}.p8"), &ec.serialize_pem())?;
        let sa = write("service-account.json", &account.to_string())?;
        let ca_file = write("ca.pem", ca_pem)?;
        let keys = [
            format!(":apns_endpoint: {apns_url}"),
            format!(":apns_ca_file: {}", ca_file.display()),
            format!(":apns_key_file: {}", p8.display()),
            format!(":apns_key_id: {APNS_KEY_ID}"),
            format!(":apns_team_id: {APNS_TEAM_ID}"),
            format!(":apns_topic: {APP_ID}"),
            ":fcm_project_id: bench-project".to_owned(),
            ":package_name: com.example.rhosync.bench".to_owned(),
            format!(":fcm_service_account: {}", sa.display()),
            format!(":fcm_endpoint: {fcm_url}"),
        ]
        .map(|line| format!("  {line}\n"))
        .concat();
        let Some((head, tail)) = base_settings.split_once(":development:\n") else {
            anyhow::bail!("the bench settings have no :development: section");
        };
        let settings = write("settings.yml", &format!("{head}:development:\n{keys}{tail}"))?;
        Ok(Setup { dir: dir.to_owned(), ca_file, settings })
    }
}

/// Which fake a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum To {
    Apns,
    Fcm,
}

/// One request of the floor's plan: what the worker sent, as the fake recorded it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanEntry {
    pub to: To,
    pub path: String,
    /// Every header but those the client sets itself (`host`, `content-length`).
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl PlanEntry {
    pub fn of(to: To, r: &rhosync_fake_push::Recorded) -> PlanEntry {
        let headers = r
            .headers
            .iter()
            .filter(|(name, _)| !matches!(name.as_str(), "host" | "content-length"))
            .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect();
        PlanEntry { to, path: r.path.clone(), headers, body: r.text() }
    }
}
