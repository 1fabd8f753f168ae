//! S3, the initial sync: the in-step device fetches the whole large source page by page,
//! acknowledging each; reported as time, objects per second and CPU per object. It runs
//! first, so the device it brings up to date is the one S1 and S2 use.

use anyhow::{bail, Result};
use serde_json::json;

use super::{cpu_json, fmt_opt, Bench};
use crate::measure::cpu_of;

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
        self.report.info("S3", "runner CPU per object", fmt_opt(cpu_per_object_us, "µs", 2));
        if let Some(s) = cpu_of(&cpu, "redis") {
            self.report.info("S3", "redis CPU per object", format!("{:.2} µs", s * 1e6 / n as f64));
        }
        self.report.detail(
            "S3",
            json!({"objects": n, "attrs": self.cfg.attrs, "p_size": self.cfg.p_size, "pages": cycle.requests,
                   "bytes": cycle.bytes, "seconds": secs, "objects_per_s": rate, "cpu_s": cpu_json(&cpu),
                   "runner_cpu_us_per_object": cpu_per_object_us}),
        );
        Ok(())
    }
}
