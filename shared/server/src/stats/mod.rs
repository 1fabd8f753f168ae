//! Statistics (docs/rest-api.md §4.5): timing series recorded per HTTP route, per adapter
//! operation and for `clientdocs`, in rolling Redis buckets.
//!
//! Writing each sample to Redis would cost a script call per request. Instead each process
//! keeps a [`StatsRecorder`]: samples wait in memory (metric → bucket → durations) and are
//! written together, at most about once a second, by the request that finds a flush due
//! (under Lambda nothing runs between invocations, so no timer is relied on); the workers
//! flush after each batch and the local runner at shutdown. A flush reads the newest member
//! of each dirty series (one pipeline), computes the new members ([`series::plan`]) and
//! writes them all in one compare-and-set script; a series another process changed in
//! between is read and planned again, so concurrent flushes lose no sample.
//!
//! The counters `users` / `clients` are written as they change (`crate::registry::cache`).

pub mod series;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::store::{Store, StoreError};

/// Bucket size and retention in seconds (docs/rest-api.md §4.5 defaults).
pub const RESOLUTION: i64 = 60;
pub const RETENTION: i64 = 44_640;

/// Least time between two flushes of one process.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Rounds of read-plan-write for series that other processes keep changing.
const MAX_ROUNDS: usize = 16;

/// Samples kept per process while Redis refuses flushes, beyond which new ones are dropped.
const MAX_PENDING: usize = 200_000;

type Buckets = BTreeMap<i64, Vec<f64>>;

#[derive(Default)]
struct Pending {
    samples: HashMap<String, Buckets>,
    count: usize,
    last_flush: Option<Instant>,
}

/// One process's statistics accumulator (see the module docs). Off, it records nothing.
pub struct StatsRecorder {
    enabled: bool,
    resolution: i64,
    retention: i64,
    pending: Mutex<Pending>,
}

impl StatsRecorder {
    pub fn new(enabled: bool) -> Self {
        Self::with_buckets(enabled, RESOLUTION, RETENTION)
    }

    pub fn with_buckets(enabled: bool, resolution: i64, retention: i64) -> Self {
        Self { enabled, resolution: resolution.max(1), retention, pending: Mutex::default() }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        // Every change under the lock is a push or a swap: a panic cannot leave it half-done.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds one sample of `metric` taken now.
    pub fn record(&self, metric: &str, elapsed: Duration) {
        if self.enabled {
            self.record_at(metric, crate::auth::session::now() as i64, elapsed.as_secs_f64());
        }
    }

    /// `source:<op>:<source>` (docs/rest-api.md §4.5).
    pub fn record_source(&self, op: &str, source: &str, elapsed: Duration) {
        if self.enabled {
            self.record(&format!("source:{op}:{source}"), elapsed);
        }
    }

    /// Adds a sample taken at unix time `now` lasting `secs`.
    pub fn record_at(&self, metric: &str, now: i64, secs: f64) {
        let start = now.div_euclid(self.resolution) * self.resolution;
        let mut p = self.lock();
        if p.count >= MAX_PENDING {
            return;
        }
        p.count += 1;
        match p.samples.get_mut(metric) {
            Some(buckets) => buckets.entry(start).or_default().push(secs),
            None => {
                p.samples.insert(metric.to_owned(), BTreeMap::from([(start, vec![secs])]));
            }
        }
    }

    /// Whether samples wait to be written.
    pub fn dirty(&self) -> bool {
        self.lock().count > 0
    }

    /// Flushes when samples wait and the last flush is [`FLUSH_EVERY`] old.
    pub async fn flush_if_due(&self, store: &dyn Store) {
        if !self.enabled {
            return;
        }
        let taken = {
            let mut p = self.lock();
            let due = p.last_flush.is_none_or(|at| at.elapsed() >= FLUSH_EVERY);
            if p.count == 0 || !due {
                return;
            }
            p.last_flush = Some(Instant::now());
            p.count = 0;
            std::mem::take(&mut p.samples)
        };
        self.write_logged(store, taken).await;
    }

    /// Writes every waiting sample now.
    pub async fn flush(&self, store: &dyn Store) {
        let taken = {
            let mut p = self.lock();
            if p.count == 0 {
                return;
            }
            p.last_flush = Some(Instant::now());
            p.count = 0;
            std::mem::take(&mut p.samples)
        };
        self.write_logged(store, taken).await;
    }

    async fn write_logged(&self, store: &dyn Store, taken: HashMap<String, Buckets>) {
        if let Err(err) = self.write(store, taken).await {
            // Statistics never fail a request; the samples of this flush are lost.
            tracing::warn!(error = %err, "statistics flush failed");
        }
    }

    /// Writes `samples` into their series (see the module docs).
    pub async fn write(&self, store: &dyn Store, samples: HashMap<String, Buckets>) -> Result<(), StoreError> {
        let mut todo: Vec<(String, Buckets)> = samples.into_iter().collect();
        for _ in 0..MAX_ROUNDS {
            if todo.is_empty() {
                return Ok(());
            }
            let metrics: Vec<String> = todo.iter().map(|(m, _)| m.clone()).collect();
            let tops = store.stat_tops(&metrics).await?;
            let writes: Vec<_> = todo
                .iter()
                .zip(tops)
                .map(|((metric, buckets), top)| series::plan(metric, top, buckets, self.resolution, self.retention))
                .collect();
            let conflicts = store.stat_write(&writes).await?;
            let mut keep = vec![false; todo.len()];
            for i in conflicts {
                if let Some(k) = keep.get_mut(i) {
                    *k = true;
                }
            }
            let mut flags = keep.into_iter();
            todo.retain(|_| flags.next().unwrap_or(false));
        }
        tracing::warn!(series = todo.len(), "statistics flush gave up on series that kept changing");
        Ok(())
    }
}

/// The HTTP metric of a request (docs/rest-api.md §4.5): `http:<METHOD>:<path>`, the client
/// id of `/rc/v1/clients/<id>…` as `*`, plus `:<source_name>` when the query has one.
pub fn http_metric(method: &str, path: &str, query: Option<&str>) -> String {
    let mut name = String::with_capacity(8 + method.len() + path.len());
    name.push_str("http:");
    name.push_str(method);
    name.push(':');
    match path.strip_prefix("/rc/v1/clients/") {
        Some(rest) if !rest.is_empty() => {
            name.push_str("/rc/v1/clients/*");
            if let Some(at) = rest.find('/') {
                name.push_str(&rest[at..]);
            }
        }
        _ => name.push_str(path),
    }
    if let Some(source) = query.and_then(source_name) {
        name.push(':');
        name.push_str(&source);
    }
    name
}

/// The `source_name` parameter of a query string.
fn source_name(query: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "source_name" && !v.is_empty())
            .then(|| percent_encoding::percent_decode_str(&v.replace('+', " ")).decode_utf8_lossy().into_owned())
    })
}

