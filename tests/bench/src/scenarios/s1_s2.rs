//! S1 and S2, the two scenarios of the in-step device (the one kept up to date with the
//! sources, first synced by S3 when S3 runs):
//!
//! - S1, the no-change sync: blocks of requests alternating between the small and the
//!   large source, so that both see the same conditions; the target is the large source's
//!   latency (and runner CPU) over the small one's.
//! - S2, the incremental sync: a backend push changes a few objects of the large source,
//!   then the device fetches the page that carries them and acknowledges it. Each request
//!   is compared with S1's no-change sync and with a no-change sync made just before it
//!   under the same conditions (the paired baseline).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde_json::{json, Value};

use super::{cpu_json, nochange, per_request_ms, Bench};
use crate::data;
use crate::measure::{add_cpu, CpuDelta, Latency};
use crate::report::Goal;

impl Bench {
    /// S1: no-change sync latency with the small vs the large source, interleaved in blocks.
    pub(super) async fn s1(&mut self) -> Result<()> {
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
                lat.entry(key).or_default().extend(d.log.drain(..).map(|(_, t)| t));
                add_cpu(cpu.entry(key).or_default(), delta);
            }
            done += n;
        }
        self.device = Some(d);
        let ls = Latency::of(lat.get("small").map_or(&[][..], Vec::as_slice));
        let ll = Latency::of(lat.get("large").map_or(&[][..], Vec::as_slice));
        let cpu_small = cpu.get("small").and_then(|c| per_request_ms(c, "runner", ls.n));
        let cpu_large = cpu.get("large").and_then(|c| per_request_ms(c, "runner", ll.n));
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
            self.report.info("S1", "runner CPU per no-change sync, small / large", format!("{a:.3} / {b:.3} ms"));
            let r = b / a;
            self.report.target("S1", "CPU ratio large / small", r, format!("{r:.2}"), Goal::AtMost(1.2, "≤ 1.2"));
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
    pub(super) async fn s2(&mut self) -> Result<()> {
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
        let (mut page_cpu, mut ack_cpu, mut paired_cpu) = (CpuDelta::new(), CpuDelta::new(), CpuDelta::new());
        let deadline = Instant::now() + Duration::from_secs(60);
        for round in 0..self.cfg.s2_rounds {
            if Instant::now() > deadline {
                break;
            }
            let generation = round as u32 + 1;
            // Spread the changed objects over the whole id range, different ones each round.
            let ids: Vec<usize> = (0..changed).map(|k| (round * 7919 + k * (n / changed.max(1)).max(1)) % n).collect();
            let objects = ids
                .iter()
                .map(|&i| (data::object_id(i), Value::Object(data::object(i, self.cfg.attrs, generation))))
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
            let (page, cpu) = self.cpu.around(d.query("query", &source, p_size, None)).await?;
            let page_time = started.elapsed();
            if page.inserted != changed || page.token.is_empty() {
                bail!(
                    "round {round}: the page carried {} changed objects (token {:?}), expected {changed}",
                    page.inserted,
                    page.token
                );
            }
            let ack_started = Instant::now();
            let (ack, cpu_ack) = self.cpu.around(d.query("query-ack", &source, p_size, Some(&page.token))).await?;
            let ack_time = ack_started.elapsed();
            if !ack.token.is_empty() || ack.count != 0 {
                bail!("round {round}: the acknowledgement found {} more objects (token {:?})", ack.count, ack.token);
            }
            add_cpu(&mut page_cpu, cpu);
            add_cpu(&mut ack_cpu, cpu_ack);
            add_cpu(&mut paired_cpu, cpu_paired);
            pages.push(page_time);
            acks.push(ack_time);
            cycles.push(page_time + ack_time);
        }
        d.log.clear();
        self.device = Some(d);
        let (lp, la, lc, lb) = (Latency::of(&pages), Latency::of(&acks), Latency::of(&cycles), Latency::of(&paired));
        let per = |total: &CpuDelta| per_request_ms(total, "runner", lp.n);
        let (page_cpu_ms, ack_cpu_ms, paired_cpu_ms) = (per(&page_cpu), per(&ack_cpu), per(&paired_cpu));
        self.report.info(
            "S2",
            &format!("incremental sync ({changed} of {n} changed) p50 / p99"),
            format!("{:.3} / {:.3} ms", lp.p50_ms, lp.p99_ms),
        );
        self.report.info("S2", "its acknowledgement p50 / p99", format!("{:.3} / {:.3} ms", la.p50_ms, la.p99_ms));
        let mut ratio = None;
        if let Some(base) = self.s1_large_p50_ms {
            let r = lp.p50_ms / base;
            ratio = Some(r);
            self.report.target(
                "S2",
                "incremental sync / S1 no-change sync (p50, large)",
                r,
                format!("{r:.2}×"),
                Goal::AtMost(2.5, "≤ 2.5×"),
            );
            self.report.info(
                "S2",
                "acknowledgement / S1; whole cycle / S1 (p50)",
                format!("{:.2}×; {:.2}×", la.p50_ms / base, lc.p50_ms / base),
            );
        }
        self.report.info("S2", "paired no-change sync (same conditions) p50", format!("{:.3} ms", lb.p50_ms));
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
            self.report.info("S2", "runner CPU, incremental sync / acknowledgement", format!("{c:.3} / {a:.3} ms"));
            if let Some(base) = self.s1_large_cpu_ms {
                let r = c / base;
                self.report.target(
                    "S2",
                    "CPU of the incremental sync / S1 CPU per sync",
                    r,
                    format!("{r:.2}×"),
                    Goal::AtMost(2.5, "≤ 2.5×"),
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
}
