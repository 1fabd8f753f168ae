//! Why a job failed, for the console's DLQ listing (docs/jobs.md §7): each time a worker
//! fails a message, [`record`] stores the error text and the receive count under the SQS
//! message id (`job-error:<id>`), kept as long as the DLQs keep messages. A message that
//! reaches its DLQ therefore names its last error.

use serde::{Deserialize, Serialize};

use crate::store::keys;
use crate::store::{Store, StoreError};

/// How long a failure is remembered: the DLQs' retention (14 days, `template.yaml`).
pub const TTL_SECS: u64 = 1_209_600;

/// Longest error text kept.
const MAX_ERROR_CHARS: usize = 2_000;

/// One recorded failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFailure {
    pub error: String,
    pub receive_count: u32,
    /// Unix seconds.
    pub at: u64,
}

/// Records that message `message_id` failed with `error` on receive `receive_count`.
pub async fn record(
    store: &dyn Store,
    message_id: &str,
    error: &str,
    receive_count: u32,
    at: u64,
) -> Result<(), StoreError> {
    if message_id.is_empty() {
        return Ok(());
    }
    let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
    let text = serde_json::to_string(&JobFailure { error, receive_count, at }).unwrap_or_default();
    store.set(&keys::job_error(store.keys(), message_id), Some(&text), Some(TTL_SECS)).await
}

/// The last failure of message `message_id`, if recorded.
pub async fn load(store: &dyn Store, message_id: &str) -> Result<Option<JobFailure>, StoreError> {
    let text = store.get(&keys::job_error(store.keys(), message_id)).await?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

/// Forgets the failure of a replayed or discarded message.
pub async fn clear(store: &dyn Store, message_id: &str) -> Result<(), StoreError> {
    store.del(&[keys::job_error(store.keys(), message_id).as_str()]).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn a_failure_is_kept_by_message_id() {
        let store = MemoryStore::new("t");
        record(&store, "m1", "job failed: boom", 2, 10).await.expect("records");
        record(&store, "m1", "job failed: again", 3, 11).await.expect("records");
        let got = load(&store, "m1").await.expect("loads").expect("present");
        assert_eq!(got, JobFailure { error: "job failed: again".into(), receive_count: 3, at: 11 });
        clear(&store, "m1").await.expect("clears");
        assert_eq!(load(&store, "m1").await.expect("loads"), None);
    }
}