/// Whether a request path is `GET /rc/v1/clients/<id>/sources/<s>/docnames`, which also
/// counts as `clientdocs`.
pub fn is_clientdocs(method: &str, path: &str) -> bool {
    method == "GET"
        && path.strip_prefix("/rc/v1/clients/").is_some_and(|rest| {
            let parts: Vec<&str> = rest.split('/').collect();
            parts.len() == 4 && parts[1] == "sources" && parts[3] == "docnames"
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MemoryStore, Metric};

    #[test]
    fn http_metric_names() {
        assert_eq!(http_metric("GET", "/app/v1/Product", None), "http:GET:/app/v1/Product");
        assert_eq!(
            http_metric("GET", "/api/application/query", Some("client_id=x&source_name=SampleAdapter")),
            "http:GET:/api/application/query:SampleAdapter"
        );
        assert_eq!(
            http_metric("GET", "/rc/v1/clients/abc123/sources/P/docnames", None),
            "http:GET:/rc/v1/clients/*/sources/P/docnames"
        );
        assert_eq!(http_metric("POST", "/rc/v1/clients", None), "http:POST:/rc/v1/clients");
        assert_eq!(http_metric("GET", "/rc/v1/clients/abc", None), "http:GET:/rc/v1/clients/*");
        assert!(is_clientdocs("GET", "/rc/v1/clients/c/sources/P/docnames"));
        assert!(!is_clientdocs("GET", "/rc/v1/clients/c/sources/P"));
    }

    #[tokio::test]
    async fn flushes_merge_into_the_buckets() {
        let store = MemoryStore::new("t");
        let rec = StatsRecorder::with_buckets(true, 2, 8);
        let d = 10.3_f64 - 10.0;
        for i in 0..10 {
            rec.record_at("http:GET:/x", 10 + i, d);
            if i % 3 == 0 {
                rec.flush(&store).await;
            }
        }
        rec.flush(&store).await;
        assert!(!rec.dirty());
        let Metric::Series(members) = store.stat("http:GET:/x", 0, -1).await.expect("reads") else { panic!() };
        assert_eq!(
            members,
            [
                "2.0,0.6000000000000014:12",
                "2.0,0.6000000000000014:14",
                "2.0,0.6000000000000014:16",
                "2.0,0.6000000000000014:18"
            ]
        );
    }

    #[tokio::test]
    async fn off_records_nothing() {
        let store = MemoryStore::new("t");
        let rec = StatsRecorder::new(false);
        rec.record("http:GET:/x", Duration::from_millis(5));
        assert!(!rec.dirty());
        rec.flush(&store).await;
        assert_eq!(store.stat_names("*").await.expect("names"), Vec::<String>::new());
    }
}
