//! `soak`, the long run (opt-in: `--scenarios soak`): `--soak-devices` simulated devices
//! (1,000 by default, `--soak-devices-per-user` per user) against the runner for
//! `--soak-seconds` (600), while a backend pushes changes at a steady rate, and the
//! runner's resident set and Redis memory are sampled every `--soak-sample-secs`.
//!
//! - **Devices** ([`device`]): each logs in (and again when its session is
//!   `--soak-relogin-secs` old), creates its client once, and then syncs every
//!   `--soak-sync-interval-secs` on an open-loop schedule — the query, then one
//!   acknowledgement per page until the token is empty. Device `i` starts at `i/n` of
//!   `--soak-ramp-secs` (100 s, so the first logins and clientcreates do not all land on the
//!   registry at once), so once all have started syncs arrive at `devices / interval` per
//!   second whatever the latency. A device whose step failed backs off (2 s doubling to a
//!   minute) before its next scheduled sync.
//!   After every `--soak-write-every`-th sync a device writes one record through the sync
//!   route: it creates an object, reads the link on its next sync, later updates that
//!   object and then deletes it, so the data set stays the same size. At most
//!   `--soak-max-inflight` device cycles run at once (a thousand devices do not need a
//!   thousand busy sockets: at the default rates a few are in flight at a time).
//! - **Backend**: `push_objects` of `--soak-push-objects` objects at `--soak-push-rate`
//!   per second and `push_deletes` of one id at `--soak-delete-rate` per second, each to
//!   a random user, ids drawn from the user's `--soak-objects` seeded ids — so pushes
//!   update objects or bring deleted ones back, and the data set stays bounded too.
//! - **Samples** ([`sample`]): `VmRSS` of the runner (`/proc/<pid>/status`, the pid `infra/bench`
//!   passes), its CPU seconds, Redis `used_memory`, and a `SCAN` that splits Redis memory
//!   into what is kept by design — the partitions' change history (`hist`, `hlog`;
//!   docs/sync-engine.md §10), the write records (`cudw:*`, 24 h; §6.7) and the
//!   statistics series (docs/rest-api.md §4.5) — and the rest.
//!
//! Verdict: no errors (any non-200 answer or protocol violation, per request kind); the
//! runner's RSS after the warm-up (`--soak-warmup-secs`, 120) flat within 10% (max/min of the
//! samples); Redis memory bounded: the live state — `MEMORY USAGE` of every key but what is
//! kept by design — flat within 10% after the warm-up (the kept part grows with the changes
//! made, and the report gives its bytes per change event; Redis's own bookkeeping beside
//! the keys is reported per key, and `used_memory` less the kept part as before). Results go into the JSON under `soak`, and a PNG of memory
//! and p99 per kind over time next to it ([`plot`]).

mod device;
mod plot;
mod record;
mod sample;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures::StreamExt;
use rand::seq::index::sample;
use rand::Rng;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use super::Bench;
use crate::client::Admin;
use crate::data;
use crate::report::Goal;
use device::{Fleet, SoakDevice};
use record::{after_warmup, kind_label, spread, with, Recorder, Sample, KINDS};
use sample::{load_average, Sampler};

/// The flatness the verdict asks for: max / min after the warm-up.
const FLAT: f64 = 1.10;

/// The generation the soak's objects are seeded with and its pushes count up from: its
/// values embed the generation, and with seven digits from the start an updated object is
/// as long as the seeded one, so the data set's size in bytes stays put (from 0 every
/// thousandth push made it longer).
const GENERATION_BASE: u32 = 1_000_000;

