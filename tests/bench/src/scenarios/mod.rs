//! The scenarios, run in one process against one server so that every ratio compares
//! figures taken on the same machine at the same time.
//!
//! | id | what | target |
//! |---|---|---|
//! | S3 | initial paged sync of the large source (objects/s, runner CPU per object) | — |
//! | S1 | no-change sync latency, small vs large source, one device in step | ratio ≤ 1.2 |
//! | S2 | the incremental sync (the page carrying a few changed objects of the large source, after a backend push), its acknowledgement and the whole cycle | page ≤ 2.5× S1 (large), ≤ 2× the paired no-change sync |
//! | S4 | Redis `used_memory` per additional device on app-partitioned sources | ≤ 30 B per value per device; stretch: constant |
//! | S5 | the RhoConnect bench `test_query_script` shape at several concurrencies | ≤ 0.6 ms runner CPU per request |
//! | S6 | no-change sync requests/s as a share of the floor's | ≥ 60% |
//! | aws-calls | DynamoDB / SQS / S3 calls per request kind of a new and a returning device session (the runner's `X-Rhosync-Aws-Calls` header) | returning device 0 DynamoDB calls, new device ≤ 2 |
//! | start-up | spawn → first served invocation per function binary; zipped sizes | ≤ 8 MB zipped |
//! | push | one ping to 10,000 devices through the push worker to fake APNs and FCM, against a bare HTTP/2 client replaying the same requests (notifications/s, CPU per notification) | within 2× the floor |
//! | bulk | the bulk file of 100,000 objects built by the `bulk-worker` binary, beside a bare rusqlite floor | time and CPU ≤ 1.5× the floor; peak RSS ≤ 1024 MiB |
//! | soak | 1,000 devices for 10 minutes — logins, paged syncs with acks, writes — while a backend pushes at a steady rate (opt-in) | 0 errors; runner RSS after warm-up and Redis memory less what is kept by design each flat within 10% |
//!
//! Seeding goes through [`crate::data::seed`] (REST `push_objects`) into sources that the
//! settings file declares with `poll_interval: -1`, so the adapter never runs. Every loop
//! is bounded by a request count and a time limit.
//!
//! Where each part lives:
//!
//! - here: the driver ([`execute`], [`run`]) that runs the selected scenarios in the order
//!   of the table, the state they share (`Bench`: the target, the admin client, the CPU
//!   meter, Redis, the report and the in-step device) and the helpers several of them use
//!   (seeding a source once per run, catching the in-step device up, one no-change sync,
//!   CPU per request, the JSON of a CPU delta);
//! - `config`: the server's settings file ([`BENCH_SETTINGS`]) and the options ([`Config`]);
//! - `s3`: S3, the initial sync;
//! - `s1_s2`: S1, the no-change sync, and S2, the incremental sync and its
//!   acknowledgement, both with the in-step device;
//! - `s4`: S4, Redis memory per device;
//! - `s5`: S5, the RhoConnect-shaped session under concurrency;
//! - `s6`: S6, no-change throughput against the floor, and the floor's child process;
//! - `aws_calls`: the AWS calls per request kind and per device session;
//! - `startup`: start-up times and zipped sizes of the function binaries;
//! - `push`: the push scenario (its child processes live in `crate::push`).
//! - `bulk`: the bulk-data file built by the bulk worker against its floor.
//! - `soak`: the long run with many devices (its devices, recorder, samples and plot in `soak/`).

mod aws_calls;
mod bulk;
mod config;
mod push;
mod s1_s2;
mod s3;
mod s4;
mod s5;
mod s6;
mod soak;
mod startup;

use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

pub use config::{Config, BENCH_SETTINGS};

use crate::client::{Admin, Device, Target};
use crate::data::seed;
use crate::measure::{cpu_of, redis_connect, CpuDelta, CpuMeter};
use crate::report::Report;

/// One scenario as a step of [`execute`].
type Scenario = fn(&mut Bench) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + '_>>;

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

/// Milliseconds of `name`'s CPU per request over `requests` requests, if it was measured.
fn per_request_ms(delta: &CpuDelta, name: &str, requests: usize) -> Option<f64> {
    cpu_of(delta, name).map(|s| s * 1e3 / requests.max(1) as f64)
}

/// A figure with its unit, or why there is none (its process's pid was not given).
fn fmt_opt(v: Option<f64>, unit: &str, digits: usize) -> String {
    v.map_or_else(|| "n/a (no pid)".to_owned(), |v| format!("{v:.digits$} {unit}"))
}

/// A CPU delta as a JSON object: process name → CPU seconds.
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
    let order: [(&str, Scenario); 12] = [
        ("S3", |b| Box::pin(b.s3())),
        ("S3q", |b| Box::pin(b.s3_query())),
        ("S1", |b| Box::pin(b.s1())),
        ("S2", |b| Box::pin(b.s2())),
        ("S4", |b| Box::pin(b.s4())),
        ("S5", |b| Box::pin(b.s5())),
        ("S6", |b| Box::pin(b.s6())),
        ("aws-calls", |b| Box::pin(b.aws_calls())),
        ("start-up", |b| Box::pin(b.startup())),
        ("push", |b| Box::pin(b.push())),
        ("bulk", |b| Box::pin(b.bulk())),
        ("soak", |b| Box::pin(b.soak())),
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
        eprintln!("[bench] {name} took {:.1} s", started.elapsed().as_secs_f64());
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
    println!("results written to {} ({:.0} s)", out.display(), started.elapsed().as_secs_f64());
    if !report.errors.is_empty() {
        bail!("{} scenario(s) failed: {}", report.errors.len(), report.errors.join("; "));
    }
    Ok(report)
}

impl Bench {
    /// The login of this run's device `who`: prefix, run id, `who`.
    fn login(&self, who: &str) -> String {
        format!("{}-{}-{}", self.cfg.user_prefix, self.run_id, who)
    }

    /// Fails unless the server answers its health route.
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
        self.report.info("seed", &format!("push_objects into {source}"), format!("{rate:.0} objects/s"));
        self.seeded.push(key);
        Ok(())
    }

    /// The in-step device (logged in, client created), created on first use.
    async fn device(&mut self) -> Result<Device> {
        if let Some(d) = &self.device {
            return Ok(d.clone());
        }
        let d = self.new_client(&self.login("a")).await?;
        self.device = Some(d.clone());
        Ok(d)
    }

    /// Brings the in-step device fully up to date with `source`.
    async fn catch_up(&mut self, source: &str, objects: usize) -> Result<()> {
        let mut d = self.device().await?;
        let c = d.sync(source, self.cfg.p_size, self.cfg.max_pages(objects)).await?;
        d.log.clear();
        self.device = Some(d);
        if c.total_count as usize != objects {
            bail!("{source}: total_count {} after sync, expected {objects}", c.total_count);
        }
        Ok(())
    }

    /// A new device logged in as `login`, with a client created.
    async fn new_client(&self, login: &str) -> Result<Device> {
        let mut d = Device::new(&self.target, login, "bench");
        d.login().await?;
        d.client_create().await?;
        Ok(d)
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

/// [`nochange`] as a closed-loop step: takes the device and gives it back, log cleared.
async fn nochange_owned(mut d: Device, source: String, p_size: usize) -> Result<Device> {
    nochange(&mut d, &source, p_size).await?;
    d.log.clear();
    Ok(d)
}
