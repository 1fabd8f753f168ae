//! The per-message machinery every SQS worker shares. The messages themselves
//! ([`JobMessage`], [`Job`]) are in [`crate::ports::jobs`], next to the queue port producers
//! send them through.
//!
//! A worker is a [`JobHandler`]; [`process_batch`] runs it over an SQS batch the way the
//! Lambda event source mapping expects: each message is handled on its own and failures are
//! reported as batch item failures, so only those are redelivered (and, after the queue's
//! receive count, moved to the DLQ). SQS delivers at least once, so a job that already
//! succeeded is skipped through the [`ledger::JobLedger`]. Each failure is recorded by
//! message id ([`errors`]) so the console's DLQ listing can say why; [`history`] keeps the
//! last pings' results for the console.

pub mod errors;
pub mod history;
pub mod ledger;
pub mod workers;

use async_trait::async_trait;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};

pub use ledger::JobLedger;

use crate::ports::jobs::{Job, JobMessage};
use crate::ports::queue::MAX_RECEIVE_COUNT;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("malformed job message: {0}")]
    Malformed(String),
    #[error("{0} jobs are not handled by this worker")]
    WrongWorker(&'static str),
    #[error("job failed: {0}")]
    Failed(String),
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
        self.receive_count >= MAX_RECEIVE_COUNT
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
    /// whole (client writes, docs/sync-engine.md §6.3) overrides it.
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
    // (message id, error)
    let mut failed: Vec<(String, String)> = Vec::new();
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
                failed.push((id, err.to_string()));
            }
        }
    }
    let results = handler.handle_batch(&items).await;
    let mut ok = vec![false; items.len()];
    let mut errors: Vec<String> = vec![String::new(); items.len()];
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
            Err(err) => {
                tracing::warn!(worker = handler.name(), job = %item.key, error = %err, "job failed");
                errors[i] = err.to_string();
            }
        }
    }
    failed.extend(handled_by.into_iter().filter(|(_, at)| !ok[*at]).map(|(id, at)| (id, errors[at].clone())));
    let receives = |id: &str| {
        event
            .records
            .iter()
            .find(|m| m.message_id.as_deref() == Some(id))
            .and_then(|m| m.attributes.get("ApproximateReceiveCount"))
            .and_then(|n| n.parse().ok())
            .unwrap_or(1)
    };
    for (id, error) in failed {
        if let Err(err) = ledger.record_failure(&id, &error, receives(&id)).await {
            tracing::warn!(worker = handler.name(), message_id = %id, error = %err, "recording a job failure");
        }
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    response
}

/// Parses a message; `None` when its job is already done.
async fn prepare(
    handler: &dyn JobHandler,
    ledger: &JobLedger,
    message: &SqsMessage,
) -> Result<Option<JobItem>, JobError> {
    let body = message.body.as_deref().unwrap_or_default();
    let parsed: JobMessage = serde_json::from_str(body).map_err(|e| JobError::Malformed(e.to_string()))?;
    let key = parsed.id.clone().or_else(|| message.message_id.clone()).unwrap_or_default();
    if ledger.is_done(&key).await.map_err(|e| JobError::Failed(e.to_string()))? {
        tracing::info!(worker = handler.name(), job = %key, "duplicate delivery skipped");
        return Ok(None);
    }
    let receive_count = message.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1);
    Ok(Some(JobItem { key, job: parsed.job, receive_count }))
}
