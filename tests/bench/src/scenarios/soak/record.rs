//! What the soak records while it runs — every answered request's kind, completion time
//! and latency; errors per request kind with their first messages; counters of what the
//! devices and the backend did; the resource samples taken every interval — and the
//! arithmetic of its verdict (flatness after warm-up, percentiles per interval).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

use crate::measure::Latency;

/// The request kinds the soak reports, in the order of its table.
pub const KINDS: [&str; 9] =
    ["login", "clientcreate", "query", "query-ack", "create", "update", "delete", "push_objects", "push_deletes"];

/// How the table names a kind.
pub fn kind_label(kind: &str) -> &str {
    match kind {
        "query" => "sync page (query)",
        "query-ack" => "ack (query with token)",
        other => other,
    }
}

/// Distinct error messages kept per kind.
const MESSAGES_KEPT: usize = 5;

/// Errors of one request kind.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Errors {
    pub count: u64,
    /// The first few distinct messages.
    pub first: Vec<String>,
}

/// What the devices and the backend did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Counters {
    /// Sync cycles completed (a query and its acknowledgements until an empty token).
    pub cycles: u64,
    /// Scheduled sync times a device let pass because its previous cycle was still running.
    pub missed_ticks: u64,
    /// Cycles that started more than a second after their scheduled time (waiting for a
    /// slot of `--soak-max-inflight`, or a busy generator).
    pub late_starts: u64,
    /// Scheduled times a device let pass while backing off after a failure.
    pub backed_off: u64,
    pub pages_with_data: u64,
    pub inserted: u64,
    pub deleted: u64,
    pub links: u64,
    /// Objects pushed through `push_objects` and ids through `push_deletes`: the change
    /// events the backend caused (one history event each at most).
    pub pushed_objects: u64,
    pub pushed_deletes: u64,
    /// Writes the devices sent (creates, updates, deletes, one record each).
    pub writes: u64,
    /// Backend pushes not sent because `--soak-max-inflight` pushes were still running.
    pub pushes_skipped: u64,
    /// Most device cycles running at once.
    pub max_inflight: u64,
}

/// One answered request: kind index, seconds since the start at completion, latency in ms.
type Answered = (u8, f32, f32);

/// The shared log of a run (behind a mutex; never held across an await).
#[derive(Debug)]
pub struct Recorder {
    started: Instant,
    answered: Vec<Answered>,
    /// Seconds since the start of every error.
    error_at: Vec<f32>,
    pub errors: BTreeMap<&'static str, Errors>,
    pub counters: Counters,
}

impl Recorder {
    pub fn new(started: Instant) -> Recorder {
        Recorder {
            started,
            answered: Vec::new(),
            error_at: Vec::new(),
            errors: BTreeMap::new(),
            counters: Counters::default(),
        }
    }

    /// An answered request of `kind` that took `latency`.
    pub fn answered(&mut self, kind: &'static str, latency: Duration) {
        let Some(index) = KINDS.iter().position(|k| *k == kind) else { return };
        let at = self.started.elapsed().as_secs_f32();
        self.answered.push((index as u8, at, (latency.as_secs_f64() * 1e3) as f32));
    }

    /// An error of `kind`: a non-2xx answer, a failed request, or a protocol violation.
    pub fn error(&mut self, kind: &'static str, message: String) {
        self.error_at.push(self.started.elapsed().as_secs_f32());
        let entry = self.errors.entry(kind).or_default();
        entry.count += 1;
        if entry.first.len() < MESSAGES_KEPT && !entry.first.contains(&message) {
            entry.first.push(message);
        }
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().map(|e| e.count).sum()
    }

    /// Errors at or after `from_s` seconds.
    pub fn errors_after(&self, from_s: f64) -> usize {
        self.error_at.iter().filter(|t| f64::from(**t) >= from_s).count()
    }

    pub fn requests(&self) -> usize {
        self.answered.len()
    }

    /// Latency of every answered request of `kind`.
    pub fn latency(&self, kind: &str) -> Latency {
        let Some(index) = KINDS.iter().position(|k| *k == kind) else { return Latency::default() };
        let samples: Vec<Duration> = self
            .answered
            .iter()
            .filter(|(k, _, _)| usize::from(*k) == index)
            .map(|(_, _, ms)| Duration::from_secs_f64(f64::from(*ms) / 1e3))
            .collect();
        Latency::of(&samples)
    }

