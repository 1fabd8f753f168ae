//! Measuring tools: latency summaries, process CPU time from `/proc`, Redis `INFO memory`,
//! and a bounded closed-loop driver (N workers, each issuing its next request as soon as
//! the previous one is answered, until a deadline or a request budget).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;

/// Latency figures of a set of requests, in milliseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Latency {
    pub n: usize,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(samples: &[Duration]) -> Latency {
        if samples.is_empty() {
            return Latency::default();
        }
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let pick = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
        Latency {
            n: ms.len(),
            mean_ms: ms.iter().sum::<f64>() / ms.len() as f64,
            p50_ms: pick(0.5),
            p90_ms: pick(0.9),
            p99_ms: pick(0.99),
            min_ms: ms[0],
            max_ms: ms[ms.len() - 1],
        }
    }
}

/// CPU seconds a process has used: utime + stime of `/proc/<pid>/stat` (clock ticks,
/// 10 ms, dead threads included) or, when larger, the sum of its live threads'
/// nanosecond run times. For the CPU of a short window use [`CpuReading`] instead: the
/// larger-of-two of this total jumps by up to a tick at either end of a window.
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let reading = CpuReading::take(pid)?;
    let fine = reading.threads.values().sum::<u64>() as f64 / 1e9;
    Ok(fine.max(reading.coarse))
}

/// One reading of a process's CPU time, fine and coarse.
#[derive(Debug, Clone, Default)]
pub struct CpuReading {
    /// utime + stime in seconds, from clock ticks.
    coarse: f64,
    /// Nanoseconds on CPU of each live thread (`/proc/<pid>/task/<tid>/schedstat`).
    threads: HashMap<u32, u64>,
}

impl CpuReading {
    pub fn take(pid: u32) -> Result<CpuReading> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .with_context(|| format!("reading /proc/{pid}/stat"))?;
        let coarse = parse_cpu_ticks(&stat)? as f64 / clock_ticks_per_second() as f64;
        Ok(CpuReading { coarse, threads: thread_run_times(pid) })
    }

    /// CPU seconds from `self` to `later`: the threads' nanosecond counters (a thread
    /// born in between counts from zero), unless the tick count says clearly more — threads
    /// that exited in between take their time out of the thread sum but not out of the
    /// ticks, and the ticks are exact to within one tick at each end.
    pub fn seconds_until(&self, later: &CpuReading) -> f64 {
        let fine: u64 =
            later.threads.iter().map(|(tid, ns)| ns.saturating_sub(self.threads.get(tid).copied().unwrap_or(0))).sum();
        let fine = fine as f64 / 1e9;
        let coarse = later.coarse - self.coarse;
        if coarse > fine + 2.5 / clock_ticks_per_second() as f64 {
            coarse
        } else {
            fine
        }
    }
}

/// The first field (ns on CPU) of every live thread's `schedstat`, by thread id.
fn thread_run_times(pid: u32) -> HashMap<u32, u64> {
    let mut times = HashMap::new();
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return times };
    for entry in entries.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse::<u32>().ok()) else { continue };
        // A thread may exit between listing and reading: skip it.
        if let Ok(text) = std::fs::read_to_string(entry.path().join("schedstat")) {
            if let Some(ns) = text.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()) {
                times.insert(tid, ns);
            }
        }
    }
    times
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line. The command name (field
/// 2) may contain spaces and parentheses, so fields are counted after the last `)`.
pub fn parse_cpu_ticks(stat: &str) -> Result<u64> {
    let rest = stat.rsplit_once(')').map(|(_, rest)| rest).ok_or_else(|| anyhow!("malformed stat line"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': field 3 (state) is index 0, so field 14 is index 11 and field 15 index 12.
    let get = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .ok_or_else(|| anyhow!("stat line too short"))?
            .parse::<u64>()
            .context("stat field is not a number")
    };
    Ok(get(11)? + get(12)?)
}

/// `sysconf(_SC_CLK_TCK)` through `getconf`, 100 (Linux's usual value) if that fails.
fn clock_ticks_per_second() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|t| *t > 0)
            .unwrap_or(100)
    })
}

/// CPU accounting for a set of processes (runner, Redis, floor…) by name.
#[derive(Debug, Clone)]
pub struct CpuMeter {
    pids: Vec<(String, u32)>,
}

/// CPU seconds per process name, between two readings.
pub type CpuDelta = Vec<(String, f64)>;

impl CpuMeter {
    pub fn new(pids: Vec<(String, u32)>) -> CpuMeter {
        CpuMeter { pids }
    }

    pub fn is_empty(&self) -> bool {
        self.pids.is_empty()
    }

    /// Current CPU readings of each process.
    pub fn read(&self) -> Result<Vec<CpuReading>> {
        self.pids.iter().map(|(_, pid)| CpuReading::take(*pid)).collect()
    }

    /// Runs `work` and returns its output with the CPU each process used meanwhile.
    pub async fn around<T, F: Future<Output = Result<T>>>(&self, work: F) -> Result<(T, CpuDelta)> {
        let before = self.read()?;
        let out = work.await?;
        let after = self.read()?;
        let delta = self
            .pids
            .iter()
            .zip(before.iter().zip(after))
            .map(|((name, _), (b, a))| (name.clone(), b.seconds_until(&a)))
            .collect();
        Ok((out, delta))
    }
}

/// CPU seconds of `name` in a delta, if measured.
pub fn cpu_of(delta: &CpuDelta, name: &str) -> Option<f64> {
    delta.iter().find(|(n, _)| n == name).map(|(_, s)| *s)
}

