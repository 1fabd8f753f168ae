//! `bulk`, the bulk-data file (docs/bulk-data.md): a source of `--bulk-objects` objects
//! (100,000 by default) × `--attrs` attributes is seeded for a user of its own; a device asks
//! for its user partition's file (`bulk_data` answers `wait`, the job is on the bulk queue,
//! which this stack does not consume); the real `bulk-worker` binary is then started under a
//! fake Lambda runtime API ([`crate::lambda::invoke`]) and handed that one job as an SQS
//! event, exactly the message the queue holds, so it runs the worker's whole code path:
//! snapshot from Redis, SQLite on a temporary directory, `.rzip` and `.gzip`, upload to the
//! emulator's S3, record completed. The device's next `bulk_data` must answer the URL.
//!
//! Measured: the job's phases (from the record's `timings`), the three files' bytes (ranged GETs
//! of them from the sync host, as a device downloads them), and the worker process's CPU and peak resident set (`VmHWM` of
//! `/proc/<pid>/status` and utime + stime of `/proc/<pid>/stat`, read after it answered and
//! before it is stopped; the CPU also when the record turns to `uploading`, polled every
//! 100 ms). Beside it, in the same run, the floor ([`crate::bulk_floor`], `rhosync-bench
//! bulk-floor` in a process of its own): the same rows written bare with rusqlite, the same
//! indexes, zip and gzip. Targets: build time (snapshot to compressed files, without the
//! upload) and CPU each ≤ 1.5× the floor's; the worker's peak RSS within the function's
//! memory (`MemorySize` 1024 of `BulkWorker` in `template.yaml`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use serde_json::{json, Value};

use super::{cpu_json, Bench};
use crate::bulk_floor::FloorRun;
use crate::client::{Admin, Target};
use crate::lambda;
use crate::report::Goal;

/// The bulk worker's memory in `template.yaml` (`BulkWorker`, `MemorySize`), in MB.
const FUNCTION_MEMORY_MB: f64 = 1024.0;

/// The bulk worker's own environment in `template.yaml` (`BulkWorker`): its longer
/// dependency timeouts (docs/configuration.md §2).
const WORKER_ENV: [(&str, &str); 2] = [("RHOSYNC_REDIS_TIMEOUT_MS", "10000"), ("RHOSYNC_AWS_TIMEOUT_MS", "30000")];

/// Options of the `bulk` scenario.
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct BulkConfig {
    /// Objects of the bulk scenario's file (1000000 shows the worker's memory stays bounded).
    #[arg(long, default_value_t = 100_000)]
    pub bulk_objects: usize,
    /// User-partitioned source the bulk file is built from (seeded for a user of its own).
    #[arg(long, default_value = "BenchLarge")]
    pub bulk_source: String,
    /// Seconds the bulk worker may take.
    #[arg(long, default_value_t = 1800)]
    pub bulk_timeout_secs: u64,
}

impl BulkConfig {
    /// Tiny sizes for the smoke test.
    pub fn smoke() -> BulkConfig {
        BulkConfig { bulk_objects: 120, bulk_source: "BenchLarge".into(), bulk_timeout_secs: 120 }
    }
}

