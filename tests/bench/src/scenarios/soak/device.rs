//! One soak device and its schedule. Unlike [`crate::client::Device`], which stops at the
//! first error, a soak device counts every failed or malformed answer in the shared
//! [`Recorder`](super::record::Recorder) under the kind of the request that failed and
//! carries on at its next scheduled time, and it reads the links of its own creates (the
//! page's `links`, docs/device-protocol.md §6.3) so that it can update and then delete the
//! object it created.
//!
//! The schedule is an open loop: device `i` of `n` syncs at `start + i·interval/n +
//! k·interval`, whatever the server's latency. A device whose previous cycle is still
//! running lets the scheduled time pass (counted as a missed tick) rather than queueing it.
//! After a failed step a device backs off, as a real client does after a 503 with
//! `Retry-After` (docs/device-protocol.md §2.6): it lets its scheduled times pass for 2 s,
//! doubling with each further failure up to a minute (jittered), until a step succeeds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio::time::MissedTickBehavior;

use super::record::{with, Shared};
use crate::client::{Page, Target, CLIENT_ID_HEADER, PAGE_TOKEN_HEADER};

/// Command-object keys of a page that report a failure (docs/device-protocol.md §6.3).
const FAILURE_KEYS: [&str; 5] = ["create-error", "update-error", "delete-error", "update-rollback", "source-error"];

/// What every device shares.
pub struct Fleet {
    pub target: Target,
    pub rec: Shared,
    pub source: String,
    pub p_size: usize,
    /// Pages one cycle may take before it counts as stuck.
    pub max_pages: usize,
    /// Time between two syncs of one device.
    pub interval: Duration,
    /// Every `write_every`-th cycle of a device is followed by a write.
    pub write_every: u64,
    /// A device logs in again when its session is this old.
    pub relogin: Duration,
    /// Device cycles that may run at once.
    pub slots: Semaphore,
    pub inflight: std::sync::atomic::AtomicU64,
}

/// The object a device created, as far as it got.
#[derive(Debug, Clone, PartialEq)]
enum Own {
    None,
    /// Created under this temporary id; its link is due on the next sync.
    Pending(String),
    /// Linked to this backend id; `updated` once the update was sent.
    Held {
        id: String,
        updated: bool,
    },
}

/// A simulated device.
pub struct SoakDevice {
    index: usize,
    login: String,
    cookie: Option<String>,
    logged_in_at: Option<Instant>,
    client_id: Option<String>,
    own: Own,
    creates: u64,
    /// Consecutive failed cycles, and until when the device waits because of them.
    failures: u32,
    retry_at: Option<Instant>,
}

impl SoakDevice {
    pub fn new(index: usize, login: String) -> SoakDevice {
        SoakDevice {
            index,
            login,
            cookie: None,
            logged_in_at: None,
            client_id: None,
            own: Own::None,
            creates: 0,
            failures: 0,
            retry_at: None,
        }
    }

