//! Fake push services on a local port: the one implementation that the push end-to-end
//! tests (`tests/tests/push_*`), the local runner (`rhosync-local fake-apns`,
//! `infra/dev --fake-push`) and the benchmark (`rhosync-bench`, scenario `push`) share.
//!
//! * [`Fake`] — an HTTP server (plain HTTP/1.1 and h2c, or HTTP/2 over TLS with a
//!   certificate made at start, [`Tls::generate`]) answering each request through a
//!   [`Reply`] and recording it: every request in full ([`Recording::All`]), or only the
//!   counts ([`Recording::Count`]: how many, per device, the first and the last arrival),
//!   which is what a long-running fake or a large benchmark wants;
//! * [`apns`] — APNs' provider API (`POST /3/device/<token>`): `200` with an `apns-id`, or
//!   what a [`Script`] says for a token (`410 Unregistered`, `429`, `5xx`, …);
//! * [`fcm`] — FCM HTTP v1: the OAuth2 token endpoint ([`fcm::TOKEN_PATH`]) and
//!   `messages:send`, scripted per registration token the same way.
//!
//! The crate depends on no rhosync crate, so every crate that needs a fake can depend on
//! it without a cycle. What each service is sent is described in docs/push.md §6.

pub mod apns;
pub mod fcm;

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::rustls;

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub version: http::Version,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }

    /// The body as JSON (panics when it is not: a test helper).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{} body is not JSON: {e}", self.path))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Status, extra headers and body of a reply.
pub type Answer = (u16, Vec<(&'static str, String)>, String);
/// How a fake answers a request.
pub type Reply = Arc<dyn Fn(&Recorded) -> Answer + Send + Sync>;
/// Which device a request is for (APNs: the token in the path; FCM: the body's token).
pub type DeviceOf = fn(&Recorded) -> Option<String>;

/// `200` with an empty body, for everything.
pub fn ok() -> Reply {
    Arc::new(|_| (200, Vec::new(), String::new()))
}

/// What a fake keeps of the requests it got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recording {
    /// Every request, in full, and the counts.
    All,
    /// Only the counts: the total, per device, and the first and last arrival.
    Count,
}

#[derive(Debug)]
pub enum FakeError {
    /// The certificate or its TLS configuration could not be made.
    Tls(String),
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl std::fmt::Display for FakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FakeError::Tls(e) => write!(f, "cannot make the fake's certificate: {e}"),
            FakeError::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
        }
    }
}

impl std::error::Error for FakeError {}

/// A TLS acceptor (ALPN `h2`) with a fresh self-signed certificate for `127.0.0.1` and
/// `localhost`.
#[derive(Clone)]
pub struct Tls {
    acceptor: tokio_rustls::TlsAcceptor,
    /// The certificate, PEM: what a client must trust (`:apns_ca_file:`).
    pub cert_pem: String,
}

impl Tls {
    pub fn generate() -> Result<Tls, FakeError> {
        let e = |e: &dyn std::fmt::Display| FakeError::Tls(e.to_string());
        let key = rcgen::KeyPair::generate().map_err(|x| e(&x))?;
        let params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).map_err(|x| e(&x))?;
        let cert = params.self_signed(&key).map_err(|x| e(&x))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|x| e(&x))?
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .map_err(|x| e(&x))?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Tls { acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)), cert_pem: cert.pem() })
    }
}

/// How to start a fake.
#[derive(Clone)]
pub struct Options {
    /// Port 0 picks a free one.
    pub bind: SocketAddr,
    /// `None` serves plain HTTP/1.1 (and h2c).
    pub tls: Option<Tls>,
    pub recording: Recording,
    /// Counts requests per device when given.
    pub device_of: Option<DeviceOf>,
}

impl Options {
    /// Plain HTTP on a free loopback port, recording everything.
    pub fn plain() -> Options {
        Options { bind: SocketAddr::from(([127, 0, 0, 1], 0)), tls: None, recording: Recording::All, device_of: None }
    }

    /// HTTP/2 over TLS with `tls` on a free loopback port, recording everything.
    pub fn tls(tls: Tls) -> Options {
        Options { tls: Some(tls), ..Options::plain() }
    }

    pub fn recording(mut self, recording: Recording) -> Options {
        self.recording = recording;
        self
    }

    pub fn device_of(mut self, device_of: DeviceOf) -> Options {
        self.device_of = Some(device_of);
        self
    }
}

