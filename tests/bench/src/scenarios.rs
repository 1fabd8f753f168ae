//! The scenarios, run in one process against one server so that every ratio compares
//! figures taken on the same machine at the same time.
//!
//! | id | what | target |
//! |---|---|---|
//! | S3 | initial paged sync of the large source (objects/s, runner CPU per object) | — |
//! | S1 | no-change sync latency, small vs large source, one device in step | ratio ≤ 1.2 |
//! | S2 | the incremental sync (the page carrying a few changed objects of the large source, after a backend push), its acknowledgement and the whole cycle | page ≤ 2× S1 (large) |
//! | S4 | Redis `used_memory` per additional device on app-partitioned sources | ≤ 30 B per value per device; stretch: constant |
//! | S5 | the RhoConnect bench `test_query_script` shape at several concurrencies | ≤ 0.6 ms runner CPU per request |
//! | S6 | no-change sync requests/s as a share of the floor's | ≥ 50% |
//! | start-up | spawn → first served invocation per function binary; zipped sizes | ≤ 8 MB zipped |
//!
//! Seeding goes through [`crate::data::seed`] (REST `push_objects`) into sources that the
//! settings file declares with `poll_interval: -1`, so the adapter never runs. Every loop
//! is bounded by a request count and a time limit.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use serde_json::{json, Value};

use crate::client::{Admin, Device, Target};
use crate::data::{self, seed};
use crate::lambda;
use crate::measure::{
    closed_loop, cpu_of, redis_connect, redis_keys, redis_memory_of, redis_used_memory, CpuDelta,
    CpuMeter, Latency,
};
use crate::report::{Goal, Report};

/// The settings file the benchmark's server runs with: the sources the scenarios use,
/// none ever queried (`poll_interval: -1`, data arrives through `push_objects`), and any
/// login accepted (`device_auth: open`) so each simulated device can be a new user.
pub const BENCH_SETTINGS: &str = "\
:development:
  :syncserver: http://127.0.0.1:9292
  :device_auth: open
  :poll_interval_default: -1
:test:
  :device_auth: open
  :poll_interval_default: -1
:sources:
  BenchSmall:
    adapter: demo
    poll_interval: -1
    partition_type: user
  BenchLarge:
    adapter: demo
    poll_interval: -1
    partition_type: user
  BenchApp:
    adapter: demo
    poll_interval: -1
    partition_type: app
  BenchAppSmall:
    adapter: demo
    poll_interval: -1
    partition_type: app
  BenchMixed:
    adapter: demo
    poll_interval: -1
    partition_type: app
";

/// What to run and how big. Defaults are the full benchmark (`infra/bench`).
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct Config {
    /// Base URL of the running server (loopback only).
    #[arg(long, env = "BENCH_BASE_URL")]
    pub base_url: String,
    /// Admin API token for the push routes.
    #[arg(long, env = "API_TOKEN", hide_env_values = true)]
    #[serde(skip)]
    pub api_token: String,
    /// Redis the server uses (for `INFO memory` and the floor).
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// Pid of the server process, for CPU time from /proc.
    #[arg(long)]
    pub runner_pid: Option<u32>,
    /// Pid of redis-server, for its CPU time.
    #[arg(long)]
    pub redis_pid: Option<u32>,
    /// Floor binary (this program) to start as `floor`; default: the running executable.
    #[arg(long)]
    pub floor_bin: Option<PathBuf>,
    /// Where the JSON results go.
    #[arg(long, default_value = ".local/bench/results.json")]
    pub out: PathBuf,
    /// Scenarios to run, comma-separated: s1,s2,s3,s4,s5,s6,startup.
    #[arg(
        long,
        default_value = "s3,s1,s2,s4,s5,s6,startup",
        value_delimiter = ','
    )]
    pub scenarios: Vec<String>,
    /// Prefix of the device logins of this run (a random suffix is added).
    #[arg(long, default_value = "bench")]
    pub user_prefix: String,
    /// Attributes per object.
    #[arg(long, default_value_t = 10)]
    pub attrs: usize,
    /// Page size devices ask for (Rhodes sends 2000).
    #[arg(long, default_value_t = 2000)]
    pub p_size: usize,
    /// User-partitioned source with the small dataset (S1, S6).
    #[arg(long, default_value = "BenchSmall")]
    pub small_source: String,
    #[arg(long, default_value_t = 1000)]
    pub small_objects: usize,
    /// User-partitioned source with the large dataset (S1, S2, S3).
    #[arg(long, default_value = "BenchLarge")]
    pub large_source: String,
    #[arg(long, default_value_t = 100_000)]
    pub large_objects: usize,
    /// No-change requests per source in S1.
    #[arg(long, default_value_t = 2000)]
    pub s1_requests: usize,
    /// Push-then-sync rounds in S2.
    #[arg(long, default_value_t = 30)]
    pub s2_rounds: usize,
    /// Objects changed per S2 round.
    #[arg(long, default_value_t = 10)]
    pub s2_changed: usize,
    /// App-partitioned sources for S4 (`name:objects`, comma-separated).
    #[arg(
        long,
        default_value = "BenchApp:10000,BenchAppSmall:1000",
        value_delimiter = ','
    )]
    pub s4_sources: Vec<String>,
    /// Devices added per S4 source (in two halves).
    #[arg(long, default_value_t = 10)]
    pub s4_devices: usize,
    /// App-partitioned source for the S5 mixed workload.
    #[arg(long, default_value = "BenchMixed")]
    pub mixed_source: String,
    #[arg(long, default_value_t = 500)]
    pub mixed_objects: usize,
    /// Concurrent devices per S5 level.
    #[arg(long, default_value = "1,5,10,50", value_delimiter = ',')]
    pub s5_levels: Vec<usize>,
    /// Seconds per S5 level.
    #[arg(long, default_value_t = 5.0)]
    pub s5_seconds: f64,
    /// Concurrent devices in S6 (and for the floor).
    #[arg(long, default_value_t = 10)]
    pub s6_concurrency: usize,
    /// Seconds of S6 load, each for the sync route and for the floor.
    #[arg(long, default_value_t = 5.0)]
    pub s6_seconds: f64,
    /// Directory with the release function binaries, for start-up times.
    #[arg(long)]
    pub functions_dir: Option<PathBuf>,
    #[arg(
        long,
        default_value = "sync,api,console,adapter-worker,push-worker,bulk-worker",
        value_delimiter = ','
    )]
    pub functions: Vec<String>,
    /// Starts per function binary (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub startup_runs: usize,
    /// JSON file `{function: zipped bytes}` from `cargo lambda build` (infra/bench --lambda-sizes).
    #[arg(long)]
    pub lambda_sizes: Option<PathBuf>,
    /// Upper bound on any single loop, in requests.
    #[arg(long, default_value_t = 200_000)]
    pub max_requests: usize,
}

