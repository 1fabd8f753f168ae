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
    /// Apply queued client writes of a source (sync-engine.md §8).
    Cud { source: String, user: String },
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

/// One worker's logic for one job.
#[async_trait]
pub trait JobHandler: Send + Sync {
    /// The worker's name, for logs.
    fn name(&self) -> &'static str;
    async fn handle(&self, job: &Job) -> Result<(), JobError>;
}

/// Handles every message of a batch and reports the ones that failed.
pub async fn process_batch(handler: &dyn JobHandler, ledger: &JobLedger, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        if let Err(err) = process_message(handler, ledger, &message).await {
            tracing::warn!(worker = handler.name(), message_id = %id, error = %err, "job failed");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

async fn process_message(handler: &dyn JobHandler, ledger: &JobLedger, message: &SqsMessage) -> Result<(), JobError> {
    let body = message.body.as_deref().unwrap_or_default();
    let parsed: JobMessage = serde_json::from_str(body).map_err(|e| JobError::Malformed(e.to_string()))?;
    let key = parsed.id.clone().or_else(|| message.message_id.clone()).unwrap_or_default();
    if ledger.is_done(&key).await.map_err(|e| JobError::Failed(e.to_string()))? {
        tracing::info!(worker = handler.name(), job = %key, "duplicate delivery skipped");
        return Ok(());
    }
    handler.handle(&parsed.job).await?;
    ledger.mark_done(&key).await.map_err(|e| JobError::Failed(e.to_string()))?;
    tracing::info!(worker = handler.name(), job = %key, kind = parsed.job.kind(), "job done");
    Ok(())
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