#[derive(Debug, Default)]
struct Log {
    requests: Vec<Recorded>,
    total: u64,
    /// Requests counted for a device.
    device_requests: u64,
    devices: HashMap<String, u32>,
    first: Option<Instant>,
    last: Option<Instant>,
}

struct Shared {
    recording: Recording,
    device_of: Option<DeviceOf>,
    log: Mutex<Log>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Log> {
        // Every change is made under one lock and leaves the log whole.
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running fake server; stops when dropped.
pub struct Fake {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:<port>` or `https://…`.
    pub url: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Fake {
    /// Listens on `options.bind` and serves `reply` until dropped.
    pub async fn start(reply: Reply, options: Options) -> Result<Fake, FakeError> {
        let bind = options.bind;
        let listener = TcpListener::bind(bind).await.map_err(|source| FakeError::Bind { addr: bind, source })?;
        let addr = listener.local_addr().map_err(|source| FakeError::Bind { addr: bind, source })?;
        let scheme = if options.tls.is_some() { "https" } else { "http" };
        let shared = Arc::new(Shared {
            recording: options.recording,
            device_of: options.device_of,
            log: Mutex::new(Log::default()),
        });
        let state = shared.clone();
        let tls = options.tls.map(|t| t.acceptor);
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let _ = tcp.set_nodelay(true);
                let (state, reply, tls) = (state.clone(), reply.clone(), tls.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| handle(state.clone(), reply.clone(), req));
                    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    let _ = match tls {
                        Some(acceptor) => match acceptor.accept(tcp).await {
                            Ok(stream) => builder.serve_connection(TokioIo::new(stream), service).await,
                            Err(_) => return,
                        },
                        None => builder.serve_connection(TokioIo::new(tcp), service).await,
                    };
                });
            }
        });
        Ok(Fake { addr, url: format!("{scheme}://127.0.0.1:{}", addr.port()), shared, task })
    }

    /// Every request so far, oldest first (empty with [`Recording::Count`]).
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    /// Takes the recorded requests out, leaving the counts.
    pub fn take_requests(&self) -> Vec<Recorded> {
        std::mem::take(&mut self.shared.lock().requests)
    }

    /// Requests whose path starts with `prefix`.
    pub fn to(&self, prefix: &str) -> Vec<Recorded> {
        self.shared.lock().requests.iter().filter(|r| r.path.starts_with(prefix)).cloned().collect()
    }

    /// Waits until `count` requests to `prefix` arrived; panics after 20 s (a test helper).
    pub async fn wait_for(&self, prefix: &str, count: usize) -> Vec<Recorded> {
        for _ in 0..200 {
            let got = self.to(prefix);
            if got.len() >= count {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{count} request(s) to {prefix} expected, got {:?}", self.to(prefix));
    }

    /// How many requests arrived (whatever the recording).
    pub fn received(&self) -> u64 {
        self.shared.lock().total
    }

    /// How many requests were for a device ([`Options::device_of`]).
    pub fn device_requests(&self) -> u64 {
        self.shared.lock().device_requests
    }

    /// Requests per device, for a fake started with [`Options::device_of`].
    pub fn devices(&self) -> HashMap<String, u32> {
        self.shared.lock().devices.clone()
    }

    /// When the first and the last request arrived (device requests only, when the fake
    /// counts devices).
    pub fn window(&self) -> Option<(Instant, Instant)> {
        let log = self.shared.lock();
        log.first.zip(log.last)
    }

    /// Forgets everything recorded and counted.
    pub fn reset(&self) {
        *self.shared.lock() = Log::default();
    }
}

async fn handle(state: Arc<Shared>, reply: Reply, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
        version: parts.version,
        headers: parts.headers,
        body,
    };
    let (status, headers, text) = reply(&recorded);
    let device = state.device_of.and_then(|f| f(&recorded));
    {
        let now = Instant::now();
        let mut log = state.lock();
        log.total += 1;
        // With a device key, the window spans the device requests (not, say, FCM's
        // token requests); without one, every request.
        if device.is_some() || state.device_of.is_none() {
            log.first.get_or_insert(now);
            log.last = Some(now);
        }
        if let Some(device) = device {
            log.device_requests += 1;
            *log.devices.entry(device).or_default() += 1;
        }
        if state.recording == Recording::All {
            log.requests.push(recorded);
        }
    }
    let mut response = Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(name, value);
    }
    let fallback = || {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        r
    };
    Ok(response.body(Full::new(Bytes::from(text))).unwrap_or_else(|_| fallback()))
}

