//! S6, throughput against the floor: no-change syncs per second from several in-step
//! devices, and the same closed loop against the floor (one Redis `GET` per request,
//! served by `rhosync-bench floor` in a child process of its own, [`FloorProcess`]); the
//! target is the sync's share of the floor's rate.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;

use super::{cpu_json, nochange_owned, per_request_ms, Bench};
use crate::client::Target;
use crate::measure::{closed_loop, CpuMeter, Latency};
use crate::report::Goal;

impl Bench {
    /// S6: no-change sync requests/s against the floor's, same client and concurrency.
    pub(super) async fn s6(&mut self) -> Result<()> {
        let Some(redis_url) = self.cfg.redis_url.clone() else { bail!("S6 needs --redis-url for the floor") };
        let (source, n) = (self.cfg.small_source.clone(), self.cfg.small_objects);
        let user = self.login("a");
        self.ensure_seeded(&source, &user, n).await?;
        let c = self.cfg.s6_concurrency.max(1);
        let mut devices = Vec::with_capacity(c);
        for _ in 0..c {
            let mut d = self.new_client(&user).await?;
            d.sync(&source, self.cfg.p_size, self.cfg.max_pages(n)).await?;
            d.log.clear();
            devices.push(d);
        }
        let floor = FloorProcess::start(self.cfg.floor_bin.clone(), &redis_url).await?;
        let floor_target = Target::new(&floor.url)?;
        let duration = Duration::from_secs_f64(self.cfg.s6_seconds);
        let budget = self.cfg.max_requests;
        let p_size = self.cfg.p_size;
        let mut floor_pids = Vec::new();
        if let Some(pid) = floor.pid {
            floor_pids.push(("floor".to_owned(), pid));
        }
        let floor_cpu = CpuMeter::new(floor_pids);

        // Warm both paths briefly, then measure each.
        let warm = Duration::from_millis(300).min(duration);
        let src = source.clone();
        let devices = closed_loop(devices, warm, budget, move |d| nochange_owned(d, src.clone(), p_size)).await?.states;
        let ft = floor_target.clone();
        closed_loop(vec![(); c], warm, budget, move |()| floor_get(ft.clone())).await?;

        let src = source.clone();
        let (sync_run, sync_cpu) = self
            .cpu
            .around(closed_loop(devices, duration, budget, move |d| nochange_owned(d, src.clone(), p_size)))
            .await?;
        let ft = floor_target.clone();
        let (floor_run, floor_cpu_delta) =
            floor_cpu.around(closed_loop(vec![(); c], duration, budget, move |()| floor_get(ft.clone()))).await?;
        drop(floor);

        let ls = Latency::of(&sync_run.samples);
        let lf = Latency::of(&floor_run.samples);
        let sync_rps = ls.n as f64 / sync_run.wall.as_secs_f64().max(1e-9);
        let floor_rps = lf.n as f64 / floor_run.wall.as_secs_f64().max(1e-9);
        let share = sync_rps / floor_rps.max(1e-9);
        self.report.info(
            "S6",
            &format!("no-change sync, {c} devices"),
            format!("{sync_rps:.0} req/s, p50 {:.2} ms", ls.p50_ms),
        );
        self.report.info(
            "S6",
            &format!("floor (1 Redis GET), {c} clients"),
            format!("{floor_rps:.0} req/s, p50 {:.2} ms", lf.p50_ms),
        );
        let sync_cpu_ms = per_request_ms(&sync_cpu, "runner", ls.n);
        let floor_cpu_ms = per_request_ms(&floor_cpu_delta, "floor", lf.n);
        if let (Some(a), Some(b)) = (sync_cpu_ms, floor_cpu_ms) {
            self.report.info("S6", "server CPU per request, sync / floor", format!("{a:.3} / {b:.3} ms"));
        }
        self.report.target(
            "S6",
            "sync req/s as a share of the floor",
            share,
            format!("{:.0}%", share * 100.0),
            Goal::AtLeast(0.6, "≥ 60%"),
        );
        self.report.detail(
            "S6",
            json!({"concurrency": c, "objects": n, "sync": {"requests_per_s": sync_rps, "latency": ls, "runner_cpu_ms_per_request": sync_cpu_ms, "cpu_s": cpu_json(&sync_cpu)},
                   "floor": {"requests_per_s": floor_rps, "latency": lf, "cpu_ms_per_request": floor_cpu_ms}, "share": share}),
        );
        Ok(())
    }
}

async fn floor_get(target: Target) -> Result<()> {
    target.get_ok(crate::floor::FLOOR_PATH).await.map(drop)
}

/// The floor server: a child process running `rhosync-bench floor` (so its CPU is its own),
/// or — when no binary is available — a task in this process.
struct FloorProcess {
    url: String,
    pid: Option<u32>,
    _child: Option<tokio::process::Child>,
    _task: Option<tokio::task::JoinHandle<Result<()>>>,
}

impl FloorProcess {
    async fn start(binary: Option<PathBuf>, redis_url: &str) -> Result<FloorProcess> {
        let binary = match binary {
            Some(b) => Some(b),
            None => std::env::current_exe().ok().filter(|p| p.file_name().is_some_and(|n| n == "rhosync-bench")),
        };
        let Some(binary) = binary else {
            let (addr, serving) = crate::floor::start(redis_url, ([127, 0, 0, 1], 0).into()).await?;
            let task = tokio::spawn(serving);
            return Ok(FloorProcess { url: format!("http://{addr}"), pid: None, _child: None, _task: Some(task) });
        };
        let port_file =
            std::env::temp_dir().join(format!("rhosync-bench-floor-{}-{}", std::process::id(), rand::random::<u32>()));
        let child = tokio::process::Command::new(&binary)
            .arg("floor")
            .arg("--redis-url")
            .arg(redis_url)
            .arg("--bind")
            .arg("127.0.0.1:0")
            .arg("--port-file")
            .arg(&port_file)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting the floor ({})", binary.display()))?;
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Some(port) = std::fs::read_to_string(&port_file).ok().and_then(|p| p.trim().parse::<u16>().ok()) {
                break port;
            }
            if Instant::now() > deadline {
                bail!("the floor did not write its port within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let _ = std::fs::remove_file(&port_file);
        Ok(FloorProcess { url: format!("http://127.0.0.1:{port}"), pid, _child: Some(child), _task: None })
    }
}

impl Drop for FloorProcess {
    fn drop(&mut self) {
        if let Some(task) = &self._task {
            task.abort();
        }
    }
}