/// What the poller saw while the worker ran.
#[derive(Debug, Default)]
struct Watch {
    /// The worker's CPU seconds when the record turned to `uploading`.
    cpu_at_upload: Option<f64>,
    peak_rss_at_upload: Option<u64>,
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn secs(timings: &Value, phase: &str) -> f64 {
    timings.get(phase).and_then(Value::as_f64).unwrap_or(0.0)
}

impl Bench {
    /// `bulk`: the bulk file built by the bulk worker, beside the bare floor.
    pub(super) async fn bulk(&mut self) -> Result<()> {
        let (source, n, attrs) = (self.cfg.bulk.bulk_source.clone(), self.cfg.bulk.bulk_objects, self.cfg.attrs);
        let Some(dir) = self.cfg.functions_dir.clone() else { bail!("bulk needs --functions-dir (bulk-worker)") };
        let worker = dir.join("bulk-worker");
        if !worker.is_file() {
            bail!("no bulk-worker binary at {}", worker.display());
        }
        let user = self.login("bulk");
        self.ensure_seeded(&source, &user, n).await?;
        let mut device = self.new_client(&user).await?;
        let answer = device.bulk_data("user", &[&source]).await?;
        if answer["result"] != "wait" {
            bail!("the first bulk_data answered {answer}, expected wait");
        }
        let record_path = format!("/rc/v1/bulk_data/users/{user}");
        let record = self.admin.get_json(&record_path).await?.ok_or_else(|| anyhow!("no bulk record for {user}"))?;
        let (build, name) = (record["build"].as_str().unwrap_or_default(), record["name"].as_str().unwrap_or_default());
        let body = json!({"id": build, "kind": "bulk", "name": name, "sources": record["sources"]});
        let event = json!({"Records": [{
            "messageId": build,
            "receiptHandle": "rhosync-bench",
            "body": body.to_string(),
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:rhosync-bench-bulk",
            "awsRegion": "us-east-1"
        }]});

        // Watch the record while the worker runs: the CPU when the upload starts.
        let watch = Arc::new(Mutex::new(Watch::default()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (pid_tx, pid_rx) = tokio::sync::oneshot::channel::<u32>();
        let poller =
            tokio::spawn(poll_record(self.admin.clone(), record_path.clone(), pid_rx, watch.clone(), stop.clone()));
        let timeout = Duration::from_secs(self.cfg.bulk.bulk_timeout_secs);
        let env: HashMap<String, String> = WORKER_ENV.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let started = Instant::now();
        let (invocation, around) = self
            .cpu
            .around(lambda::invoke(&worker, "bulk-worker", &env, event, timeout, move |pid| {
                let _ = pid_tx.send(pid);
            }))
            .await?;
        let job_wall = started.elapsed().as_secs_f64();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = poller.await;
        let failures = invocation.response.as_ref().and_then(|r| r.get("batchItemFailures")).cloned();
        if failures.as_ref().and_then(Value::as_array).is_some_and(|f| !f.is_empty()) {
            bail!("the bulk worker reported the job failed: {}", invocation.response.unwrap_or_default());
        }
        let record = self.admin.get_json(&record_path).await?.ok_or_else(|| anyhow!("the bulk record is gone"))?;
        if record["state"] != "completed" {
            bail!("bulk record {}: {}", record["state"], record["error"]);
        }
        let answer = device.bulk_data("user", &[&source]).await?;
        let url = answer["url"].as_str().unwrap_or_default();
        if answer["result"] != "url" || url.is_empty() {
            bail!("after the build bulk_data answered {answer}, expected a URL");
        }
        let sizes = object_sizes(&self.target, url).await;

        let floor = run_floor(self.cfg.floor_bin.clone(), n, attrs).await?;

        let t = &record["timings"];
        let (write, read, insert) = (secs(t, "write"), secs(t, "read"), secs(t, "insert"));
        let (index, compress, upload) = (secs(t, "index"), secs(t, "compress"), secs(t, "upload"));
        let build_s = secs(t, "refresh") + write + index + compress;
        let (watch_cpu, watch_rss) = match watch.lock() {
            Ok(w) => (w.cpu_at_upload, w.peak_rss_at_upload),
            Err(_) => (None, None),
        };
        let label = format!("{n} objects × {attrs} attrs");
        let r = &mut self.report;
        r.info(
            "bulk",
            &format!("worker build, {label} (write / index / compress)"),
            format!("{build_s:.2} s ({write:.2} / {index:.2} / {compress:.2})"),
        );
        r.info("bulk", "write: read + decode / insert (busy, overlapped)", format!("{read:.2} / {insert:.2} s"));
        r.info("bulk", "upload of the 3 files to the emulator's S3", format!("{upload:.2} s"));
        r.info("bulk", "worker job, spawn → answer", format!("{job_wall:.2} s"));
        r.info(
            "bulk",
            "floor: bare rusqlite + zip (insert / index / compress)",
            format!("{:.2} s ({:.2} / {:.2} / {:.2})", floor.total_s, floor.insert_s, floor.index_s, floor.compress_s),
        );
        let ratio = build_s / floor.total_s.max(1e-9);
        r.target("bulk", "build time / floor", ratio, format!("{ratio:.2}"), Goal::AtMost(1.5, "≤ 1.5"));
        let worker_cpu = watch_cpu.or(invocation.cpu_s);
        if let (Some(w), Some(f)) = (worker_cpu, floor.cpu_s) {
            let cpu_ratio = w / f.max(1e-9);
            r.info("bulk", "CPU to the upload, worker / floor", format!("{w:.2} / {f:.2} s"));
            r.target(
                "bulk",
                "worker CPU / floor CPU",
                cpu_ratio,
                format!("{cpu_ratio:.2}"),
                Goal::AtMost(1.5, "≤ 1.5"),
            );
        }
        if let Some(total) = invocation.cpu_s {
            r.info("bulk", "worker CPU, whole job with the upload", format!("{total:.2} s"));
        }
        let shown = |b: Option<u64>| b.map_or_else(|| "n/a".to_owned(), |b| format!("{:.1} MB", mb(b)));
        r.info(
            "bulk",
            "bytes .data / .rzip / .gzip",
            format!("{} / {} / {}", shown(sizes[0]), shown(sizes[1]), shown(sizes[2])),
        );
        r.info(
            "bulk",
            "floor bytes .data / .rzip / .gzip",
            format!("{:.1} / {:.1} / {:.1} MB", mb(floor.data_bytes), mb(floor.rzip_bytes), mb(floor.gzip_bytes)),
        );
        if let Some(peak) = invocation.peak_rss_bytes {
            let peak_mb = peak as f64 / (1024.0 * 1024.0);
            r.target(
                "bulk",
                "worker peak RSS (VmHWM)",
                peak_mb,
                format!("{peak_mb:.0} MiB"),
                Goal::AtMost(FUNCTION_MEMORY_MB, "≤ 1024 MiB (MemorySize)"),
            );
        }
        if let Some(peak) = floor.peak_rss_bytes {
            r.info("bulk", "floor peak RSS (VmHWM)", format!("{:.0} MiB", peak as f64 / (1024.0 * 1024.0)));
        }
        if let Some(s) = crate::measure::cpu_of(&around, "redis") {
            r.info("bulk", "redis CPU during the job", format!("{s:.2} s"));
        }
        r.detail(
            "bulk",
            json!({"objects": n, "attrs": attrs, "source": source, "timings": t, "build_s": build_s,
                   "job_wall_s": job_wall, "bytes": {"data": sizes[0], "rzip": sizes[1], "gzip": sizes[2]},
                   "worker": {"cpu_s": invocation.cpu_s, "cpu_s_at_upload": watch_cpu, "peak_rss_bytes": invocation.peak_rss_bytes,
                              "peak_rss_bytes_at_upload": watch_rss, "init_ms": invocation.startup.init_ms},
                   "floor": floor, "ratio": ratio, "cpu_around": cpu_json(&around),
                   "measured_by": "VmHWM of /proc/<pid>/status and CPU of /proc/<pid>/stat (+ live threads' schedstat), read before the process is stopped"}),
        );
        Ok(())
    }
}

/// Polls the record every 100 ms until `stop`; when it says `uploading`, reads the worker's
/// CPU and peak RSS.
async fn poll_record(
    admin: Admin,
    path: String,
    pid: tokio::sync::oneshot::Receiver<u32>,
    watch: Arc<Mutex<Watch>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let Ok(pid) = pid.await else { return };
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        if let Ok(Some(record)) = admin.get_json(&path).await {
            let step = record.pointer("/progress/step").and_then(Value::as_str).unwrap_or_default().to_owned();
            if matches!(step.as_str(), "uploading" | "done") || record["state"] != "in_progress" {
                let cpu = crate::measure::cpu_seconds(pid).ok();
                let rss = lambda::peak_rss_bytes(pid);
                if let Ok(mut w) = watch.lock() {
                    // "done" seen first means the upload was missed: no split then.
                    if step == "uploading" {
                        (w.cpu_at_upload, w.peak_rss_at_upload) = (cpu, rss);
                    }
                }
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Bytes of the `.data`, `.rzip` and `.gzip` files at `url`, as a device downloads them from
/// the sync host: a one-byte ranged GET each, whose `Content-Range` names the total length;
/// `None` where the host did not answer 206 with one.
async fn object_sizes(target: &Target, url: &str) -> [Option<u64>; 3] {
    let mut out = [None; 3];
    for (slot, suffix) in out.iter_mut().zip(["", ".rzip", ".gzip"]) {
        let Ok(req) = target.request(reqwest::Method::GET, &format!("{url}{suffix}")) else { continue };
        let Ok(resp) = req.header(reqwest::header::RANGE, "bytes=0-0").send().await else { continue };
        if resp.status() == reqwest::StatusCode::PARTIAL_CONTENT {
            *slot = resp
                .headers()
                .get(reqwest::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit_once('/'))
                .and_then(|(_, total)| total.parse().ok());
        }
    }
    out
}

/// Runs the floor in a process of its own (`rhosync-bench bulk-floor`), or in this one when
/// no binary is at hand (the smoke test), on a fresh temporary directory.
async fn run_floor(binary: Option<PathBuf>, objects: usize, attrs: usize) -> Result<FloorRun> {
    let dir = tempfile::tempdir().context("a temporary directory for the floor")?;
    let binary =
        binary.or_else(|| std::env::current_exe().ok().filter(|p| p.file_name().is_some_and(|n| n == "rhosync-bench")));
    let Some(binary) = binary else {
        let path = dir.path().to_owned();
        return tokio::task::spawn_blocking(move || crate::bulk_floor::run(&path, objects, attrs))
            .await
            .map_err(|e| anyhow!("floor thread: {e}"))?;
    };
    let out = tokio::process::Command::new(&binary)
        .arg("bulk-floor")
        .arg("--objects")
        .arg(objects.to_string())
        .arg("--attrs")
        .arg(attrs.to_string())
        .arg("--dir")
        .arg(dir.path())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("running {} bulk-floor", binary.display()))?;
    if !out.status.success() {
        bail!("bulk-floor failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    serde_json::from_slice(&out.stdout).context("bulk-floor printed no result")
}