/// Adds `delta` into `total`, process by process: the CPU of several measured windows
/// taken together (a process `total` does not have yet is added to it).
pub fn add_cpu(total: &mut CpuDelta, delta: CpuDelta) {
    for (name, seconds) in delta {
        match total.iter_mut().find(|(n, _)| *n == name) {
            Some((_, sum)) => *sum += seconds,
            None => total.push((name, seconds)),
        }
    }
}

/// Redis `INFO memory` `used_memory`, in bytes.
pub async fn redis_used_memory(conn: &mut redis::aio::MultiplexedConnection) -> Result<u64> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(conn).await.context("INFO memory")?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow!("INFO memory has no used_memory line"))
}

/// Every key in the Redis database (SCAN), for counting what a step added.
pub async fn redis_keys(conn: &mut redis::aio::MultiplexedConnection) -> Result<std::collections::HashSet<String>> {
    let mut keys = std::collections::HashSet::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) =
            redis::cmd("SCAN").arg(cursor).arg("COUNT").arg(5000).query_async(conn).await.context("SCAN")?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

/// `MEMORY USAGE` summed over `keys` (keys gone meanwhile count 0).
pub async fn redis_memory_of<'a>(
    conn: &mut redis::aio::MultiplexedConnection,
    keys: impl Iterator<Item = &'a String>,
) -> Result<u64> {
    let mut total = 0;
    for key in keys {
        let bytes: Option<u64> = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(key)
            .arg("SAMPLES")
            .arg(0)
            .query_async(conn)
            .await
            .context("MEMORY USAGE")?;
        total += bytes.unwrap_or(0);
    }
    Ok(total)
}

/// Connects to a loopback Redis.
pub async fn redis_connect(url: &str) -> Result<redis::aio::MultiplexedConnection> {
    let host = url.strip_prefix("redis://").unwrap_or_default();
    if !(host.starts_with("127.0.0.1") || host.starts_with("localhost")) {
        bail!("the benchmark only uses a loopback Redis (got {url})");
    }
    let client = redis::Client::open(url).with_context(|| format!("bad Redis URL {url}"))?;
    client.get_multiplexed_async_connection().await.with_context(|| format!("connecting to {url}"))
}

/// What a closed-loop run did.
#[derive(Debug)]
pub struct LoopRun<S> {
    /// The workers' states, returned for reuse.
    pub states: Vec<S>,
    /// Latency of every completed operation.
    pub samples: Vec<Duration>,
    pub wall: Duration,
}

/// Runs one worker per state; each repeats `op` (which takes and gives back its state)
/// until `duration` has passed or `max_ops` operations were started in total. The first
/// error stops the run.
pub async fn closed_loop<S, F, Fut>(states: Vec<S>, duration: Duration, max_ops: usize, op: F) -> Result<LoopRun<S>>
where
    S: Send + 'static,
    F: Fn(S) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<S>> + Send + 'static,
{
    let started = Instant::now();
    let deadline = started + duration;
    let issued = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::with_capacity(states.len());
    for state in states {
        let op = op.clone();
        let issued = issued.clone();
        handles.push(tokio::spawn(async move {
            let mut state = state;
            let mut samples = Vec::new();
            while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < max_ops {
                let t = Instant::now();
                state = op(state).await?;
                samples.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>((state, samples))
        }));
    }
    let mut run = LoopRun { states: Vec::new(), samples: Vec::new(), wall: Duration::ZERO };
    let mut first_error = None;
    for handle in handles {
        match handle.await {
            Ok(Ok((state, samples))) => {
                run.states.push(state);
                run.samples.extend(samples);
            }
            Ok(Err(err)) => {
                first_error.get_or_insert(err);
            }
            Err(join) => {
                first_error.get_or_insert(anyhow!("worker task failed: {join}"));
            }
        }
    }
    run.wall = started.elapsed();
    match first_error {
        Some(err) => Err(err),
        None => Ok(run),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let l = Latency::of(&samples);
        assert_eq!(l.n, 100);
        assert!((l.p50_ms - 51.0).abs() < 1.01, "{l:?}");
        assert!((l.p99_ms - 99.0).abs() < 1.01, "{l:?}");
        assert!((l.mean_ms - 50.5).abs() < 0.01, "{l:?}");
        assert_eq!(Latency::of(&[]), Latency::default());
    }

    #[test]
    fn cpu_ticks_from_a_stat_line_with_a_tricky_name() {
        let line = "1234 (rhosync (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0 1000 0 0";
        assert_eq!(parse_cpu_ticks(line).expect("parses"), 325);
        assert!(parse_cpu_ticks("garbage").is_err());
    }

    #[test]
    fn own_cpu_is_readable() {
        let pid = std::process::id();
        let a = cpu_seconds(pid).expect("own stat");
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        std::hint::black_box(x);
        assert!(cpu_seconds(pid).expect("own stat") >= a);
    }

    #[test]
    fn cpu_of_several_windows_adds_up_by_process() {
        let mut total = CpuDelta::new();
        add_cpu(&mut total, vec![("runner".into(), 0.5), ("redis".into(), 0.25)]);
        add_cpu(&mut total, vec![("runner".into(), 1.0), ("floor".into(), 2.0)]);
        assert_eq!(cpu_of(&total, "runner"), Some(1.5));
        assert_eq!(cpu_of(&total, "redis"), Some(0.25));
        assert_eq!(cpu_of(&total, "floor"), Some(2.0));
        assert_eq!(cpu_of(&CpuDelta::new(), "runner"), None);
    }

    #[tokio::test]
    async fn closed_loop_respects_the_budget() {
        let run = closed_loop(vec![0usize; 4], Duration::from_secs(5), 10, |n: usize| async move { Ok(n + 1) })
            .await
            .expect("runs");
        assert_eq!(run.samples.len(), 10);
        assert_eq!(run.states.iter().sum::<usize>(), 10);
    }
}
