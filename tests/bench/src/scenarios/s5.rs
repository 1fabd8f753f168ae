//! S5, the RhoConnect-shaped session (the shape of RhoConnect's bench
//! `test_query_script`): each iteration is a new user that logs in, creates and registers
//! a client, syncs the mixed source, creates two objects and deletes them, one through
//! the device route and one through `push_deletes`. A [`Script`] per worker runs it in a
//! closed loop at each concurrency level; the target is runner CPU per request.

use std::time::Duration;

use anyhow::Result;
use serde_json::{json, Value};

use super::{cpu_json, per_request_ms, Bench};
use crate::client::{Admin, Device, Target};
use crate::data;
use crate::measure::{closed_loop, Latency};
use crate::report::Goal;

impl Bench {
    /// S5: login, clientcreate, clientregister, paged query with acks, create two objects,
    /// delete one through the device route and the other through `push_deletes`, each
    /// iteration as a new user — at each concurrency level for a fixed time.
    pub(super) async fn s5(&mut self) -> Result<()> {
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
            let (run, cpu) = self.cpu.around(closed_loop(states, duration, budget, Script::iteration)).await?;
            let log: Vec<(&'static str, Duration)> = run.states.iter().flat_map(|s| s.log.iter().copied()).collect();
            let iterations: usize = run.states.iter().map(|s| s.iterations).sum();
            let failures: usize = run.states.iter().map(|s| s.failures).sum();
            let mut failure_samples: Vec<String> =
                run.states.iter().flat_map(|s| s.failure_samples.iter().cloned()).collect();
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
                    let samples: Vec<Duration> = log.iter().filter(|(kk, _)| kk == k).map(|(_, t)| *t).collect();
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
                let first = failure_samples.first().map_or(String::new(), |m| m.chars().take(90).collect());
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
        self.report.detail("S5", json!({"objects": n, "levels": levels, "worst_runner_cpu_ms_per_request": worst_cpu}));
        Ok(())
    }
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
        let objects =
            ids.iter().enumerate().map(|(i, id)| (id.clone(), Value::Object(data::object(i, 3, 9)))).collect();
        d.create(&self.source, objects).await?;
        d.delete_one(&self.source, &ids[0]).await?;
        let t = self.admin.push_deletes(&self.source, login, &ids[1..]).await?;
        self.log.push(("push_deletes", t));
        Ok(())
    }
}