    /// p50 and p99 per kind in consecutive windows of `width` seconds, up to `end` seconds.
    pub fn intervals(&self, width: f64, end: f64) -> Vec<Interval> {
        let width = width.max(1e-3);
        let windows = (end / width).ceil().max(1.0) as usize;
        let mut buckets: Vec<Vec<Vec<Duration>>> = vec![vec![Vec::new(); KINDS.len()]; windows];
        let mut errors = vec![0usize; windows];
        for at in &self.error_at {
            errors[((f64::from(*at) / width) as usize).min(windows - 1)] += 1;
        }
        for (kind, at, ms) in &self.answered {
            let w = ((f64::from(*at) / width) as usize).min(windows - 1);
            buckets[w][usize::from(*kind)].push(Duration::from_secs_f64(f64::from(*ms) / 1e3));
        }
        buckets
            .into_iter()
            .enumerate()
            .map(|(w, kinds)| Interval {
                start_s: w as f64 * width,
                end_s: ((w + 1) as f64 * width).min(end.max(width)),
                errors: errors[w],
                kinds: kinds
                    .iter()
                    .zip(KINDS)
                    .filter(|(samples, _)| !samples.is_empty())
                    .map(|(samples, kind)| {
                        let l = Latency::of(samples);
                        (kind.to_owned(), IntervalLatency { n: l.n, p50_ms: l.p50_ms, p99_ms: l.p99_ms })
                    })
                    .collect(),
            })
            .collect()
    }
}

/// A recorder shared by the device tasks, the pushers and the sampler.
pub type Shared = std::sync::Arc<Mutex<Recorder>>;

/// Runs `f` on the recorder (a poisoned lock still holds valid counts).
pub fn with<T>(rec: &Shared, f: impl FnOnce(&mut Recorder) -> T) -> T {
    let mut guard = rec.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    f(&mut guard)
}

/// Latency of one kind in one window.
#[derive(Debug, Clone, Serialize)]
pub struct IntervalLatency {
    pub n: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// One window of the run.
#[derive(Debug, Clone, Serialize)]
pub struct Interval {
    pub start_s: f64,
    pub end_s: f64,
    /// Errors in this window (any kind).
    pub errors: usize,
    pub kinds: BTreeMap<String, IntervalLatency>,
}

/// Redis memory split by what it holds (`MEMORY USAGE` of the keys, from one `SCAN`).
#[derive(Debug, Default, Clone, Serialize)]
pub struct RedisBreakdown {
    pub keys: u64,
    /// `hist` and `hlog` of the soak's partitions: the change history, kept by design for
    /// `:history_retention_secs:` up to `:history_max_events:` per partition.
    pub history_bytes: u64,
    /// `cudw:<write key>` records, kept 24 hours by design (`MEMORY USAGE` of a sample of
    /// them times their number).
    pub write_records: u64,
    pub write_record_bytes: u64,
    /// The statistics series: one member per metric per minute, kept 44,640 s by design.
    pub stats_bytes: u64,
    /// Every other key (the partitions' data and indexes, the clients' cursors, sent
    /// state, links, cached records, write counters…) and their `MEMORY USAGE` summed:
    /// the server's live state, which must stay flat.
    pub other_keys: u64,
    pub other_bytes: u64,
}

/// One resource sample.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Sample {
    pub t_s: f64,
    pub runner_rss_bytes: Option<u64>,
    pub runner_cpu_s: Option<f64>,
    pub redis_used_memory: Option<u64>,
    pub redis: Option<RedisBreakdown>,
    /// Answered requests and change events (pushed objects + pushed deletes + device
    /// writes) so far.
    pub requests: u64,
    pub change_events: u64,
}

impl Sample {
    /// `MEMORY USAGE` of the keys outside what is kept by design.
    pub fn redis_live_state(&self) -> Option<u64> {
        self.redis.as_ref().map(|r| r.other_bytes).filter(|b| *b > 0)
    }

