//! What the console's Jobs screen shows beside the queues (docs/jobs.md §7): the results of
//! the last pings, which the push worker appends after each ping job to a list capped at
//! [`KEEP`] entries, newest first; and [`rfc3339`], the time format of those listings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::push::metrics::{Counts, Tally};
use crate::store::keys;
use crate::store::{Store, StoreError};

/// Entries kept.
pub const KEEP: usize = 50;

/// One platform's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingCounts {
    pub sent: usize,
    pub failed: usize,
    pub pruned: usize,
    pub retrying: usize,
}

impl From<&Counts> for PingCounts {
    fn from(c: &Counts) -> Self {
        Self { sent: c.sent, failed: c.failed, pruned: c.pruned, retrying: c.retrying }
    }
}

/// One ping job's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingResult {
    /// The job's idempotency key.
    pub id: String,
    /// RFC 3339 UTC.
    pub at: String,
    pub users: Vec<String>,
    pub message: Option<String>,
    pub sent: usize,
    pub failed: usize,
    pub pruned: usize,
    pub retrying: usize,
    pub platforms: BTreeMap<String, PingCounts>,
}

impl PingResult {
    pub fn new(id: &str, at_secs: u64, users: &[String], message: Option<&str>, tally: &Tally) -> Self {
        let platforms: BTreeMap<String, PingCounts> =
            tally.iter().map(|(p, c)| (p.as_str().to_owned(), PingCounts::from(c))).collect();
        let total = |f: fn(&PingCounts) -> usize| platforms.values().map(f).sum();
        Self {
            id: id.to_owned(),
            at: rfc3339(at_secs),
            users: users.to_vec(),
            message: message.map(str::to_owned),
            sent: total(|c| c.sent),
            failed: total(|c| c.failed),
            pruned: total(|c| c.pruned),
            retrying: total(|c| c.retrying),
            platforms,
        }
    }
}

/// Appends a ping's result.
pub async fn record_ping(store: &dyn Store, result: &PingResult) -> Result<(), StoreError> {
    let text = serde_json::to_string(result).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    store.push_capped(&keys::recent_pings(store.keys()), &text, KEEP).await
}

/// The last pings' results, newest first.
pub async fn recent_pings(store: &dyn Store) -> Result<Vec<PingResult>, StoreError> {
    let entries = store.list(&keys::recent_pings(store.keys())).await?;
    Ok(entries.iter().filter_map(|e| serde_json::from_str(e).ok()).collect())
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3_600, rem % 3_600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Platform;
    use crate::store::MemoryStore;

    #[test]
    fn formats_utc_times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_139_264), "2026-12-01T15:34:24Z");
    }

    #[tokio::test]
    async fn keeps_the_last_pings_newest_first() {
        let store = MemoryStore::new("t");
        let mut tally = Tally::new();
        tally.insert(Platform::Apns, Counts { sent: 2, pruned: 1, ..Default::default() });
        tally.insert(Platform::Fcm, Counts { sent: 1, failed: 1, ..Default::default() });
        for i in 0..(KEEP + 3) {
            let result = PingResult::new(&format!("j{i}"), 0, &["amy".into()], Some("hi"), &tally);
            record_ping(&store, &result).await.expect("records");
        }
        let recent = recent_pings(&store).await.expect("reads");
        assert_eq!(recent.len(), KEEP);
        assert_eq!(recent[0].id, format!("j{}", KEEP + 2));
        assert_eq!((recent[0].sent, recent[0].failed, recent[0].pruned), (3, 1, 1));
        assert_eq!(recent[0].platforms["apns"], PingCounts { sent: 2, failed: 0, pruned: 1, retrying: 0 });
    }
}
