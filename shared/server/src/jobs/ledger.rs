//! Remembers which jobs finished, so an SQS redelivery of a finished job does nothing.
//!
//! Entries expire after a day: SQS keeps a message at most 14 days but redelivers a handled
//! one only within its visibility window, so a day is ample.

use crate::store::{StoreError, SyncStore};

const TTL_SECS: u64 = 86_400;

#[derive(Clone)]
pub struct JobLedger {
    store: SyncStore,
}

impl JobLedger {
    /// The ledger over `store` (a [`SyncStore`] or the Redis edge it wraps).
    pub fn new(store: impl Into<SyncStore>) -> Self {
        Self { store: store.into() }
    }

    pub async fn is_done(&self, job_id: &str) -> Result<bool, StoreError> {
        self.store.ledger_is_done(job_id).await
    }

    pub async fn mark_done(&self, job_id: &str) -> Result<(), StoreError> {
        self.store.ledger_mark_done(job_id, TTL_SECS).await
    }

    /// Records why SQS message `message_id` failed (`super::errors`).
    pub async fn record_failure(&self, message_id: &str, error: &str, receive_count: u32) -> Result<(), StoreError> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        super::errors::record(&self.store, message_id, error, receive_count, now).await
    }
}
