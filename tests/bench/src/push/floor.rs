//! `rhosync-bench push-floor`: the push benchmark's floor, in its own process. It reads the
//! plan (the requests the worker sent, as the fakes recorded them: paths, headers with the
//! provider and access tokens already made, bodies), builds every request up front, and on
//! `go` sends them all to the same fakes with the worker's HTTP clients — `reqwest` built
//! as `shared/server/src/push/apns.rs` and `fcm.rs` build theirs (HTTP/2 with prior
//! knowledge over rustls for APNs, the fake's certificate trusted; FCM's client as it is)
//! — and as many requests in flight as the worker can have: a chunk's sends in flight
//! times the chunks of one SQS batch times the batches in work at once. Then prints `done <sent> <failed>`.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use futures::stream::{self, StreamExt};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::{PlanEntry, To};

/// The worker's limit: sends in flight per chunk job × chunk jobs per SQS batch × batches
/// in work at once.
pub fn worker_concurrency() -> usize {
    rhosync_server::push::service::CONCURRENCY
        * rhosync_local::ConsumerOptions::default().batch_size.max(1) as usize
        * super::worker::POLLERS
}

/// The APNs client as the worker builds it.
fn apns_client(ca_file: &Path) -> Result<reqwest::Client> {
    let pem = std::fs::read(ca_file).with_context(|| format!("reading {}", ca_file.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).context("the fake's certificate")?;
    reqwest::Client::builder()
        .http2_prior_knowledge()
        .timeout(Duration::from_secs(15))
        .pool_idle_timeout(Duration::from_secs(300))
        .tls_certs_merge(certs)
        .build()
        .context("APNs client")
}

/// The FCM client as the worker builds it.
fn fcm_client() -> Result<reqwest::Client> {
    reqwest::Client::builder().timeout(Duration::from_secs(15)).build().context("FCM client")
}

struct Prepared {
    to: To,
    url: String,
    headers: HeaderMap,
    body: Bytes,
}

fn prepare(entry: PlanEntry, apns: &str, fcm: &str) -> Result<Prepared> {
    let base = match entry.to {
        To::Apns => apns,
        To::Fcm => fcm,
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &entry.headers {
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).with_context(|| format!("header {name}"))?,
            HeaderValue::from_str(value).with_context(|| format!("header {name}"))?,
        );
    }
    Ok(Prepared { to: entry.to, url: format!("{base}{}", entry.path), headers, body: Bytes::from(entry.body) })
}

/// `push-floor`: load `plan`, print `ready`, wait for `go`, send, print `done`.
pub async fn serve(plan: &Path, apns_url: &str, fcm_url: &str, ca_file: &Path, concurrency: usize) -> Result<()> {
    let text = std::fs::read_to_string(plan).with_context(|| format!("reading {}", plan.display()))?;
    let mut requests = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let entry: PlanEntry = serde_json::from_str(line).context("a plan line")?;
        requests.push(prepare(entry, apns_url, fcm_url)?);
    }
    let apns = apns_client(ca_file)?;
    let fcm = fcm_client()?;
    println!("ready {}", requests.len());
    let line = super::stdin_line().await.context("waiting for go")?;
    if line.trim() != "go" {
        bail!("expected go, got {line:?}");
    }
    let sends = requests.into_iter().map(|r| {
        let client = match r.to {
            To::Apns => &apns,
            To::Fcm => &fcm,
        };
        let request = client.post(r.url).headers(r.headers).body(r.body);
        async move { matches!(request.send().await, Ok(response) if response.status().as_u16() == 200) }
    });
    let outcomes: Vec<bool> = stream::iter(sends).buffer_unordered(concurrency.max(1)).collect().await;
    let sent = outcomes.iter().filter(|ok| **ok).count();
    println!("done {sent} {}", outcomes.len() - sent);
    super::stdin_closed().await;
    Ok(())
}