impl Config {
    /// Tiny sizes for the smoke test: every scenario runs in a few seconds.
    pub fn smoke(base_url: &str, api_token: &str) -> Config {
        Config {
            base_url: base_url.to_owned(),
            api_token: api_token.to_owned(),
            redis_url: None,
            runner_pid: None,
            redis_pid: None,
            floor_bin: None,
            out: PathBuf::from(".local/bench/smoke.json"),
            scenarios: ["s3", "s1", "s2", "s4", "s5", "s6"]
                .map(str::to_owned)
                .to_vec(),
            user_prefix: "smoke".into(),
            attrs: 3,
            p_size: 40,
            small_source: "BenchSmall".into(),
            small_objects: 20,
            large_source: "BenchLarge".into(),
            large_objects: 150,
            s1_requests: 20,
            s2_rounds: 3,
            s2_changed: 4,
            s4_sources: vec!["BenchApp:60".into(), "BenchAppSmall:20".into()],
            s4_devices: 2,
            mixed_source: "BenchMixed".into(),
            mixed_objects: 15,
            s5_levels: vec![1, 3],
            s5_seconds: 0.5,
            s6_concurrency: 2,
            s6_seconds: 0.5,
            functions_dir: None,
            functions: Vec::new(),
            startup_runs: 1,
            lambda_sizes: None,
            max_requests: 2_000,
        }
    }

    fn wants(&self, scenario: &str) -> bool {
        self.scenarios
            .iter()
            .any(|s| s.eq_ignore_ascii_case(scenario))
    }

    fn max_pages(&self, objects: usize) -> usize {
        objects / self.p_size.max(1) + 20
    }
}

/// One scenario as a step of [`execute`].
type Scenario =
    fn(&mut Bench) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + '_>>;

/// Shared state of one run.
struct Bench {
    cfg: Config,
    target: Target,
    admin: Admin,
    cpu: CpuMeter,
    redis: Option<redis::aio::MultiplexedConnection>,
    run_id: String,
    report: Report,
    /// The in-step device of S3/S1/S2.
    device: Option<Device>,
    s1_large_p50_ms: Option<f64>,
    s1_large_cpu_ms: Option<f64>,
    seeded: Vec<String>,
}

fn per_request_ms(delta: &CpuDelta, name: &str, requests: usize) -> Option<f64> {
    cpu_of(delta, name).map(|s| s * 1e3 / requests.max(1) as f64)
}

fn fmt_opt(v: Option<f64>, unit: &str, digits: usize) -> String {
    v.map_or_else(
        || "n/a (no pid)".to_owned(),
        |v| format!("{v:.digits$} {unit}"),
    )
}

fn cpu_json(delta: &CpuDelta) -> Value {
    Value::Object(delta.iter().map(|(n, s)| (n.clone(), json!(s))).collect())
}