/// Options of the `soak` scenario.
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct SoakConfig {
    /// Simulated devices of the soak.
    #[arg(long, default_value_t = 1000)]
    pub soak_devices: usize,
    /// Seconds the soak's load runs.
    #[arg(long, default_value_t = 600)]
    pub soak_seconds: u64,
    /// Devices per user (users = devices / this).
    #[arg(long, default_value_t = 5)]
    pub soak_devices_per_user: usize,
    /// User-partitioned source the soak syncs (each user gets its own partition).
    #[arg(long, default_value = "BenchSmall")]
    pub soak_source: String,
    /// Objects seeded per user; pushes and deletes draw their ids from these.
    #[arg(long, default_value_t = 100)]
    pub soak_objects: usize,
    /// Seconds between two syncs of one device.
    #[arg(long, default_value_t = 10.0)]
    pub soak_sync_interval_secs: f64,
    /// A device writes (create, update or delete) after every this-many syncs.
    #[arg(long, default_value_t = 6)]
    pub soak_write_every: u64,
    /// A device logs in again when its session is this old.
    #[arg(long, default_value_t = 300.0)]
    pub soak_relogin_secs: f64,
    /// Seconds over which the devices make their first request (login, clientcreate,
    /// first sync), device i at i/n of it; at least one sync interval.
    #[arg(long, default_value_t = 100.0)]
    pub soak_ramp_secs: f64,
    /// Backend `push_objects` calls per second (to random users).
    #[arg(long, default_value_t = 8.0)]
    pub soak_push_rate: f64,
    /// Objects per `push_objects` call.
    #[arg(long, default_value_t = 5)]
    pub soak_push_objects: usize,
    /// Backend `push_deletes` calls (one id each) per second.
    #[arg(long, default_value_t = 2.0)]
    pub soak_delete_rate: f64,
    /// Seconds between two resource samples.
    #[arg(long, default_value_t = 10.0)]
    pub soak_sample_secs: f64,
    /// Seconds of warm-up the verdict leaves out (the ramp and 20 s more).
    #[arg(long, default_value_t = 120.0)]
    pub soak_warmup_secs: f64,
    /// Device cycles (and, separately, backend pushes) that may run at once.
    #[arg(long, default_value_t = 16)]
    pub soak_max_inflight: usize,
}

impl SoakConfig {
    /// Tiny sizes for tests.
    pub fn smoke() -> SoakConfig {
        SoakConfig {
            soak_devices: 6,
            soak_seconds: 4,
            soak_devices_per_user: 3,
            soak_source: "BenchSmall".into(),
            soak_objects: 10,
            soak_sync_interval_secs: 0.5,
            soak_write_every: 2,
            soak_relogin_secs: 2.0,
            soak_ramp_secs: 1.0,
            soak_push_rate: 4.0,
            soak_push_objects: 2,
            soak_delete_rate: 1.0,
            soak_sample_secs: 1.0,
            soak_warmup_secs: 1.0,
            soak_max_inflight: 4,
        }
    }
}

/// What the backend pushers share.
struct Backend {
    admin: Admin,
    rec: record::Shared,
    source: String,
    users: Vec<String>,
    objects: usize,
    attrs: usize,
    per_push: usize,
    generation: AtomicU32,
    slots: Arc<Semaphore>,
}

impl Backend {
    /// Calls `push_objects` (or `push_deletes`) at `rate` per second until `deadline`,
    /// each call in a task of its own so a slow answer does not slow the rate.
    async fn run(self: Arc<Self>, deletes: bool, rate: f64, deadline: Instant) {
        if rate <= 0.0 || self.users.is_empty() {
            return;
        }
        let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut calls = Vec::new();
        loop {
            let scheduled: Instant = ticks.tick().await.into();
            if scheduled >= deadline {
                break;
            }
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                with(&self.rec, |r| r.counters.pushes_skipped += 1);
                continue;
            };
            let me = self.clone();
            calls.push(tokio::spawn(async move {
                me.push_one(deletes).await;
                drop(slot);
            }));
            calls.retain(|c: &tokio::task::JoinHandle<()>| !c.is_finished());
        }
        futures::future::join_all(calls).await;
    }

    async fn push_one(&self, deletes: bool) {
        let (user, ids) = {
            let mut rng = rand::thread_rng();
            let user = self.users[rng.gen_range(0..self.users.len())].clone();
            let n = if deletes { 1 } else { self.per_push.clamp(1, self.objects.max(1)) };
            (user, sample(&mut rng, self.objects.max(1), n).into_vec())
        };
        let (kind, outcome) = if deletes {
            let ids: Vec<String> = ids.iter().map(|i| data::object_id(*i)).collect();
            ("push_deletes", self.admin.push_deletes(&self.source, &user, &ids).await)
        } else {
            let g = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
            let objects =
                ids.iter().map(|i| (data::object_id(*i), Value::Object(data::object(*i, self.attrs, g)))).collect();
            ("push_objects", self.admin.push_objects(&self.source, &user, &objects).await)
        };
        with(&self.rec, |r| match outcome {
            Ok(latency) => {
                r.answered(kind, latency);
                if deletes {
                    r.counters.pushed_deletes += ids.len() as u64;
                } else {
                    r.counters.pushed_objects += ids.len() as u64;
                }
            }
            Err(err) => r.error(kind, format!("{err:#}")),
        });
    }
}

