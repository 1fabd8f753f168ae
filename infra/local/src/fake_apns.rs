//! A fake APNs server for the local stack (`rhosync-local fake-apns`, started by
//! `infra/dev --fake-push`) and the end-to-end tests: HTTP/2 over TLS with a certificate
//! made at start, answering every request `200` with an `apns-id`, and logging each
//! request (method, path, headers, payload) as one JSON line to a file.
//!
//! Start writes, into its directory: `ca.pem` (the certificate to trust, for
//! `:apns_ca_file:`), `AuthKey_FAKEAPNS01.p8` (a fresh ES256 key the push worker signs
//! its provider tokens with; the fake does not check them) and the log `fake-apns.log`.
//! [`settings_with`] adds the matching keys of `docs/push.md §8` to a settings file.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::rustls;

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
    task: JoinHandle<()>,
}

impl Drop for FakeApns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn write_file(path: PathBuf, text: &str) -> Result<PathBuf, FakeApnsError> {
    std::fs::write(&path, text).map_err(|source| FakeApnsError::File { path: path.clone(), source })?;
    Ok(path)
}

/// Makes the certificate and key in `dir`, listens on `bind` (port 0 picks a free one)
/// and serves until dropped.
pub async fn start(dir: &Path, bind: SocketAddr) -> Result<FakeApns, FakeApnsError> {
    std::fs::create_dir_all(dir).map_err(|source| FakeApnsError::File { path: dir.to_owned(), source })?;
    let key_err = |e: &dyn std::fmt::Display| FakeApnsError::Key(e.to_string());
    let tls_key = rcgen::KeyPair::generate().map_err(|e| key_err(&e))?;
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).map_err(|e| key_err(&e))?;
    let cert = params.self_signed(&tls_key).map_err(|e| key_err(&e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| key_err(&e))?
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(tls_key.serialize_der().into()),
        )
        .map_err(|e| key_err(&e))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

    let ca_file = write_file(dir.join("ca.pem"), &cert.pem())?;
    let signing = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| key_err(&e))?;
    let key_file = write_file(dir.join(format!("AuthKey_{KEY_ID}.p8")), &signing.serialize_pem())?;
    let log_file = dir.join("fake-apns.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_file)
        .map_err(|source| FakeApnsError::File { path: log_file.clone(), source })?;
    let log = Arc::new(Mutex::new(log));

    let listener = TcpListener::bind(bind).await.map_err(|source| FakeApnsError::Bind { addr: bind, source })?;
    let addr = listener.local_addr().map_err(|source| FakeApnsError::Bind { addr: bind, source })?;
    let counter = Arc::new(AtomicU64::new(0));
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, log, counter) = (acceptor.clone(), log.clone(), counter.clone());
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else { return };
                let service = hyper::service::service_fn(move |req| handle(log.clone(), counter.clone(), req));
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = builder.serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    Ok(FakeApns { addr, url: format!("https://127.0.0.1:{}", addr.port()), ca_file, key_file, log_file, task })
}

async fn handle(
    log: Arc<Mutex<std::fs::File>>,
    counter: Arc<AtomicU64>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
    let headers: serde_json::Map<String, serde_json::Value> = parts
        .headers
        .iter()
        .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned().into()))
        .collect();
    let payload = serde_json::from_slice::<serde_json::Value>(&body)
        .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned().into());
    let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
    let line = serde_json::json!({
        "n": n,
        "method": parts.method.as_str(),
        "path": parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
        "version": format!("{:?}", parts.version),
        "headers": headers,
        "payload": payload,
    });
    {
        let mut file = log.lock().unwrap_or_else(|p| p.into_inner());
        // A log line that cannot be written is lost; the answer still goes out.
        let _ = writeln!(file, "{line}");
    }
    let apns_id = format!("00000000-0000-4000-8000-{n:012x}");
    let response = Response::builder().status(200).header("apns-id", apns_id).body(Full::new(Bytes::new()));
    Ok(response.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
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
