//! The job ledger's entries (`crate::jobs::ledger` holds the rules): one key per finished
//! job.

use redis::AsyncCommands;

use super::keys;
use super::{StoreError, SyncStore};

impl SyncStore {
    /// Whether job `job_id` is recorded as finished.
    pub async fn ledger_is_done(&self, job_id: &str) -> Result<bool, StoreError> {
        Ok(self.conn().exists(keys::job_done(self.keys(), job_id)).await?)
    }

    /// Records job `job_id` as finished, for `ttl_secs`.
    pub async fn ledger_mark_done(&self, job_id: &str, ttl_secs: u64) -> Result<(), StoreError> {
        let _: () = self.conn().set_ex(keys::job_done(self.keys(), job_id), 1, ttl_secs).await?;
        Ok(())
    }
}