impl Bench {
    /// `soak`: many devices and a pushing backend for minutes; errors, latency per kind,
    /// runner RSS and Redis memory over time.
    pub(super) async fn soak(&mut self) -> Result<()> {
        let c = self.cfg.soak.clone();
        if c.soak_devices == 0 || c.soak_seconds == 0 {
            bail!("the soak needs --soak-devices and --soak-seconds above 0");
        }
        if !(c.soak_sync_interval_secs > 0.0 && c.soak_sample_secs > 0.0) {
            bail!("--soak-sync-interval-secs and --soak-sample-secs must be positive");
        }
        let per_user = c.soak_devices_per_user.max(1);
        let users: Vec<String> =
            (0..c.soak_devices.div_ceil(per_user)).map(|u| self.login(&format!("soak-u{u}"))).collect();
        let load_before = load_average();
        eprintln!(
            "[bench] soak: {} devices over {} users, {} s; seeding {} objects per user (load average {load_before})",
            c.soak_devices,
            users.len(),
            c.soak_seconds,
            c.soak_objects
        );
        let seed_started = Instant::now();
        let admin = self.admin.clone();
        let (source, objects, attrs) = (c.soak_source.clone(), c.soak_objects, self.cfg.attrs);
        let seeded: Vec<Result<data::Seeded>> = futures::stream::iter(users.clone())
            .map(|user| {
                let (admin, source) = (admin.clone(), source.clone());
                async move { data::seed(&admin, &source, &user, 0..objects, attrs, GENERATION_BASE).await }
            })
            .buffer_unordered(8)
            .collect()
            .await;
        for s in seeded {
            s.context("seeding the soak's users")?;
        }
        eprintln!("[bench] soak: seeded in {:.1} s", seed_started.elapsed().as_secs_f64());

        let started = Instant::now();
        let deadline = started + Duration::from_secs(c.soak_seconds);
        let rec: record::Shared = Arc::new(Mutex::new(Recorder::new(started)));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicU64::new(0));
        // Hash tags of the soak's partitions: `{<source>|<login prefix>…}` (store/keys.rs).
        let partition_tag = format!("{{{}|{}", c.soak_source, self.login("soak-u"));
        let sampling = tokio::spawn(
            Sampler {
                started,
                every: Duration::from_secs_f64(c.soak_sample_secs),
                runner: self.cfg.runner_pid,
                redis: self.redis.clone(),
                partition_tag,
                rec: rec.clone(),
                samples: samples.clone(),
                stop: stop.clone(),
            }
            .run(),
        );

