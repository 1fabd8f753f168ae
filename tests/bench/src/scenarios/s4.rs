//! S4, memory per device: on each app-partitioned source, the Redis bytes that further
//! devices add once they have synced the shared data, counted key by key (`MEMORY USAGE`)
//! with `INFO used_memory` beside it, per attribute value; and, as a stretch target,
//! whether that cost stays the same for a source with many more objects.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

use super::Bench;
use crate::measure::{redis_keys, redis_memory_of, redis_used_memory};
use crate::report::Goal;

impl Bench {
    /// S4: Redis memory per additional device on app-partitioned sources.
    pub(super) async fn s4(&mut self) -> Result<()> {
        let Some(mut redis) = self.redis.clone() else { bail!("S4 needs --redis-url") };
        let mut per_value = Vec::new();
        let mut details = Vec::new();
        for spec in self.cfg.s4_sources.clone() {
            let (source, n) = spec.split_once(':').ok_or_else(|| anyhow!("bad --s4-sources entry {spec:?}"))?;
            let n: usize = n.parse().with_context(|| format!("bad object count in {spec:?}"))?;
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
            let mut warm = self.new_client(&self.login(&format!("s4-{source}-warm"))).await?;
            warm.sync(source, self.cfg.p_size, self.cfg.max_pages(n)).await?;
            tokio::time::sleep(Duration::from_millis(200)).await;
            let keys_before = redis_keys(&mut redis).await?;
            let key_bytes_before = redis_memory_of(&mut redis, keys_before.iter().filter(|k| in_partition(k))).await?;
            let used_before = redis_used_memory(&mut redis).await?;
            let mut own_tags = Vec::new();
            for index in 1..=devices {
                let login = self.login(&format!("s4-{source}-{index}"));
                let mut d = self.new_client(&login).await?;
                let c = d.sync(source, self.cfg.p_size, self.cfg.max_pages(n)).await?;
                if c.inserted != n {
                    bail!("{source}: device {index} received {} objects, expected {n}", c.inserted);
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
                &format!("Redis bytes per device, {source} ({n} × {}): keys / INFO", self.cfg.attrs),
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
                &format!("per-device bytes {} vs {} ({growth:.0}× the objects)", large.0, small.0),
                r,
                format!("{:.0} vs {:.0} B", large.2, small.2),
                Goal::AtMost(1.5, "≈ 1 (stretch)"),
            );
        }
        self.report.detail("S4", Value::Array(details));
        Ok(())
    }
}
