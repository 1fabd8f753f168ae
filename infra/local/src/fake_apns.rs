//! A fake APNs server for the local stack (`rhosync-local fake-apns`, started by
//! `infra/dev --fake-push`) and the CLI's end-to-end test: the fake APNs of
//! `rhosync-fake-push` (HTTP/2 over TLS with a certificate made at start, `200` with an
//! `apns-id`), counting requests without keeping them, and logging each request (method,
//! path, headers, payload) as one JSON line to a file.
//!
//! Start writes, into its directory: `ca.pem` (the certificate to trust, for
//! `:apns_ca_file:`), `AuthKey_FAKEAPNS01.p8` (a fresh ES256 key the push worker signs
//! its provider tokens with; the fake does not check them) and the log `fake-apns.log`.
//! [`settings_with`] adds the matching keys of `docs/push.md §8` to a settings file.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rhosync_fake_push::{apns, Fake, Options, Recorded, Recording, Script, Tls};

/// The key id written into the settings [`settings_with`] makes.
pub const KEY_ID: &str = "FAKEAPNS01";
/// The team id written into those settings.
pub const TEAM_ID: &str = "FAKETEAM01";
/// The default topic written into those settings.
pub const TOPIC: &str = "com.example.rhosync.demo";

#[derive(Debug, thiserror::Error)]
pub enum FakeApnsError {
    #[error("cannot make the certificate or key: {0}")]
    Key(String),
    #[error("{path}: {source}")]
    File { path: PathBuf, source: std::io::Error },
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("settings file: {0}")]
    Settings(String),
}

/// A running fake APNs server; stops when dropped.
pub struct FakeApns {
    pub addr: SocketAddr,
    /// `https://127.0.0.1:<port>`: the `:apns_endpoint:`.
    pub url: String,
    pub ca_file: PathBuf,
    pub key_file: PathBuf,
    pub log_file: PathBuf,
    /// What the fake answers per device token (all `200` unless told otherwise).
    pub script: Arc<Script>,
    _server: Fake,
}

fn write_file(path: PathBuf, text: &str) -> Result<PathBuf, FakeApnsError> {
    std::fs::write(&path, text).map_err(|source| FakeApnsError::File { path: path.clone(), source })?;
    Ok(path)
}

/// Makes the certificate and key in `dir`, listens on `bind` (port 0 picks a free one)
/// and serves until dropped.
pub async fn start(dir: &Path, bind: SocketAddr) -> Result<FakeApns, FakeApnsError> {
    std::fs::create_dir_all(dir).map_err(|source| FakeApnsError::File { path: dir.to_owned(), source })?;
    let tls = Tls::generate().map_err(|e| FakeApnsError::Key(e.to_string()))?;
    let ca_file = write_file(dir.join("ca.pem"), &tls.cert_pem)?;
    let signing =
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| FakeApnsError::Key(e.to_string()))?;
    let key_file = write_file(dir.join(format!("AuthKey_{KEY_ID}.p8")), &signing.serialize_pem())?;
    let log_file = dir.join("fake-apns.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_file)
        .map_err(|source| FakeApnsError::File { path: log_file.clone(), source })?;
    let log = Mutex::new(log);
    let counter = AtomicU64::new(0);
    let script = Script::new();
    let answer = apns::reply(script.clone());
    let reply = Arc::new(move |r: &Recorded| {
        let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
        let line = log_line(n, r);
        {
            let mut file = log.lock().unwrap_or_else(|p| p.into_inner());
            // A log line that cannot be written is lost; the answer still goes out.
            let _ = writeln!(file, "{line}");
        }
        answer(r)
    });
    let options = Options { bind, ..Options::tls(tls) }.recording(Recording::Count).device_of(apns::token_of);
    let server = Fake::start(reply, options).await.map_err(|e| match e {
        rhosync_fake_push::FakeError::Bind { addr, source } => FakeApnsError::Bind { addr, source },
        other => FakeApnsError::Key(other.to_string()),
    })?;
    Ok(FakeApns { addr: server.addr, url: server.url.clone(), ca_file, key_file, log_file, script, _server: server })
}

/// One request as a JSON log line.
fn log_line(n: u64, r: &Recorded) -> serde_json::Value {
    let headers: serde_json::Map<String, serde_json::Value> = r
        .headers
        .iter()
        .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned().into()))
        .collect();
    let payload =
        serde_json::from_slice::<serde_json::Value>(&r.body).unwrap_or_else(|_| serde_json::Value::from(r.text()));
    serde_json::json!({
        "n": n,
        "method": r.method,
        "path": r.path,
        "version": format!("{:?}", r.version),
        "headers": headers,
        "payload": payload,
    })
}

/// `base_yaml` (a settings file) with the fake's APNs keys (`docs/push.md §8`) added to
/// every environment section, and `:push_notify_default: true` so that backend pushes
/// ping (`docs/push.md §1`) unless a source says otherwise.
pub fn settings_with(base_yaml: &str, fake: &FakeApns) -> Result<String, FakeApnsError> {
    use serde_yaml_ng::Value;
    let mut doc: Value = serde_yaml_ng::from_str(base_yaml).map_err(|e| FakeApnsError::Settings(e.to_string()))?;
    let Some(top) = doc.as_mapping_mut() else {
        return Err(FakeApnsError::Settings("the settings file is not a mapping".into()));
    };
    let entries = [
        (":apns_endpoint", fake.url.clone()),
        (":apns_ca_file", fake.ca_file.display().to_string()),
        (":apns_key_file", fake.key_file.display().to_string()),
        (":apns_key_id", KEY_ID.to_owned()),
        (":apns_team_id", TEAM_ID.to_owned()),
        (":apns_topic", TOPIC.to_owned()),
    ];
    for (name, section) in top.iter_mut() {
        let name = name.as_str().unwrap_or_default().trim_matches(':');
        if name == "sources" {
            continue;
        }
        let Some(section) = section.as_mapping_mut() else { continue };
        // YAML reads `:key: value` as the key `:key`; drop the same keys written without
        // the colon, so ours are the ones read.
        for (key, _) in &entries {
            section.remove(key.trim_start_matches(':'));
        }
        section.remove("push_notify_default");
        for (key, value) in &entries {
            section.insert(Value::from(*key), Value::from(value.as_str()));
        }
        section.insert(Value::from(":push_notify_default"), Value::from(true));
    }
    serde_yaml_ng::to_string(&doc).map_err(|e| FakeApnsError::Settings(e.to_string()))
}