        let interval = Duration::from_secs_f64(c.soak_sync_interval_secs);
        let ramp = Duration::from_secs_f64(c.soak_ramp_secs).max(interval);
        let fleet = Arc::new(Fleet {
            target: self.target.clone(),
            rec: rec.clone(),
            source: c.soak_source.clone(),
            p_size: self.cfg.p_size,
            max_pages: self.cfg.max_pages(c.soak_objects * 2),
            interval,
            write_every: c.soak_write_every.max(1),
            relogin: Duration::from_secs_f64(c.soak_relogin_secs.max(0.0)),
            slots: Semaphore::new(c.soak_max_inflight.max(1)),
            inflight: AtomicU64::new(0),
        });
        let mut tasks = Vec::with_capacity(c.soak_devices + 2);
        for i in 0..c.soak_devices {
            let device = SoakDevice::new(i, users[i / per_user].clone());
            let first = started + ramp.mul_f64(i as f64 / c.soak_devices as f64);
            tasks.push(tokio::spawn(device.run(fleet.clone(), first, deadline)));
        }
        let backend = Arc::new(Backend {
            admin: self.admin.clone(),
            rec: rec.clone(),
            source: c.soak_source.clone(),
            users: users.clone(),
            objects: c.soak_objects,
            attrs: self.cfg.attrs,
            per_push: c.soak_push_objects,
            generation: AtomicU32::new(GENERATION_BASE),
            slots: Arc::new(Semaphore::new(c.soak_max_inflight.max(1))),
        });
        tasks.push(tokio::spawn(backend.clone().run(false, c.soak_push_rate, deadline)));
        tasks.push(tokio::spawn(backend.run(true, c.soak_delete_rate, deadline)));

        // Progress once a minute, so a long run shows it is alive.
        let progress_rec = rec.clone();
        let progress = tokio::spawn(async move {
            let mut ticks =
                tokio::time::interval_at((started + Duration::from_secs(60)).into(), Duration::from_secs(60));
            loop {
                ticks.tick().await;
                let (n, errors, cycles) = with(&progress_rec, |r| (r.requests(), r.error_count(), r.counters.cycles));
                eprintln!(
                    "[bench] soak: {:.0} s, {n} requests, {cycles} sync cycles, {errors} errors, load {}",
                    started.elapsed().as_secs_f64(),
                    load_average()
                );
            }
        });
        for task in tasks {
            task.await.context("a soak task failed")?;
        }
        progress.abort();
        let elapsed = started.elapsed().as_secs_f64();
        stop.store(1, Ordering::Relaxed);
        sampling.await.context("the soak's sampler failed")?;
        let load_after = load_average();