/// Answers scripted per device token: a status every time ([`Script::always`]) or for the
/// next requests only ([`Script::once`]); anything not scripted is a success.
#[derive(Debug, Default)]
pub struct Script {
    inner: Mutex<ScriptInner>,
}

#[derive(Debug, Default)]
struct ScriptInner {
    always: HashMap<String, u16>,
    once: HashMap<String, VecDeque<u16>>,
}

impl Script {
    pub fn new() -> Arc<Script> {
        Arc::new(Script::default())
    }

    fn lock(&self) -> MutexGuard<'_, ScriptInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every request for `token` is answered `status`.
    pub fn always(&self, token: &str, status: u16) {
        self.lock().always.insert(token.to_owned(), status);
    }

    /// The next request for `token` is answered `status` (queued after earlier ones).
    pub fn once(&self, token: &str, status: u16) {
        self.lock().once.entry(token.to_owned()).or_default().push_back(status);
    }

    /// The status for a request to `token`, if scripted.
    pub fn status_for(&self, token: &str) -> Option<u16> {
        let mut inner = self.lock();
        if let Some(status) = inner.once.get_mut(token).and_then(VecDeque::pop_front) {
            return Some(status);
        }
        inner.always.get(token).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: &str, body: &str) -> Recorded {
        Recorded {
            method: "POST".into(),
            path: path.into(),
            version: http::Version::HTTP_2,
            headers: http::HeaderMap::new(),
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn scripts_answer_once_then_always_then_succeed() {
        let script = Script::new();
        script.always("dead", 410);
        script.once("busy", 429);
        script.once("busy", 503);
        assert_eq!(script.status_for("busy"), Some(429));
        assert_eq!(script.status_for("busy"), Some(503));
        assert_eq!(script.status_for("busy"), None);
        assert_eq!(script.status_for("dead"), Some(410));
        assert_eq!(script.status_for("dead"), Some(410));
        assert_eq!(script.status_for("other"), None);
    }

    #[test]
    fn apns_answers_per_token() {
        let script = Script::new();
        script.always("dead", 410);
        let reply = apns::reply(script);
        let (status, headers, body) = reply(&request("/3/device/ok", "{}"));
        assert_eq!((status, body.as_str()), (200, ""));
        assert!(headers.iter().any(|(n, _)| *n == "apns-id"));
        let (status, _, body) = reply(&request("/3/device/dead", "{}"));
        assert_eq!(status, 410);
        assert!(body.contains("Unregistered"), "{body}");
        assert_eq!(apns::token_of(&request("/3/device/abc", "")).as_deref(), Some("abc"));
        assert_eq!(apns::token_of(&request("/other", "")), None);
    }

    #[test]
    fn fcm_hands_out_a_token_and_answers_per_registration_token() {
        let script = Script::new();
        script.always("gone", 404);
        let reply = fcm::reply(script, "ya29.x");
        let (status, _, body) = reply(&request(fcm::TOKEN_PATH, "grant_type=x"));
        assert_eq!(status, 200);
        assert!(body.contains(r#""access_token":"ya29.x""#), "{body}");
        let send = "/v1/projects/p/messages:send";
        let (status, _, _) = reply(&request(send, r#"{"message":{"token":"t1"}}"#));
        assert_eq!(status, 200);
        let gone = request(send, r#"{"message":{"token":"gone"}}"#);
        let (status, _, body) = reply(&gone);
        assert_eq!(status, 404);
        assert!(body.contains("UNREGISTERED"), "{body}");
        assert_eq!(fcm::token_of(&gone).as_deref(), Some("gone"));
        assert_eq!(fcm::token_of(&request(fcm::TOKEN_PATH, "")), None);
    }

    #[tokio::test]
    async fn counting_keeps_no_requests_but_counts_devices_and_the_window() {
        let options = Options::plain().recording(Recording::Count).device_of(apns::token_of);
        let fake = Fake::start(apns::reply(Script::new()), options).await.expect("fake");
        let addr = fake.addr;
        // One raw HTTP/1.1 request per connection: no client crate needed here.
        for token in ["a", "b", "a"] {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let req = format!(
                "POST /3/device/{token} HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
            );
            tcp.write_all(req.as_bytes()).await.expect("write");
            let mut answer = Vec::new();
            tcp.read_to_end(&mut answer).await.expect("read");
            assert!(answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
        }
        assert_eq!((fake.received(), fake.device_requests()), (3, 3));
        assert!(fake.requests().is_empty());
        assert_eq!(fake.devices().get("a"), Some(&2));
        assert!(fake.window().is_some());
        fake.reset();
        assert_eq!(fake.received(), 0);
    }
}
