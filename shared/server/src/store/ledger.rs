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

    /// Which of `job_ids` are recorded as finished: one pipeline of single-key reads (so it
    /// also works when the keys hash to different cluster slots).
    pub async fn ledger_done_among(&self, job_ids: &[String]) -> Result<Vec<bool>, StoreError> {
        if job_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in job_ids {
            pipe.exists(keys::job_done(self.keys(), id));
        }
        Ok(pipe.query_async(&mut self.conn()).await?)
    }

    /// Records every job of `job_ids` as finished, for `ttl_secs`, in one pipeline.
    pub async fn ledger_mark_all_done(&self, job_ids: &[String], ttl_secs: u64) -> Result<(), StoreError> {
        if job_ids.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for id in job_ids {
            pipe.set_ex(keys::job_done(self.keys(), id), 1, ttl_secs).ignore();
        }
        let _: () = pipe.query_async(&mut self.conn()).await?;
        Ok(())
    }

    /// Records job `job_id` as finished, for `ttl_secs`.
    pub async fn ledger_mark_done(&self, job_id: &str, ttl_secs: u64) -> Result<(), StoreError> {
        let _: () = self.conn().set_ex(keys::job_done(self.keys(), job_id), 1, ttl_secs).await?;
        Ok(())
    }
}
