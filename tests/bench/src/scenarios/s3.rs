//! S3, the initial sync: the in-step device fetches the whole large source page by page,
//! acknowledging each; reported as time, objects per second and CPU per object. It runs
//! first, so the device it brings up to date is the one S1 and S2 use.
//!
//! S3q, the same through an adapter: a new user's first sync of the query source, whose
//! `MockAdapter` reads the objects from its backend document — the first page's request
//! runs the adapter's query and writes the whole data set before it pages.

use anyhow::{bail, Result};
use serde_json::json;

use super::{cpu_json, fmt_opt, Bench};
use crate::data;
use crate::measure::{cpu_of, CpuDelta};
use crate::report::Goal;

/// Objects per store append while the query source's backend document is filled.
const BACKEND_CHUNK: usize = 10_000;

impl Bench {
    /// S3: initial paged sync of the large source.
    pub(super) async fn s3(&mut self) -> Result<()> {
        let (source, n) = (self.cfg.large_source.clone(), self.cfg.large_objects);
        let user = self.login("a");
        self.ensure_seeded(&source, &user, n).await?;
        let mut d = self.device().await?;
        let (cycle, cpu) = self.cpu.around(d.sync(&source, self.cfg.p_size, self.cfg.max_pages(n))).await?;
        d.log.clear();
        self.device = Some(d);
        if cycle.inserted != n {
            bail!("initial sync delivered {} objects, expected {n}", cycle.inserted);
        }
        let secs = cycle.elapsed.as_secs_f64();
        let rate = n as f64 / secs.max(1e-9);
        let cpu_per_object_us = cpu_of(&cpu, "runner").map(|s| s * 1e6 / n as f64);
        let label = format!("{n} objects × {} attrs", self.cfg.attrs);
        self.report.info("S3", &format!("initial sync, {label}"), format!("{secs:.2} s, {} pages", cycle.requests));
        self.report.info("S3", "initial sync throughput", format!("{rate:.0} objects/s"));
        self.per_object_cpu("S3", &cpu, n);
        self.report.detail(
            "S3",
            json!({"objects": n, "attrs": self.cfg.attrs, "p_size": self.cfg.p_size, "pages": cycle.requests,
                   "bytes": cycle.bytes, "seconds": secs, "objects_per_s": rate, "cpu_s": cpu_json(&cpu),
                   "runner_cpu_us_per_object": cpu_per_object_us}),
        );
        Ok(())
    }

    /// S3q: a new user's first sync of the query source, its adapter's first query included.
    pub(super) async fn s3_query(&mut self) -> Result<()> {
        let (source, n) = (self.cfg.query_source.clone(), self.cfg.large_objects);
        let user = self.login("q");
        // The MockAdapter's backend: one scratch document per partition user.
        let docname = format!("test_db_storage:application:{user}");
        let mut start = 0;
        while start < n {
            let end = (start + BACKEND_CHUNK).min(n);
            self.admin.store_append(&docname, &data::objects(start..end, self.cfg.attrs, 0)).await?;
            start = end;
        }
        let mut d = self.new_client(&user).await?;
        let (cycle, cpu) = self.cpu.around(d.sync(&source, self.cfg.p_size, self.cfg.max_pages(n))).await?;
        if cycle.inserted != n {
            bail!("the first sync through the adapter delivered {} objects, expected {n}", cycle.inserted);
        }
        let secs = cycle.elapsed.as_secs_f64();
        let label = format!("{n} objects × {} attrs", self.cfg.attrs);
        self.report.info(
            "S3q",
            &format!("first sync through the adapter, {label}"),
            format!("{secs:.2} s, {} pages", cycle.requests),
        );
        self.per_object_cpu("S3q", &cpu, n);
        self.report.detail(
            "S3q",
            json!({"objects": n, "attrs": self.cfg.attrs, "p_size": self.cfg.p_size, "pages": cycle.requests,
                   "bytes": cycle.bytes, "seconds": secs, "objects_per_s": n as f64 / secs.max(1e-9),
                   "cpu_s": cpu_json(&cpu)}),
        );
        Ok(())
    }

    /// Runner and Redis CPU per object of an initial sync, and their sum against the target.
    fn per_object_cpu(&mut self, scenario: &str, cpu: &CpuDelta, n: usize) {
        let per = |who: &str| cpu_of(cpu, who).map(|s| s * 1e6 / n.max(1) as f64);
        let (runner, redis) = (per("runner"), per("redis"));
        self.report.info(scenario, "runner CPU per object", fmt_opt(runner, "µs", 2));
        self.report.info(scenario, "redis CPU per object", fmt_opt(redis, "µs", 2));
        if let (Some(a), Some(b)) = (runner, redis) {
            self.report.target(
                scenario,
                "runner + Redis CPU per object",
                a + b,
                format!("{:.2} µs", a + b),
                Goal::AtMost(3.0, "≤ 3 µs"),
            );
        }
    }
}
