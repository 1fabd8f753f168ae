//! Jobs carried by SQS and the per-message machinery every worker shares.
//!
//! A worker is a [`JobHandler`]; [`process_batch`] runs it over an SQS batch the way the
//! Lambda event source mapping expects: each message is handled on its own and failures are
//! reported as batch item failures, so only those are redelivered (and, after the queue's
//! receive count, moved to the DLQ). SQS delivers at least once, so a job that already
//! succeeded is skipped through the [`ledger::JobLedger`].

pub mod ledger;
pub mod workers;

use async_trait::async_trait;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use serde::{Deserialize, Serialize};

pub use ledger::JobLedger;

use crate::sync::cud::CudWrite;

/// A job message body. `id` is the producer's idempotency key; without one the SQS message
/// id is used, which still dedupes redeliveries of the same message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(flatten)]
    pub job: Job,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Run a source's query for a user's partition (sync-engine.md §6.4).
    Refresh {
        source: String,
        user: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        query: Option<serde_json::Value>,
    },
    /// Apply one accepted client write of a source (sync-engine.md §8, §13). The message
    /// id is the write's idempotency key. `write` carries the operations; a write too big
    /// for an SQS message is stored in S3 and `write_ref` names the object instead.
    Cud {
        source: String,
        user: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        write: Option<Box<CudWrite>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        write_ref: Option<String>,
    },
    /// Notify users' devices (push.md §3, §8). Never carries the API token.
    Ping {
        users: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// Sources the devices should sync; empty = all.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        sources: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        badge: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sound: Option<String>,
        /// Always a string, `""` when absent (push.md §3).
        #[serde(default)]
        vibrate: String,
        /// `api`, `push_notify` or `job` (push.md §8).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        origin: Option<String>,
    },
    /// Build a bulk-data file (bulk-data.md).
    Bulk {
        name: String,
        #[serde(default)]
        sources: Vec<String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("malformed job message: {0}")]
    Malformed(String),
    #[error("{0} jobs are not handled by this worker")]
    WrongWorker(&'static str),
    #[error("job failed: {0}")]
    Failed(String),
}

impl Job {
    /// A silent ping of `users` asking their devices to sync `sources` (push.md §8; the
    /// automatic ping after backend pushes uses origin `push_notify`).
    pub fn ping(users: Vec<String>, sources: Vec<String>, origin: &str) -> Self {
        Self::Ping {
            users,
            message: None,
            sources,
            badge: None,
            sound: None,
            vibrate: String::new(),
            origin: Some(origin.to_owned()),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Refresh { .. } => "refresh",
            Self::Cud { .. } => "cud",
            Self::Ping { .. } => "ping",
            Self::Bulk { .. } => "bulk",
        }
    }
}

/// One job of a batch, with what the handler may need to know about its delivery.
#[derive(Debug, Clone)]
pub struct JobItem {
    /// The idempotency key (producer's id, else the SQS message id).
    pub key: String,
    pub job: Job,
    /// SQS `ApproximateReceiveCount` (1 on the first delivery).
    pub receive_count: u32,
}

impl JobItem {
    /// True when a failure now sends the message to the DLQ (the queue's
    /// `maxReceiveCount`, the same number in `template.yaml` and the local provisioning).
    pub fn is_last_attempt(&self) -> bool {
        self.receive_count >= crate::edges::aws::MAX_RECEIVE_COUNT
    }
}

/// One worker's logic for one job.
#[async_trait]
pub trait JobHandler: Send + Sync {
    /// The worker's name, for logs.
    fn name(&self) -> &'static str;
    async fn handle(&self, job: &Job) -> Result<(), JobError>;

    /// Handles the jobs of one SQS batch; one result per item, in order. The default runs
    /// [`JobHandler::handle`] one job at a time; a worker that gains from seeing the batch
    /// whole (client writes, sync-engine.md §8.3) overrides it.
    async fn handle_batch(&self, items: &[JobItem]) -> Vec<Result<(), JobError>> {
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            results.push(self.handle(&item.job).await);
        }
        results
    }
}

/// Handles every message of a batch and reports the ones that failed.
///
/// Messages already done (ledger) are skipped; two messages of the batch with the same key
/// are handled once and share the outcome. The rest go to the handler together.
pub async fn process_batch(handler: &dyn JobHandler, ledger: &JobLedger, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    let mut failed: Vec<String> = Vec::new();
    let mut items: Vec<JobItem> = Vec::new();
    // message id → index into `items` of the job it stands for.
    let mut handled_by: Vec<(String, usize)> = Vec::new();
    for message in &event.records {
        let id = message.message_id.clone().unwrap_or_default();
        match prepare(handler, ledger, message).await {
            Ok(None) => {}
            Ok(Some(item)) => match items.iter().position(|i| i.key == item.key) {
                Some(at) => {
                    tracing::info!(worker = handler.name(), job = %item.key, "duplicate in batch, handled once");
                    handled_by.push((id, at));
                }
                None => {
                    handled_by.push((id, items.len()));
                    items.push(item);
                }
            },
            Err(err) => {
                tracing::warn!(worker = handler.name(), message_id = %id, error = %err, "job failed");
                failed.push(id);
            }
        }
    }
    let results = handler.handle_batch(&items).await;
    let mut ok = vec![false; items.len()];
    for (i, item) in items.iter().enumerate() {
        let result = match results.get(i) {
            Some(Ok(())) => ledger.mark_done(&item.key).await.map_err(|e| JobError::Failed(e.to_string())),
            Some(Err(err)) => Err(JobError::Failed(err.to_string())),
            None => Err(JobError::Failed("the handler returned no result".into())),
        };
        match result {
            Ok(()) => {
                ok[i] = true;
                tracing::info!(worker = handler.name(), job = %item.key, kind = item.job.kind(), "job done");
            }
            Err(err) => tracing::warn!(worker = handler.name(), job = %item.key, error = %err, "job failed"),
        }
    }
    failed.extend(handled_by.into_iter().filter(|(_, at)| !ok[*at]).map(|(id, _)| id));
    for id in failed {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    response
}

/// Parses a message; `None` when its job is already done.
async fn prepare(handler: &dyn JobHandler, ledger: &JobLedger, message: &SqsMessage) -> Result<Option<JobItem>, JobError> {
    let body = message.body.as_deref().unwrap_or_default();
    let parsed: JobMessage = serde_json::from_str(body).map_err(|e| JobError::Malformed(e.to_string()))?;
    let key = parsed.id.clone().or_else(|| message.message_id.clone()).unwrap_or_default();
    if ledger.is_done(&key).await.map_err(|e| JobError::Failed(e.to_string()))? {
        tracing::info!(worker = handler.name(), job = %key, "duplicate delivery skipped");
        return Ok(None);
    }
    let receive_count =
        message.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1);
    Ok(Some(JobItem { key, job: parsed.job, receive_count }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_messages_round_trip_with_and_without_id() {
        let m: JobMessage = serde_json::from_str(r#"{"kind":"refresh","source":"Product","user":"demo"}"#)
            .expect("parses");
        assert_eq!(m.id, None);
        assert_eq!(m.job, Job::Refresh { source: "Product".into(), user: "demo".into(), query: None });
        let m: JobMessage =
            serde_json::from_str(r#"{"id":"j1","kind":"ping","users":["a"]}"#).expect("parses");
        assert_eq!(m.id.as_deref(), Some("j1"));
        assert!(serde_json::from_str::<JobMessage>(r#"{"kind":"nope"}"#).is_err());
    }
}