        let samples = samples.lock().map(|s| s.clone()).unwrap_or_default();
        let recorder = with(&rec, |r| std::mem::replace(r, Recorder::new(started)));
        self.soak_report(&c, users.len(), elapsed, &recorder, &samples, [&load_before, &load_after])
    }

    /// The soak's rows, JSON and plot.
    fn soak_report(
        &mut self,
        c: &SoakConfig,
        users: usize,
        elapsed: f64,
        rec: &Recorder,
        samples: &[Sample],
        load: [&str; 2],
    ) -> Result<()> {
        let n = rec.requests();
        let errors = rec.error_count();
        let k = &rec.counters;
        let sync_rate = c.soak_devices as f64 / c.soak_sync_interval_secs;
        self.report.info(
            "soak",
            "devices, users, seconds",
            format!(
                "{} devices, {users} users, {elapsed:.0} s (load average {} → {})",
                c.soak_devices, load[0], load[1]
            ),
        );
        self.report.info(
            "soak",
            "offered rates",
            format!(
                "{sync_rate:.0} syncs/s, {:.1} writes/s, {:.1} push_objects/s × {}, {:.1} push_deletes/s",
                sync_rate / c.soak_write_every.max(1) as f64,
                c.soak_push_rate,
                c.soak_push_objects,
                c.soak_delete_rate
            ),
        );
        self.report.info(
            "soak",
            "requests answered",
            format!(
                "{n} ({:.0}/s), {} sync cycles, {} writes, {} missed ticks, {} late starts, {} backed off",
                n as f64 / elapsed.max(1e-9),
                k.cycles,
                k.writes,
                k.missed_ticks,
                k.late_starts,
                k.backed_off
            ),
        );
        let first_error = rec.errors.iter().next().map_or(String::new(), |(kind, e)| {
            format!(
                " (first: {kind}: {})",
                e.first.first().map_or("", |m| m.as_str()).chars().take(100).collect::<String>()
            )
        });
        self.report.target("soak", "errors", errors as f64, format!("{errors}{first_error}"), Goal::AtMost(0.0, "0"));
        let errors_late = rec.errors_after(c.soak_warmup_secs);
        self.report.info("soak", &format!("errors after {:.0} s", c.soak_warmup_secs), errors_late.to_string());
        let mut by_kind = serde_json::Map::new();
        for kind in KINDS {
            let l = rec.latency(kind);
            if l.n == 0 {
                continue;
            }
            self.report.info(
                "soak",
                &format!("{}: p50 / p99 / max", kind_label(kind)),
                format!("{:.2} / {:.2} / {:.1} ms (n {})", l.p50_ms, l.p99_ms, l.max_ms, l.n),
            );
            by_kind.insert(kind.to_owned(), json!(l));
        }

        let warm = c.soak_warmup_secs;
        let rss = after_warmup(samples, warm, |s| s.runner_rss_bytes);
        let rss_spread = spread(&rss);
        match rss_spread {
            Some(r) => {
                let (lo, hi) =
                    (rss.iter().copied().fold(f64::INFINITY, f64::min), rss.iter().copied().fold(0.0, f64::max));
                self.report.target(
                    "soak",
                    &format!("runner RSS after {warm:.0} s, max / min"),
                    r,
                    format!("{r:.3} ({:.1} → {:.1} MiB)", lo / 1048576.0, hi / 1048576.0),
                    Goal::AtMost(FLAT, "≤ 1.10"),
                );
            }
            None => {
                self.report.info("soak", "runner RSS", "n/a (no --runner-pid, or no sample after the warm-up)".into())
            }
        }
        let rest = after_warmup(samples, warm, Sample::redis_live_state);
        let rest_spread = spread(&rest);
        let remainder_spread = spread(&after_warmup(samples, warm, Sample::redis_remainder));
        let used = after_warmup(samples, warm, |s| s.redis_used_memory);
        let warm_sample = samples.iter().find(|s| s.t_s >= warm);
        let last = samples.last();
        let kept = |s: &Sample| s.redis.as_ref().map_or(0, |r| r.history_bytes + r.write_record_bytes + r.stats_bytes);
        let kept_per_event = match (warm_sample, last) {
            (Some(a), Some(b)) if b.change_events > a.change_events => {
                Some((kept(b) as f64 - kept(a) as f64) / (b.change_events - a.change_events) as f64)
            }
            _ => None,
        };
        if let (Some(first), Some(last)) = (used.first(), used.last()) {
            self.report.info(
                "soak",
                &format!("Redis used_memory from {warm:.0} s to the end"),
                format!(
                    "{:.1} → {:.1} MiB; kept by design {:.1} → {:.1} MiB ({} B per change event)",
                    first / 1048576.0,
                    last / 1048576.0,
                    warm_sample.map_or(0.0, |s| kept(s) as f64 / 1048576.0),
                    samples.last().map_or(0.0, |s| kept(s) as f64 / 1048576.0),
                    kept_per_event.map_or("n/a".into(), |b| format!("{b:.0}")),
                ),
            );
        }
        let mib = |b: f64| b / 1048576.0;
        let per_key = |s: &Sample| {
            let keys = s.redis.as_ref().map_or(0, |r| r.keys);
            s.redis_bookkeeping().filter(|_| keys > 0).map(|b| b as f64 / keys as f64)
        };
        if let (Some(a), Some(b)) = (warm_sample, last) {
            self.report.info(
                "soak",
                "Redis bookkeeping (used_memory less every key's MEMORY USAGE) per key, warm-up → end",
                format!(
                    "{} → {} B per key ({} → {} keys); used_memory less what is kept by design: max / min {}",
                    per_key(a).map_or("n/a".into(), |v| format!("{v:.0}")),
                    per_key(b).map_or("n/a".into(), |v| format!("{v:.0}")),
                    a.redis.as_ref().map_or(0, |r| r.keys),
                    b.redis.as_ref().map_or(0, |r| r.keys),
                    remainder_spread.map_or("n/a".into(), |r| format!("{r:.3}")),
                ),
            );
        }
        match rest_spread {
            Some(r) => self.report.target(
                "soak",
                "Redis live state (MEMORY USAGE of all keys but history, write records, statistics): max / min after warm-up",
                r,
                format!(
                    "{r:.3} ({:.2} → {:.2} MiB)",
                    mib(rest.iter().copied().fold(f64::INFINITY, f64::min)),
                    mib(rest.iter().copied().fold(0.0, f64::max))
                ),
                Goal::AtMost(FLAT, "≤ 1.10"),
            ),
            None => {
                self.report.info("soak", "Redis memory", "n/a (no --redis-url, or no sample after the warm-up)".into())
            }
        }
        let passed = errors == 0 && rss_spread.is_some_and(|r| r <= FLAT) && rest_spread.is_some_and(|r| r <= FLAT);
        let verdict = format!(
            "{}: {errors} errors; runner RSS after warm-up max/min {}; Redis live state (all but what is kept by design) max/min {}",
            if passed { "PASS" } else { "FAIL" },
            rss_spread.map_or("n/a".into(), |r| format!("{r:.3}")),
            rest_spread.map_or("n/a".into(), |r| format!("{r:.3}")),
        );
        println!("[bench] soak verdict: {verdict}");

        let intervals = rec.intervals(c.soak_sample_secs, elapsed);
        let png = plot_path(&self.cfg.out);
        let title = format!(
            "rhosync soak: {} devices, {users} users, {elapsed:.0} s, {errors} errors (load {} → {})",
            c.soak_devices, load[0], load[1]
        );
        let plotted = match plot::render(&png, &title, samples, &intervals, warm) {
            Ok(()) => {
                eprintln!("[bench] soak: plot written to {}", png.display());
                Some(png.display().to_string())
            }
            Err(err) => {
                eprintln!("[bench] soak: no plot: {err:#}");
                self.report.info("soak", "plot", format!("not drawn: {err:#}"));
                None
            }
        };
        self.report.detail(
            "soak",
            json!({
                "config": c, "users": users, "elapsed_s": elapsed, "load_average": {"before": load[0], "after": load[1]},
                "requests": n, "errors_total": errors, "errors_after_warmup": errors_late,
                "errors": record::errors_json(&rec.errors),
                "counters": k, "latency": by_kind, "intervals": intervals, "samples": samples,
                "verdict": {"passed": passed, "text": verdict, "flat_limit": FLAT, "warmup_s": warm,
                            "runner_rss_spread": rss_spread, "redis_live_state_spread": rest_spread,
                            "redis_remainder_spread": remainder_spread,
                            "kept_bytes_per_change_event": kept_per_event},
                "plot": plotted,
            }),
        );
        Ok(())
    }
}

/// The PNG next to the results file: `results.json` → `results-soak.png`.
fn plot_path(out: &std::path::Path) -> PathBuf {
    let stem = out.file_stem().map_or_else(|| "results".into(), |s| s.to_string_lossy().into_owned());
    out.with_file_name(format!("{stem}-soak.png"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plot_goes_next_to_the_results() {
        assert_eq!(
            plot_path(std::path::Path::new(".local/bench/results.json")),
            PathBuf::from(".local/bench/results-soak.png")
        );
        assert_eq!(plot_path(std::path::Path::new("x.json")), PathBuf::from("x-soak.png"));
    }

    #[test]
    fn reads_its_own_rss() {
        assert!(sample::rss_bytes(std::process::id()).is_some_and(|b| b > 0));
        assert_eq!(sample::rss_bytes(u32::MAX), None);
    }
}