/// Runs the configured scenarios and returns the report; the table is printed and the
/// JSON written by the caller ([`run`] does both).
pub async fn execute(cfg: Config) -> Result<Report> {
    let target = Target::new(&cfg.base_url)?;
    let admin = Admin::new(&target, &cfg.api_token);
    let mut pids = Vec::new();
    if let Some(pid) = cfg.runner_pid {
        pids.push(("runner".to_owned(), pid));
    }
    if let Some(pid) = cfg.redis_pid {
        pids.push(("redis".to_owned(), pid));
    }
    let redis = match &cfg.redis_url {
        Some(url) => Some(redis_connect(url).await?),
        None => None,
    };
    let run_id = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
    let mut bench = Bench {
        cfg,
        target,
        admin,
        cpu: CpuMeter::new(pids),
        redis,
        run_id,
        report: Report::default(),
        device: None,
        s1_large_p50_ms: None,
        s1_large_cpu_ms: None,
        seeded: Vec::new(),
    };
    bench.check_server().await?;
    let order: [(&str, Scenario); 7] = [
        ("S3", |b| Box::pin(b.s3())),
        ("S1", |b| Box::pin(b.s1())),
        ("S2", |b| Box::pin(b.s2())),
        ("S4", |b| Box::pin(b.s4())),
        ("S5", |b| Box::pin(b.s5())),
        ("S6", |b| Box::pin(b.s6())),
        ("start-up", |b| Box::pin(b.startup())),
    ];
    for (name, scenario) in order {
        let key = if name == "start-up" { "startup" } else { name };
        if !bench.cfg.wants(key) {
            continue;
        }
        let started = Instant::now();
        eprintln!("[bench] {name} …");
        if let Err(err) = scenario(&mut bench).await {
            eprintln!("[bench] {name} failed: {err:#}");
            bench.report.error(name, &err);
        }
        eprintln!(
            "[bench] {name} took {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(bench.report)
}

/// Runs the benchmark, prints the table, writes the JSON, and fails if a scenario failed.
pub async fn run(cfg: Config) -> Result<Report> {
    let started = Instant::now();
    let out = cfg.out.clone();
    let run_info = json!({
        "config": &cfg,
        "started_unix": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        "host_cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
    });
    let report = execute(cfg).await?;
    let mut run_info = run_info;
    run_info["elapsed_s"] = json!(started.elapsed().as_secs_f64());
    print!("{}", report.table());
    report.write_json(&out, run_info)?;
    println!(
        "results written to {} ({:.0} s)",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    if !report.errors.is_empty() {
        bail!(
            "{} scenario(s) failed: {}",
            report.errors.len(),
            report.errors.join("; ")
        );
    }
    Ok(report)
}

impl Bench {
    fn login(&self, who: &str) -> String {
        format!("{}-{}-{}", self.cfg.user_prefix, self.run_id, who)
    }

    async fn check_server(&self) -> Result<()> {
        self.target
            .get_ok("/health/sync")
            .await
            .with_context(|| format!("the server at {} is not healthy", self.target.base_url()))
            .map(drop)
    }

    /// Seeds `objects` objects into `source` once per run.
    async fn ensure_seeded(&mut self, source: &str, user: &str, objects: usize) -> Result<()> {
        let key = format!("{source}/{user}");
        if self.seeded.contains(&key) {
            return Ok(());
        }
        let s = seed(&self.admin, source, user, 0..objects, self.cfg.attrs, 0).await?;
        let rate = s.objects as f64 / s.elapsed.as_secs_f64().max(1e-9);
        eprintln!(
            "[bench] seeded {source} ({user}): {} objects in {:.1} s via {} ({rate:.0} objects/s)",
            s.objects,
            s.elapsed.as_secs_f64(),
            s.via
        );
        self.report.info(
            "seed",
            &format!("push_objects into {source}"),
            format!("{rate:.0} objects/s"),
        );
        self.seeded.push(key);
        Ok(())
    }

    /// The in-step device (logged in, client created), created on first use.
    async fn device(&mut self) -> Result<Device> {
        if let Some(d) = &self.device {
            return Ok(d.clone());
        }
        let mut d = Device::new(&self.target, &self.login("a"), "bench");
        d.login().await?;
        d.client_create().await?;
        self.device = Some(d.clone());
        Ok(d)
    }

    /// Brings the in-step device fully up to date with `source`.
    async fn catch_up(&mut self, source: &str, objects: usize) -> Result<()> {
        let mut d = self.device().await?;
        let c = d
            .sync(source, self.cfg.p_size, self.cfg.max_pages(objects))
            .await?;
        d.log.clear();
        self.device = Some(d);
        if c.total_count as usize != objects {
            bail!(
                "{source}: total_count {} after sync, expected {objects}",
                c.total_count
            );
        }
        Ok(())
    }

    /// S3: initial paged sync of the large source.
    async fn s3(&mut self) -> Result<()> {
        let (source, n) = (self.cfg.large_source.clone(), self.cfg.large_objects);
        let user = self.login("a");
        self.ensure_seeded(&source, &user, n).await?;
        let mut d = self.device().await?;
        let (cycle, cpu) = self
            .cpu
            .around(d.sync(&source, self.cfg.p_size, self.cfg.max_pages(n)))
            .await?;
        d.log.clear();
        self.device = Some(d);
        if cycle.inserted != n {
            bail!(
                "initial sync delivered {} objects, expected {n}",
                cycle.inserted
            );
        }
        let secs = cycle.elapsed.as_secs_f64();
        let rate = n as f64 / secs.max(1e-9);
        let cpu_per_object_us = cpu_of(&cpu, "runner").map(|s| s * 1e6 / n as f64);
        let label = format!("{n} objects × {} attrs", self.cfg.attrs);
        self.report.info(
            "S3",
            &format!("initial sync, {label}"),
            format!("{secs:.2} s, {} pages", cycle.requests),
        );
        self.report.info(
            "S3",
            "initial sync throughput",
            format!("{rate:.0} objects/s"),
        );
        self.report.info(
            "S3",
            "runner CPU per object",
            fmt_opt(cpu_per_object_us, "µs", 2),
        );
        if let Some(s) = cpu_of(&cpu, "redis") {
            self.report.info(
                "S3",
                "redis CPU per object",
                format!("{:.2} µs", s * 1e6 / n as f64),
            );
        }
        self.report.detail(
            "S3",
            json!({"objects": n, "attrs": self.cfg.attrs, "p_size": self.cfg.p_size, "pages": cycle.requests,
                   "bytes": cycle.bytes, "seconds": secs, "objects_per_s": rate, "cpu_s": cpu_json(&cpu),
                   "runner_cpu_us_per_object": cpu_per_object_us}),
        );
        Ok(())
    }

    /// S1: no-change sync latency with the small vs the large source, interleaved in blocks.
    async fn s1(&mut self) -> Result<()> {
        let user = self.login("a");
        let (small, large) = (self.cfg.small_source.clone(), self.cfg.large_source.clone());
        let (ns, nl) = (self.cfg.small_objects, self.cfg.large_objects);
        self.ensure_seeded(&small, &user, ns).await?;
        self.ensure_seeded(&large, &user, nl).await?;
        self.catch_up(&small, ns).await?;
        self.catch_up(&large, nl).await?;
        let mut d = self.device().await?;
        let p_size = self.cfg.p_size;
        // Warm-up, then blocks of BLOCK requests alternating between the sources.
        const BLOCK: usize = 25;
        let total = self.cfg.s1_requests.min(self.cfg.max_requests);
        let deadline = Instant::now() + Duration::from_secs(60);
        for source in [&small, &large] {
            for _ in 0..BLOCK.min(total) {
                nochange(&mut d, source, p_size).await?;
            }
        }
        d.log.clear();
        let mut lat: HashMap<&str, Vec<Duration>> = HashMap::new();
        let mut cpu: HashMap<&str, CpuDelta> = HashMap::new();
        let mut done = 0;
        while done < total && Instant::now() < deadline {
            let n = BLOCK.min(total - done);
            for (key, source) in [("small", &small), ("large", &large)] {
                let (_, delta) = self
                    .cpu
                    .around(async {
                        for _ in 0..n {
                            nochange(&mut d, source, p_size).await?;
                        }
                        Ok(())
                    })
                    .await?;
                lat.entry(key)
                    .or_default()
                    .extend(d.log.drain(..).map(|(_, t)| t));
                let acc = cpu.entry(key).or_default();
                for (name, s) in delta {
                    match acc.iter_mut().find(|(n, _)| *n == name) {
                        Some((_, total)) => *total += s,
                        None => acc.push((name, s)),
                    }
                }
            }
            done += n;
        }
        self.device = Some(d);
        let ls = Latency::of(lat.get("small").map_or(&[][..], Vec::as_slice));
        let ll = Latency::of(lat.get("large").map_or(&[][..], Vec::as_slice));
        let cpu_small = cpu
            .get("small")
            .and_then(|c| per_request_ms(c, "runner", ls.n));
        let cpu_large = cpu
            .get("large")
            .and_then(|c| per_request_ms(c, "runner", ll.n));
        let ratio = ll.p50_ms / ls.p50_ms;
        self.report.info(
            "S1",
            &format!("no-change sync p50 / p99, {ns} objects"),
            format!("{:.3} / {:.3} ms", ls.p50_ms, ls.p99_ms),
        );
        self.report.info(
            "S1",
            &format!("no-change sync p50 / p99, {nl} objects"),
            format!("{:.3} / {:.3} ms", ll.p50_ms, ll.p99_ms),
        );
        self.report.target(
            "S1",
            "latency ratio large / small (p50)",
            ratio,
            format!("{ratio:.2}"),
            Goal::AtMost(1.2, "≤ 1.2"),
        );
        if let (Some(a), Some(b)) = (cpu_small, cpu_large) {
            self.report.info(
                "S1",
                "runner CPU per no-change sync, small / large",
                format!("{a:.3} / {b:.3} ms"),
            );
            let r = b / a;
            self.report.target(
                "S1",
                "CPU ratio large / small",
                r,
                format!("{r:.2}"),
                Goal::AtMost(1.2, "≤ 1.2"),
            );
        }
        self.s1_large_p50_ms = Some(ll.p50_ms);
        self.s1_large_cpu_ms = cpu_large;
        self.report.detail(
            "S1",
            json!({"small": {"objects": ns, "latency": ls, "runner_cpu_ms_per_request": cpu_small, "cpu_s": cpu.get("small").map(cpu_json)},
                   "large": {"objects": nl, "latency": ll, "runner_cpu_ms_per_request": cpu_large, "cpu_s": cpu.get("large").map(cpu_json)},
                   "ratio_p50": ratio}),
        );
        Ok(())
    }

    /// S2: a backend pushes a few changed objects of the large source; the in-step device
    /// syncs them. The incremental sync is the request whose page carries the changes; the
    /// protocol then makes the device acknowledge it with one more request, which finds
    /// nothing new — a no-change sync with a token. Each is timed and metered on its own
    /// (pushes are not): the target compares the incremental sync with S1's no-change
    /// sync, and the whole cycle is reported beside it.
    async fn s2(&mut self) -> Result<()> {
        let user = self.login("a");
        let (source, n) = (self.cfg.large_source.clone(), self.cfg.large_objects);
        let (small, ns) = (self.cfg.small_source.clone(), self.cfg.small_objects);
        self.ensure_seeded(&source, &user, n).await?;
        self.ensure_seeded(&small, &user, ns).await?;
        self.catch_up(&source, n).await?;
        self.catch_up(&small, ns).await?;
        let mut d = self.device().await?;
        let changed = self.cfg.s2_changed.min(n);
        let (mut pages, mut acks, mut cycles, mut paired) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut page_cpu, mut ack_cpu, mut paired_cpu) = (0.0, 0.0, 0.0);
        let mut cpu_known = !self.cpu.is_empty();
        let deadline = Instant::now() + Duration::from_secs(60);
        for round in 0..self.cfg.s2_rounds {
            if Instant::now() > deadline {
                break;
            }
            let generation = round as u32 + 1;
            // Spread the changed objects over the whole id range, different ones each round.
            let ids: Vec<usize> = (0..changed)
                .map(|k| (round * 7919 + k * (n / changed.max(1)).max(1)) % n)
                .collect();
            let objects = ids
                .iter()
                .map(|&i| {
                    (
                        data::object_id(i),
                        Value::Object(data::object(i, self.cfg.attrs, generation)),
                    )
                })
                .collect();
            self.admin.push_objects(&source, &user, &objects).await?;
            // Let the server finish with the push (connection bookkeeping after the answer)
            // so that none of its CPU lands in the sync's window.
            tokio::time::sleep(Duration::from_millis(5)).await;
            let p_size = self.cfg.p_size;
            // The paired baseline: a no-change sync (of the small source, which the push did
            // not touch) under the same conditions as the incremental sync — one request
            // after a pause, not one of a warm loop like S1's.
            let started = Instant::now();
            let ((), cpu_paired) = self.cpu.around(nochange(&mut d, &small, p_size)).await?;
            paired.push(started.elapsed());
            tokio::time::sleep(Duration::from_millis(5)).await;
            d.log.clear();
            let started = Instant::now();
            let (page, cpu) = self
                .cpu
                .around(d.query("query", &source, p_size, None))
                .await?;
            let page_time = started.elapsed();
            if page.inserted != changed || page.token.is_empty() {
                bail!(
                    "round {round}: the page carried {} changed objects (token {:?}), expected {changed}",
                    page.inserted,
                    page.token
                );
            }
            let ack_started = Instant::now();
            let (ack, cpu_ack) = self
                .cpu
                .around(d.query("query-ack", &source, p_size, Some(&page.token)))
                .await?;
            let ack_time = ack_started.elapsed();
            if !ack.token.is_empty() || ack.count != 0 {
                bail!(
                    "round {round}: the acknowledgement found {} more objects (token {:?})",
                    ack.count,
                    ack.token
                );
            }
            match (cpu_of(&cpu, "runner"), cpu_of(&cpu_ack, "runner"), cpu_of(&cpu_paired, "runner")) {
                (Some(a), Some(b), Some(c)) => {
                    page_cpu += a;
                    ack_cpu += b;
                    paired_cpu += c;
                }
                _ => cpu_known = false,
            }
            pages.push(page_time);
            acks.push(ack_time);
            cycles.push(page_time + ack_time);
        }
        d.log.clear();
        self.device = Some(d);
        let (lp, la, lc, lb) = (Latency::of(&pages), Latency::of(&acks), Latency::of(&cycles), Latency::of(&paired));
        let per = |total: f64| cpu_known.then(|| total * 1e3 / lp.n.max(1) as f64);
        let (page_cpu_ms, ack_cpu_ms, paired_cpu_ms) = (per(page_cpu), per(ack_cpu), per(paired_cpu));
        self.report.info(
            "S2",
            &format!("incremental sync ({changed} of {n} changed) p50 / p99"),
            format!("{:.3} / {:.3} ms", lp.p50_ms, lp.p99_ms),
        );
        self.report.info(
            "S2",
            "its acknowledgement p50 / p99",
            format!("{:.3} / {:.3} ms", la.p50_ms, la.p99_ms),
        );
        let mut ratio = None;
        if let Some(base) = self.s1_large_p50_ms {
            let r = lp.p50_ms / base;
            ratio = Some(r);
            self.report.target(
                "S2",
                "incremental sync / S1 no-change sync (p50, large)",
                r,
                format!("{r:.2}×"),
                Goal::AtMost(2.0, "≤ 2×"),
            );
            self.report.info(
                "S2",
                "acknowledgement / S1; whole cycle / S1 (p50)",
                format!("{:.2}×; {:.2}×", la.p50_ms / base, lc.p50_ms / base),
            );
        }
        self.report.info(
            "S2",
            "paired no-change sync (same conditions) p50",
            format!("{:.3} ms", lb.p50_ms),
        );
        let paired_ratio = lp.p50_ms / lb.p50_ms.max(1e-9);
        self.report.target(
            "S2",
            "incremental sync / paired no-change sync (p50)",
            paired_ratio,
            format!("{paired_ratio:.2}×"),
            Goal::AtMost(2.0, "≤ 2×"),
        );
        if let (Some(c), Some(b)) = (page_cpu_ms, paired_cpu_ms) {
            let r = c / b.max(1e-9);
            self.report.target(
                "S2",
                "CPU of the incremental sync / paired no-change sync",
                r,
                format!("{r:.2}× ({c:.3} / {b:.3} ms)"),
                Goal::AtMost(2.0, "≤ 2×"),
            );
        }
        if let (Some(c), Some(a)) = (page_cpu_ms, ack_cpu_ms) {
            self.report.info(
                "S2",
                "runner CPU, incremental sync / acknowledgement",
                format!("{c:.3} / {a:.3} ms"),
            );
            if let Some(base) = self.s1_large_cpu_ms {
                let r = c / base;
                self.report.target(
                    "S2",
                    "CPU of the incremental sync / S1 CPU per sync",
                    r,
                    format!("{r:.2}×"),
                    Goal::AtMost(2.0, "≤ 2×"),
                );
            }
        }
        self.report.detail(
            "S2",
            json!({"objects": n, "changed_per_round": changed, "rounds": lp.n, "page_latency": lp,
                   "ack_latency": la, "cycle_latency": lc, "runner_cpu_ms_per_page": page_cpu_ms,
                   "runner_cpu_ms_per_ack": ack_cpu_ms, "ratio_to_s1_p50": ratio,
                   "paired_nochange_latency": lb, "runner_cpu_ms_per_paired_nochange": paired_cpu_ms,
                   "ratio_to_paired_p50": paired_ratio}),
        );
        Ok(())
    }

    /// S4: Redis memory per additional device on app-partitioned sources.
    async fn s4(&mut self) -> Result<()> {
        let Some(mut redis) = self.redis.clone() else {
            bail!("S4 needs --redis-url")
        };
        let mut per_value = Vec::new();
        let mut details = Vec::new();
        for spec in self.cfg.s4_sources.clone() {
            let (source, n) = spec
                .split_once(':')
                .ok_or_else(|| anyhow!("bad --s4-sources entry {spec:?}"))?;
            let n: usize = n
                .parse()
                .with_context(|| format!("bad object count in {spec:?}"))?;
            let owner = self.login("s4-owner");
            self.ensure_seeded(source, &owner, n).await?;
            let devices = self.cfg.s4_devices.max(1);
            // Key-level accounting: MEMORY USAGE (exact per key, blind to allocator
            // overhead) of what the devices can add to — every key of the source's shared
            // partition (its master data and all its clients' documents) and the devices'
            // own keys under other tags (client records, login markers) — before and
            // after. INFO used_memory is reported beside it, but it also moves with
            // whatever else expires or is freed meanwhile (earlier scenarios' cached client
            // records and session markers), which is why the target uses the key figure.
            let partition_tag = format!("{{{source}|");
            let in_partition = |k: &String| k.contains(&partition_tag);
            // One uncounted device first: the seeding left the master data's big hashes
            // half-way through Redis's incremental rehash, and the reads of the first sync
            // finish it, freeing the old tables — which would otherwise show up as the
            // counted devices taking memory away.
            let mut warm = Device::new(&self.target, &self.login(&format!("s4-{source}-warm")), "bench");
            warm.login().await?;
            warm.client_create().await?;
            warm.sync(source, self.cfg.p_size, self.cfg.max_pages(n)).await?;
            tokio::time::sleep(Duration::from_millis(200)).await;
            let keys_before = redis_keys(&mut redis).await?;
            let key_bytes_before = redis_memory_of(&mut redis, keys_before.iter().filter(|k| in_partition(k))).await?;
            let used_before = redis_used_memory(&mut redis).await?;
            let mut own_tags = Vec::new();
            for index in 1..=devices {
                let login = self.login(&format!("s4-{source}-{index}"));
                let mut d = Device::new(&self.target, &login, "bench");
                d.login().await?;
                d.client_create().await?;
                let c = d
                    .sync(source, self.cfg.p_size, self.cfg.max_pages(n))
                    .await?;
                if c.inserted != n {
                    bail!(
                        "{source}: device {index} received {} objects, expected {n}",
                        c.inserted
                    );
                }
                own_tags.push(format!("{{login:{login}}}"));
                if let Some(id) = &d.client_id {
                    own_tags.push(format!("{{client:{id}}}"));
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            let used_after = redis_used_memory(&mut redis).await?;
            let keys_after = redis_keys(&mut redis).await?;
            let new_keys = keys_after.difference(&keys_before).count();
            let counted = |k: &&String| in_partition(k) || own_tags.iter().any(|t| k.contains(t.as_str()));
            let key_bytes_after = redis_memory_of(&mut redis, keys_after.iter().filter(counted)).await?;
            let per_device = (used_after as f64 - used_before as f64) / devices as f64;
            let per_device_keys = (key_bytes_after as f64 - key_bytes_before as f64) / devices as f64;
            let values = (n * self.cfg.attrs) as f64;
            let pv = per_device_keys / values;
            per_value.push((source.to_owned(), n, per_device_keys));
            self.report.info(
                "S4",
                &format!(
                    "Redis bytes per device, {source} ({n} × {}): keys / INFO",
                    self.cfg.attrs
                ),
                format!("{per_device_keys:.0} / {per_device:.0} B"),
            );
            self.report.target(
                "S4",
                &format!("bytes per value per device, {source}"),
                pv,
                format!("{pv:.3} B"),
                Goal::AtMost(30.0, "≤ 30 B"),
            );
            details.push(json!({"source": source, "objects": n, "attrs": self.cfg.attrs, "devices": devices,
                                "used_memory_before": used_before, "used_memory_after": used_after,
                                "keys_before": keys_before.len(), "new_keys": new_keys,
                                "key_bytes_before": key_bytes_before, "key_bytes_after": key_bytes_after,
                                "bytes_per_device": per_device, "key_bytes_per_device": per_device_keys,
                                "bytes_per_value_per_device": pv}));
        }
        // Stretch: constant per device — the largest source's per-device cost against the smallest's.
        per_value.sort_by_key(|(_, n, _)| *n);
        if let [small, .., large] = per_value.as_slice() {
            // Up to 1 KB per device counts as constant whatever the ratio: below that the
            // deltas are bookkeeping, not data.
            let r = if large.2 <= 1024.0 {
                1.0
            } else if small.2 > 0.0 {
                large.2 / small.2
            } else {
                f64::NAN
            };
            let growth = large.1 as f64 / small.1.max(1) as f64;
            self.report.target(
                "S4",
                &format!(
                    "per-device bytes {} vs {} ({growth:.0}× the objects)",
                    large.0, small.0
                ),
                r,
                format!("{:.0} vs {:.0} B", large.2, small.2),
                Goal::AtMost(1.5, "≈ 1 (stretch)"),
            );
        }
        self.report.detail("S4", Value::Array(details));
        Ok(())
    }

    /// S5: login, clientcreate, clientregister, paged query with acks, create two objects,
    /// delete one through the device route and the other through `push_deletes`, each
    /// iteration as a new user — at each concurrency level for a fixed time.
    async fn s5(&mut self) -> Result<()> {
        let (source, n) = (self.cfg.mixed_source.clone(), self.cfg.mixed_objects);
        let owner = self.login("s5-owner");
        self.ensure_seeded(&source, &owner, n).await?;
        let mut levels = Vec::new();
        let mut worst_cpu: Option<f64> = None;
        for &c in &self.cfg.s5_levels {
            let c = c.max(1);
            let states: Vec<Script> = (0..c)
                .map(|i| Script {
                    target: self.target.clone(),
                    admin: self.admin.clone(),
                    source: source.clone(),
                    prefix: format!("{}-{}-s5c{c}w{i}", self.cfg.user_prefix, self.run_id),
                    page: n.max(1),
                    iterations: 0,
                    log: Vec::new(),
                    failures: 0,
                    failure_samples: Vec::new(),
                })
                .collect();
            let duration = Duration::from_secs_f64(self.cfg.s5_seconds);
            // Each script iteration makes ~9 requests.
            let budget = (self.cfg.max_requests / 9).max(1);
            let (run, cpu) = self
                .cpu
                .around(closed_loop(states, duration, budget, Script::iteration))
                .await?;
            let log: Vec<(&'static str, Duration)> = run
                .states
                .iter()
                .flat_map(|s| s.log.iter().copied())
                .collect();
            let iterations: usize = run.states.iter().map(|s| s.iterations).sum();
            let failures: usize = run.states.iter().map(|s| s.failures).sum();
            let mut failure_samples: Vec<String> = run
                .states
                .iter()
                .flat_map(|s| s.failure_samples.iter().cloned())
                .collect();
            failure_samples.sort();
            failure_samples.dedup();
            let all: Vec<Duration> = log.iter().map(|(_, t)| *t).collect();
            let lat = Latency::of(&all);
            let rps = lat.n as f64 / run.wall.as_secs_f64().max(1e-9);
            let cpu_ms = per_request_ms(&cpu, "runner", lat.n);
            if let Some(v) = cpu_ms {
                worst_cpu = Some(worst_cpu.map_or(v, |w: f64| w.max(v)));
            }
            let mut kinds: Vec<&str> = log.iter().map(|(k, _)| *k).collect();
            kinds.sort_unstable();
            kinds.dedup();
            let by_kind: serde_json::Map<String, Value> = kinds
                .iter()
                .map(|k| {
                    let samples: Vec<Duration> = log
                        .iter()
                        .filter(|(kk, _)| kk == k)
                        .map(|(_, t)| *t)
                        .collect();
                    ((*k).to_owned(), json!(Latency::of(&samples)))
                })
                .collect();
            self.report.info(
                "S5",
                &format!("{c} device(s): req/s, p50 / p99"),
                format!("{rps:.0} req/s, {:.2} / {:.2} ms", lat.p50_ms, lat.p99_ms),
            );
            if let Some(v) = cpu_ms {
                self.report.target(
                    "S5",
                    &format!("{c} device(s): runner CPU per request"),
                    v,
                    format!("{v:.3} ms"),
                    Goal::AtMost(0.6, "≤ 0.6 ms"),
                );
            }
            if failures > 0 {
                let first = failure_samples
                    .first()
                    .map_or(String::new(), |m| m.chars().take(90).collect());
                self.report.target(
                    "S5",
                    &format!("{c} device(s): failed iterations"),
                    failures as f64,
                    format!("{failures} of {iterations}: {first}"),
                    Goal::AtMost(0.0, "0"),
                );
            }
            levels.push(json!({"devices": c, "iterations": iterations, "failed_iterations": failures,
                               "failures": failure_samples, "requests": lat.n, "seconds": run.wall.as_secs_f64(),
                               "requests_per_s": rps, "latency": lat, "runner_cpu_ms_per_request": cpu_ms,
                               "cpu_s": cpu_json(&cpu), "by_request": by_kind}));
        }
        self.report.detail(
            "S5",
            json!({"objects": n, "levels": levels, "worst_runner_cpu_ms_per_request": worst_cpu}),
        );
        Ok(())
    }

    /// S6: no-change sync requests/s against the floor's, same client and concurrency.
    async fn s6(&mut self) -> Result<()> {
        let Some(redis_url) = self.cfg.redis_url.clone() else {
            bail!("S6 needs --redis-url for the floor")
        };
        let (source, n) = (self.cfg.small_source.clone(), self.cfg.small_objects);
        let user = self.login("a");
        self.ensure_seeded(&source, &user, n).await?;
        let c = self.cfg.s6_concurrency.max(1);
        let mut devices = Vec::with_capacity(c);
        for _ in 0..c {
            let mut d = Device::new(&self.target, &user, "bench");
            d.login().await?;
            d.client_create().await?;
            d.sync(&source, self.cfg.p_size, self.cfg.max_pages(n))
                .await?;
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
        let devices = closed_loop(devices, warm, budget, move |d| {
            nochange_owned(d, src.clone(), p_size)
        })
        .await?
        .states;
        let ft = floor_target.clone();
        closed_loop(vec![(); c], warm, budget, move |()| floor_get(ft.clone())).await?;

        let src = source.clone();
        let (sync_run, sync_cpu) = self
            .cpu
            .around(closed_loop(devices, duration, budget, move |d| {
                nochange_owned(d, src.clone(), p_size)
            }))
            .await?;
        let ft = floor_target.clone();
        let (floor_run, floor_cpu_delta) = floor_cpu
            .around(closed_loop(vec![(); c], duration, budget, move |()| {
                floor_get(ft.clone())
            }))
            .await?;
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
            self.report.info(
                "S6",
                "server CPU per request, sync / floor",
                format!("{a:.3} / {b:.3} ms"),
            );
        }
        self.report.target(
            "S6",
            "sync req/s as a share of the floor",
            share,
            format!("{:.0}%", share * 100.0),
            Goal::AtLeast(0.5, "≥ 50%"),
        );
        self.report.detail(
            "S6",
            json!({"concurrency": c, "objects": n, "sync": {"requests_per_s": sync_rps, "latency": ls, "runner_cpu_ms_per_request": sync_cpu_ms, "cpu_s": cpu_json(&sync_cpu)},
                   "floor": {"requests_per_s": floor_rps, "latency": lf, "cpu_ms_per_request": floor_cpu_ms}, "share": share}),
        );
        Ok(())
    }

    /// Start-up of each function binary under a fake Lambda runtime API, and zipped sizes.
    async fn startup(&mut self) -> Result<()> {
        let mut details = serde_json::Map::new();
        if let Some(dir) = self.cfg.functions_dir.clone() {
            let env: HashMap<String, String> = HashMap::new();
            for function in self.cfg.functions.clone() {
                let binary = dir.join(&function);
                let mut runs = Vec::new();
                for _ in 0..self.cfg.startup_runs.max(1) {
                    runs.push(
                        lambda::measure(&binary, &function, &env, Duration::from_secs(30)).await?,
                    );
                }
                let mut served: Vec<f64> = runs.iter().map(|r| r.first_response_ms).collect();
                served.sort_by(f64::total_cmp);
                let mut init: Vec<f64> = runs.iter().map(|r| r.init_ms).collect();
                init.sort_by(f64::total_cmp);
                let (served_med, init_med) = (served[served.len() / 2], init[init.len() / 2]);
                let status = runs
                    .iter()
                    .filter_map(|r| r.status)
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(",");
                let shown_status = if status.is_empty() {
                    String::new()
                } else {
                    format!(", HTTP {status}")
                };
                self.report.info(
                    "start-up",
                    &format!("{function}: spawn → init done / first answer"),
                    format!("{init_med:.0} / {served_med:.0} ms{shown_status}"),
                );
                details.insert(function.clone(), json!({"runs": runs, "median_first_response_ms": served_med, "median_init_ms": init_med}));
            }
        }
        if let Some(path) = self.cfg.lambda_sizes.clone() {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let sizes: HashMap<String, u64> = serde_json::from_str(&text)
                .with_context(|| format!("parsing {}", path.display()))?;
            let mut names: Vec<&String> = sizes.keys().collect();
            names.sort();
            for name in names {
                let bytes = sizes[name] as f64;
                let mb = bytes / 1e6;
                self.report.target(
                    "start-up",
                    &format!("{name}: zipped arm64 bootstrap"),
                    bytes,
                    format!("{mb:.2} MB"),
                    Goal::AtMost(8e6, "≤ 8 MB"),
                );
            }
            details.insert("zipped_bytes".into(), json!(sizes));
        }
        if details.is_empty() {
            self.report.info(
                "start-up",
                "skipped",
                "no --functions-dir or --lambda-sizes".into(),
            );
        }
        self.report.detail("startup", Value::Object(details));
        Ok(())
    }
}

/// One no-change sync: a query without a token that must come back empty.
async fn nochange(d: &mut Device, source: &str, p_size: usize) -> Result<()> {
    let page = d.query("nochange", source, p_size, None).await?;
    if !page.token.is_empty() || page.count != 0 {
        bail!(
            "{source}: expected an empty page for a device in step, got {} objects (token {:?})",
            page.count,
            page.token
        );
    }
    Ok(())
}

async fn nochange_owned(mut d: Device, source: String, p_size: usize) -> Result<Device> {
    nochange(&mut d, &source, p_size).await?;
    d.log.clear();
    Ok(d)
}

async fn floor_get(target: Target) -> Result<()> {
    target.get_ok(crate::floor::FLOOR_PATH).await.map(drop)
}

/// One S5 worker: makes a new device per iteration and keeps the timed requests.
struct Script {
    target: Target,
    admin: Admin,
    source: String,
    prefix: String,
    page: usize,
    iterations: usize,
    log: Vec<(&'static str, Duration)>,
    /// Iterations that stopped at an error answer (a load test counts them, it does not stop).
    failures: usize,
    /// Distinct error messages (a few).
    failure_samples: Vec<String>,
}

impl Script {
    async fn iteration(mut self) -> Result<Script> {
        self.iterations += 1;
        let login = format!("{}-{}", self.prefix, self.iterations);
        let mut d = Device::new(&self.target, &login, "bench");
        let outcome = self.steps(&mut d, &login).await;
        self.log.append(&mut d.log);
        if let Err(err) = outcome {
            self.failures += 1;
            let message = format!("{err:#}");
            if self.failure_samples.len() < 5 && !self.failure_samples.contains(&message) {
                self.failure_samples.push(message);
            }
        }
        Ok(self)
    }

    async fn steps(&mut self, d: &mut Device, login: &str) -> Result<()> {
        d.login().await?;
        d.client_create().await?;
        d.client_register().await?;
        d.sync(&self.source, self.page, 1000).await?;
        let ids = [format!("{login}-new-0"), format!("{login}-new-1")];
        let objects = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), Value::Object(data::object(i, 3, 9))))
            .collect();
        d.create(&self.source, objects).await?;
        d.delete_one(&self.source, &ids[0]).await?;
        let t = self
            .admin
            .push_deletes(&self.source, login, &ids[1..])
            .await?;
        self.log.push(("push_deletes", t));
        Ok(())
    }
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
            None => std::env::current_exe()
                .ok()
                .filter(|p| p.file_name().is_some_and(|n| n == "rhosync-bench")),
        };
        let Some(binary) = binary else {
            let (addr, serving) =
                crate::floor::start(redis_url, ([127, 0, 0, 1], 0).into()).await?;
            let task = tokio::spawn(serving);
            return Ok(FloorProcess {
                url: format!("http://{addr}"),
                pid: None,
                _child: None,
                _task: Some(task),
            });
        };
        let port_file = std::env::temp_dir().join(format!(
            "rhosync-bench-floor-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
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
            if let Some(port) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|p| p.trim().parse::<u16>().ok())
            {
                break port;
            }
            if Instant::now() > deadline {
                bail!("the floor did not write its port within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let _ = std::fs::remove_file(&port_file);
        Ok(FloorProcess {
            url: format!("http://127.0.0.1:{port}"),
            pid,
            _child: Some(child),
            _task: None,
        })
    }
}

impl Drop for FloorProcess {
    fn drop(&mut self) {
        if let Some(task) = &self._task {
            task.abort();
        }
    }
}