    /// Runs the device's schedule from `first` until `deadline`.
    pub async fn run(mut self, fleet: Arc<Fleet>, first: Instant, deadline: Instant) {
        let mut ticks = tokio::time::interval_at(first.into(), fleet.interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut last: Option<Instant> = None;
        let mut cycle: u64 = 0;
        loop {
            let scheduled: Instant = ticks.tick().await.into();
            if scheduled >= deadline {
                return;
            }
            if let Some(last) = last {
                let gap = scheduled.saturating_duration_since(last).as_secs_f64() / fleet.interval.as_secs_f64();
                let missed = (gap.round() as u64).saturating_sub(1);
                if missed > 0 {
                    with(&fleet.rec, |r| r.counters.missed_ticks += missed);
                }
            }
            last = Some(scheduled);
            let Ok(_slot) = fleet.slots.acquire().await else { return };
            if scheduled.elapsed() > Duration::from_secs(1) {
                with(&fleet.rec, |r| r.counters.late_starts += 1);
            }
            let running = fleet.inflight.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            with(&fleet.rec, |r| r.counters.max_inflight = r.counters.max_inflight.max(running));
            cycle += 1;
            if self.retry_at.is_some_and(|t| Instant::now() < t) {
                with(&fleet.rec, |r| r.counters.backed_off += 1);
            } else if self.cycle(&fleet, cycle).await {
                self.failures = 0;
                self.retry_at = None;
            } else {
                self.failures += 1;
                let backoff = (2.0 * 2f64.powi(self.failures.min(6) as i32 - 1)).min(60.0);
                let jitter = rand::Rng::gen_range(&mut rand::thread_rng(), 0.5..1.5);
                self.retry_at = Some(Instant::now() + Duration::from_secs_f64(backoff * jitter));
            }
            fleet.inflight.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// One scheduled step: (re)login and clientcreate when needed, a sync, maybe a write.
    /// False when a step failed.
    async fn cycle(&mut self, fleet: &Fleet, cycle: u64) -> bool {
        let session_old = self.logged_in_at.is_none_or(|t| t.elapsed() >= fleet.relogin);
        if (session_old || self.cookie.is_none()) && !self.login(fleet).await {
            return false;
        }
        if self.client_id.is_none() && !self.client_create(fleet).await {
            return false;
        }
        if !self.sync(fleet).await {
            return false;
        }
        // Devices write in different cycles: device i after cycles i, i + write_every, ….
        if (cycle + self.index as u64).is_multiple_of(fleet.write_every.max(1)) {
            return self.write(fleet).await;
        }
        true
    }

    /// Sends one request with the session cookie and client id; records its latency under
    /// `kind` when it is answered 200, an error under `kind` otherwise.
    async fn call(
        &self,
        fleet: &Fleet,
        kind: &'static str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Option<(HeaderMap, String)> {
        // The query values are digits (page size, tokens): they need no escaping.
        let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let full = if query.is_empty() { path.to_owned() } else { format!("{path}?{}", query.join("&")) };
        let mut req = match fleet.target.request(method.clone(), &full) {
            Ok(req) => req,
            Err(err) => {
                with(&fleet.rec, |r| r.error(kind, format!("{err:#}")));
                return None;
            }
        };
        if let Some(cookie) = &self.cookie {
            req = req.header(COOKIE, cookie);
        }
        if let Some(id) = &self.client_id {
            req = req.header(CLIENT_ID_HEADER, id);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let started = Instant::now();
        let outcome = match req.send().await {
            Ok(resp) => {
                let status = resp.status();
                let headers = resp.headers().clone();
                match resp.text().await {
                    Ok(text) if status == StatusCode::OK => Ok((headers, text)),
                    Ok(text) => {
                        Err(format!("{method} {path}: HTTP {status}: {}", text.chars().take(200).collect::<String>()))
                    }
                    Err(err) => Err(format!("{method} {path}: reading the body: {:#}", anyhow::Error::from(err))),
                }
            }
            Err(err) => Err(format!("{method} {path}: {:#}", anyhow::Error::from(err))),
        };
        let latency = started.elapsed();
        with(&fleet.rec, |r| match outcome {
            Ok(answer) => {
                r.answered(kind, latency);
                Some(answer)
            }
            Err(message) => {
                r.error(kind, message);
                None
            }
        })
    }

    /// A protocol violation in the answer to a `kind` request.
    fn violation(&self, fleet: &Fleet, kind: &'static str, what: String) {
        with(&fleet.rec, |r| r.error(kind, format!("protocol: {what} ({})", self.login)));
    }

    /// `POST /rc/v1/app/login`: keeps the answer's cookies (docs/device-protocol.md §3).
    async fn login(&mut self, fleet: &Fleet) -> bool {
        self.cookie = None;
        let body = json!({"login": self.login, "password": "bench"});
        let Some((headers, _)) = self.call(fleet, "login", Method::POST, "/rc/v1/app/login", &[], Some(&body)).await
        else {
            return false;
        };
        let pairs: Vec<&str> = headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .map(str::trim)
            .filter(|pair| pair.contains('='))
            .collect();
        if pairs.is_empty() {
            self.violation(fleet, "login", "no session cookie set".into());
            return false;
        }
        self.cookie = Some(pairs.join("; "));
        self.logged_in_at = Some(Instant::now());
        true
    }

    /// `POST /rc/v1/clients` (docs/device-protocol.md §4.1).
    async fn client_create(&mut self, fleet: &Fleet) -> bool {
        let Some((_, body)) = self.call(fleet, "clientcreate", Method::POST, "/rc/v1/clients", &[], None).await else {
            return false;
        };
        let id = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v.pointer("/client/client_id").and_then(Value::as_str).map(str::to_owned));
        match id {
            Some(id) => {
                self.client_id = Some(id);
                true
            }
            None => {
                self.violation(fleet, "clientcreate", format!("no client.client_id in {body:.120}"));
                false
            }
        }
    }

    /// A sync cycle: the query, then one acknowledgement per page until the token is empty
    /// (docs/device-protocol.md §5). Checks each page's shape and looks for failures and
    /// for the link of a pending create.
    async fn sync(&mut self, fleet: &Fleet) -> bool {
        let path = format!("/app/v1/{}", fleet.source);
        let p_size = fleet.p_size.to_string();
        let mut token: Option<String> = None;
        let mut pages = 0usize;
        let mut linked: Option<String> = None;
        loop {
            let kind = if token.is_some() { "query-ack" } else { "query" };
            let mut query = vec![("p_size", p_size.as_str())];
            if let Some(token) = &token {
                query.push(("token", token.as_str()));
            }
            let Some((headers, body)) = self.call(fleet, kind, Method::GET, &path, &query, None).await else {
                return false;
            };
            let header_token = headers.get(PAGE_TOKEN_HEADER).and_then(|v| v.to_str().ok());
            let page = match Page::parse(&body, header_token) {
                Ok(page) => page,
                Err(err) => {
                    self.violation(fleet, kind, format!("{err:#}"));
                    return false;
                }
            };
            for key in page.other_keys.iter().filter(|k| FAILURE_KEYS.contains(&k.as_str())) {
                self.violation(fleet, kind, format!("page carries {key}: {body:.200}"));
            }
            if page.links > 0 {
                if let Own::Pending(temp) = &self.own {
                    linked = linked.or_else(|| link_of(&body, temp));
                }
            }
            with(&fleet.rec, |r| {
                let c = &mut r.counters;
                c.pages_with_data += u64::from(page.count > 0 || page.links > 0);
                c.inserted += page.inserted as u64;
                c.deleted += page.deleted as u64;
                c.links += page.links as u64;
            });
            if page.token.is_empty() {
                break;
            }
            pages += 1;
            if pages > fleet.max_pages {
                self.violation(fleet, kind, format!("sync did not end within {} pages", fleet.max_pages));
                return false;
            }
            token = Some(page.token);
        }
        with(&fleet.rec, |r| r.counters.cycles += 1);
        if let Own::Pending(temp) = &self.own {
            match linked {
                Some(id) => self.own = Own::Held { id, updated: false },
                None => {
                    self.violation(fleet, "create", format!("no link for {temp} on the sync after the create"));
                    self.own = Own::None;
                }
            }
        }
        true
    }

    /// The device's next write: create an object, then update it, then delete it, one
    /// record per request through the sync routes (docs/device-protocol.md §6.1).
    async fn write(&mut self, fleet: &Fleet) -> bool {
        let path = format!("/app/v1/{}", fleet.source);
        let answered = match self.own.clone() {
            Own::None | Own::Pending(_) => {
                self.creates += 1;
                let temp = format!("t{}-{}", self.index, self.creates);
                let body =
                    json!({"create": {&temp: {"name": format!("soak {temp}"), "brand": "bench", "price": "1.00"}}});
                let ok = self.call(fleet, "create", Method::POST, &path, &[], Some(&body)).await.is_some();
                self.own = if ok { Own::Pending(temp) } else { Own::None };
                ok
            }
            Own::Held { id, updated: false } => {
                let body = json!({"update": {&id: {"price": format!("{}.50", self.creates)}}});
                let ok = self.call(fleet, "update", Method::POST, &path, &[], Some(&body)).await.is_some();
                self.own = Own::Held { id, updated: true };
                ok
            }
            Own::Held { id, updated: true } => {
                let ok = self.call(fleet, "delete", Method::DELETE, &format!("{path}/{id}"), &[], None).await.is_some();
                self.own = Own::None;
                ok
            }
        };
        if answered {
            with(&fleet.rec, |r| r.counters.writes += 1);
        }
        answered
    }
}

/// The backend id a page links `temp` to (`"links": {temp: {"l": id}}`).
fn link_of(body: &str, temp: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body).ok()?;
    let link = value.get(5)?.get("links")?.get(temp)?.get("l")?;
    link.as_str().map(str::to_owned).or_else(|| link.as_u64().map(|n| n.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_link_of_a_temporary_id() {
        let body = r#"[{"version":3},{"token":"12"},{"count":0},{"progress_count":0},{"total_count":5},
            {"links":{"t3-1":{"l":"6"},"t3-0":{"l":7}}}]"#;
        assert_eq!(link_of(body, "t3-1").as_deref(), Some("6"));
        assert_eq!(link_of(body, "t3-0").as_deref(), Some("7"));
        assert_eq!(link_of(body, "t9-9"), None);
        assert_eq!(link_of("not json", "t3-1"), None);
    }
}
