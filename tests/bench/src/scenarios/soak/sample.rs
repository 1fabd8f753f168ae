//! The soak's resource samples: the runner's resident set and CPU from `/proc`, Redis
//! `used_memory`, and one `SCAN` that splits Redis memory into what the server keeps by
//! design (history, write records, statistics) and the rest, each by `MEMORY USAGE` of its
//! keys; taken by [`Sampler`] every `--soak-sample-secs`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::record::{self, with, RedisBreakdown, Sample};
use crate::measure::{cpu_seconds, redis_used_memory};

/// `/proc/<pid>/status` `VmRSS`, in bytes.
pub(super) fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 =
        status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// `/proc/loadavg`'s first three fields.
pub(super) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".into())
}

/// Write records whose `MEMORY USAGE` is read per sample (the rest are counted).
const WRITE_RECORDS_MEASURED: usize = 64;

/// One `SCAN` of the whole database, splitting memory by what the keys hold: the change
/// history of the partitions whose hash tag starts with `{<source>|<user prefix>`, write
/// records, statistics.
async fn redis_breakdown(conn: &mut redis::aio::MultiplexedConnection, partition_tag: &str) -> Result<RedisBreakdown> {
    let mut history = Vec::new();
    let mut writes = Vec::new();
    let mut stats = Vec::new();
    let mut other = Vec::new();
    let mut out = RedisBreakdown::default();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) =
            redis::cmd("SCAN").arg(cursor).arg("COUNT").arg(2000).query_async(conn).await.context("SCAN")?;
        out.keys += batch.len() as u64;
        for key in batch {
            if key.contains("{cudw:") {
                out.write_records += 1;
                if writes.len() < WRITE_RECORDS_MEASURED {
                    writes.push(key);
                }
            } else if key.contains("{stats}") {
                stats.push(key);
            } else if key.contains(partition_tag) && (key.ends_with("}:hist") || key.ends_with("}:hlog")) {
                history.push(key);
            } else {
                other.push(key);
            }
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    out.history_bytes = memory_usage(conn, &history).await?;
    out.stats_bytes = memory_usage(conn, &stats).await?;
    out.other_keys = other.len() as u64;
    out.other_bytes = memory_usage(conn, &other).await?;
    if !writes.is_empty() {
        let measured = memory_usage(conn, &writes).await?;
        out.write_record_bytes = measured * out.write_records / writes.len() as u64;
    }
    Ok(out)
}

/// `MEMORY USAGE … SAMPLES 0` summed over `keys`, pipelined (keys gone meanwhile count 0).
async fn memory_usage(conn: &mut redis::aio::MultiplexedConnection, keys: &[String]) -> Result<u64> {
    let mut total = 0;
    for chunk in keys.chunks(500) {
        let mut pipe = redis::pipe();
        for key in chunk {
            pipe.cmd("MEMORY").arg("USAGE").arg(key).arg("SAMPLES").arg(0);
        }
        let sizes: Vec<Option<u64>> = pipe.query_async(conn).await.context("MEMORY USAGE")?;
        total += sizes.into_iter().flatten().sum::<u64>();
    }
    Ok(total)
}

/// Takes one sample `t_s` seconds into the run.
async fn take_sample(
    t_s: f64,
    runner: Option<u32>,
    redis: &mut Option<redis::aio::MultiplexedConnection>,
    partition_tag: &str,
    rec: &record::Shared,
) -> Sample {
    let mut s = Sample {
        t_s,
        runner_rss_bytes: runner.and_then(rss_bytes),
        runner_cpu_s: runner.and_then(|p| cpu_seconds(p).ok()),
        ..Sample::default()
    };
    if let Some(conn) = redis {
        s.redis_used_memory = redis_used_memory(conn).await.ok();
        match redis_breakdown(conn, partition_tag).await {
            Ok(b) => s.redis = Some(b),
            Err(err) => eprintln!("[bench] soak: Redis breakdown failed: {err:#}"),
        }
    }
    with(rec, |r| {
        s.requests = r.requests() as u64;
        s.change_events = r.counters.pushed_objects + r.counters.pushed_deletes + r.counters.writes;
    });
    s
}

/// The sampling task's state.
pub(super) struct Sampler {
    pub(super) started: Instant,
    pub(super) every: Duration,
    pub(super) runner: Option<u32>,
    pub(super) redis: Option<redis::aio::MultiplexedConnection>,
    pub(super) partition_tag: String,
    pub(super) rec: record::Shared,
    pub(super) samples: Arc<Mutex<Vec<Sample>>>,
    pub(super) stop: Arc<AtomicU64>,
}

impl Sampler {
    /// Samples every `every` until `stop` is set, then once more.
    pub(super) async fn run(mut self) {
        let mut ticks = tokio::time::interval_at(self.started.into(), self.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            ticks.tick().await;
            let done = self.stop.load(Ordering::Relaxed) != 0;
            let t_s = self.started.elapsed().as_secs_f64();
            let s = take_sample(t_s, self.runner, &mut self.redis, &self.partition_tag, &self.rec).await;
            if let Ok(mut all) = self.samples.lock() {
                all.push(s);
            }
            if done {
                return;
            }
        }
    }
}