    /// `used_memory` less every key's `MEMORY USAGE`: Redis's own bookkeeping (the
    /// keyspace's hash tables, expiry entries, client buffers, scripts), which grows with
    /// the number of keys.
    pub fn redis_bookkeeping(&self) -> Option<u64> {
        let used = self.redis_used_memory?;
        let r = self.redis.as_ref()?;
        Some(used.saturating_sub(r.history_bytes + r.write_record_bytes + r.stats_bytes + r.other_bytes))
    }

    /// Redis `used_memory` less what is kept by design (history, write records,
    /// statistics): the part that must stay flat.
    pub fn redis_remainder(&self) -> Option<u64> {
        let used = self.redis_used_memory?;
        let r = self.redis.as_ref()?;
        Some(used.saturating_sub(r.history_bytes + r.write_record_bytes + r.stats_bytes))
    }
}

/// max / min of `values` (`None` when empty or the minimum is not positive).
pub fn spread(values: &[f64]) -> Option<f64> {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min.is_finite() && min > 0.0).then(|| max / min)
}

/// The values `pick` gives for the samples taken at or after `warmup_s`.
pub fn after_warmup(samples: &[Sample], warmup_s: f64, pick: impl Fn(&Sample) -> Option<u64>) -> Vec<f64> {
    samples.iter().filter(|s| s.t_s >= warmup_s).filter_map(&pick).map(|v| v as f64).collect()
}

/// The JSON of the errors, kind by kind.
pub fn errors_json(errors: &BTreeMap<&'static str, Errors>) -> Value {
    Value::Object(errors.iter().map(|(k, e)| ((*k).to_owned(), json!(e))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_by_kind_and_window() {
        let started = Instant::now() - Duration::from_secs(30);
        let mut rec = Recorder::new(started);
        for ms in 1..=100 {
            rec.answered("query", Duration::from_millis(ms));
        }
        rec.answered("login", Duration::from_millis(7));
        rec.answered("not-a-kind", Duration::from_millis(7));
        assert_eq!(rec.requests(), 101);
        assert_eq!(rec.latency("query").n, 100);
        assert!((rec.latency("query").p99_ms - 99.0).abs() < 1.01);
        assert_eq!(rec.latency("login").n, 1);
        // Everything was answered ~30 s after the start: the fourth window of 10 s.
        let windows = rec.intervals(10.0, 40.0);
        assert_eq!(windows.len(), 4);
        assert!(windows[..3].iter().all(|w| w.kinds.is_empty()));
        assert_eq!(windows[3].kinds["query"].n, 100);
        assert_eq!(windows[3].kinds["login"].n, 1);
    }

    #[test]
    fn errors_keep_a_few_distinct_messages() {
        let mut rec = Recorder::new(Instant::now());
        for i in 0..20 {
            rec.error("create", format!("HTTP 500: {}", i % 7));
        }
        rec.error("login", "HTTP 401".into());
        assert_eq!(rec.error_count(), 21);
        assert_eq!(rec.errors_after(0.0), 21);
        assert_eq!(rec.errors_after(3600.0), 0);
        assert_eq!(rec.intervals(10.0, 10.0)[0].errors, 21);
        assert_eq!(rec.errors["create"].count, 20);
        assert_eq!(rec.errors["create"].first.len(), MESSAGES_KEPT);
        assert_eq!(errors_json(&rec.errors)["login"]["count"], 1);
    }

    #[test]
    fn spread_and_remainder() {
        assert_eq!(spread(&[]), None);
        assert_eq!(spread(&[0.0, 1.0]), None);
        assert_eq!(spread(&[100.0, 105.0, 110.0]), Some(1.1));
        let s = |t_s: f64, used: u64, history: u64| Sample {
            t_s,
            redis_used_memory: Some(used),
            redis: Some(RedisBreakdown {
                history_bytes: history,
                write_record_bytes: 10,
                stats_bytes: 5,
                ..Default::default()
            }),
            ..Default::default()
        };
        let samples = [s(0.0, 50, 0), s(60.0, 1000, 100), s(120.0, 1300, 400)];
        assert_eq!(samples[1].redis_remainder(), Some(885));
        assert_eq!(after_warmup(&samples, 60.0, Sample::redis_remainder), vec![885.0, 885.0]);
        assert_eq!(after_warmup(&samples, 60.0, |s| s.redis_used_memory), vec![1000.0, 1300.0]);
    }
}
