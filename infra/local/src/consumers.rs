//! Local stand-in for Lambda's SQS event source mapping.
//!
//! Nothing in the local stack turns a queue message into a function call, so the runner
//! polls each queue and hands batches to the same [`process_batch`] Lambda uses. Like the
//! event source mapping it deletes the messages that succeeded and leaves the reported
//! failures on the queue, to come back after the visibility timeout; a message received
//! `maxReceiveCount` times goes to the queue's DLQ. The emulator may do that move itself;
//! the runner does it too, from the queue's own redrive policy, so either way it happens.
//!
//! Like the mapping, several pollers may work one queue at once
//! ([`ConsumerOptions::pollers`]; Lambda starts with five and scales out), each receiving a
//! batch, handing it over and settling it — successes in one `DeleteMessageBatch`, as the
//! mapping does — while the others go on, so one slow batch does not hold the queue.

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
};
use rhosync_server::edges::sqs_admin::FAILED_ID_ATTRIBUTE;
use rhosync_server::edges::AwsError;
use rhosync_server::jobs::workers::WorkerName;
use rhosync_server::jobs::{process_batch, JobHandler, JobLedger};
use rhosync_server::AppState;
use tokio::sync::watch;

/// How the pump behaves; defaults mirror the template's event source mappings.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    pub batch_size: i32,
    /// Seconds a failed message stays invisible before redelivery; `None` keeps the queue's
    /// visibility timeout, as Lambda does.
    pub retry_delay_secs: Option<i32>,
    pub idle_wait: Duration,
    /// Batches in work at once on each queue (concurrent invocations, under Lambda). One by
    /// default, so the local stack and the tests handle a queue's jobs in order.
    pub pollers: usize,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        Self { batch_size: 10, retry_delay_secs: None, idle_wait: Duration::from_millis(200), pollers: 1 }
    }
}

struct Redrive {
    dlq_url: String,
    max_receive_count: u32,
}

/// Polls `worker`'s queue with [`ConsumerOptions::pollers`] pollers until `stop` flips to true.
pub async fn run(state: AppState, worker: WorkerName, options: ConsumerOptions, stop: watch::Receiver<bool>) {
    let queue_url = worker.queue_url(&state.config.env);
    let ledger = JobLedger::new(state.redis.clone());
    let handler = worker.handler(state.sync.clone());
    let redrive = match redrive_policy(&state, &queue_url).await {
        Ok(r) => r,
        Err(err) => {
            tracing::error!(worker = worker.as_str(), error = %err, "cannot read the queue's redrive policy");
            None
        }
    };
    let queue =
        Queue { state: &state, worker, url: &queue_url, ledger: &ledger, handler: &*handler, redrive: &redrive };
    let pollers = (0..options.pollers.max(1)).map(|_| poll(&queue, &options, stop.clone()));
    futures::future::join_all(pollers).await;
}

/// What the pollers of one queue share.
struct Queue<'a> {
    state: &'a AppState,
    worker: WorkerName,
    url: &'a str,
    ledger: &'a JobLedger,
    handler: &'a dyn JobHandler,
    redrive: &'a Option<Redrive>,
}

/// One poller: receive a batch, process it, settle it, until `stop` flips to true.
async fn poll(queue: &Queue<'_>, options: &ConsumerOptions, mut stop: watch::Receiver<bool>) {
    let Queue { state, worker, url: queue_url, ledger, handler, redrive } = *queue;
    while !*stop.borrow() {
        let received = tokio::select! {
            r = receive(state, queue_url, options.batch_size) => r,
            _ = stop.changed() => break,
        };
        let messages = match received {
            Ok(messages) => messages,
            Err(err) => {
                tracing::warn!(worker = worker.as_str(), error = %err, "receive failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            tokio::time::sleep(options.idle_wait).await;
            continue;
        }
        let mut event = SqsEvent::default();
        event.records = messages.clone();
        let response = process_batch(handler, ledger, event).await;
        let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        let (succeeded, failures): (Vec<&SqsMessage>, Vec<&SqsMessage>) =
            messages.iter().partition(|m| !failed.contains(&m.message_id.as_deref().unwrap_or_default()));
        if let Err(err) = delete_all(state, queue_url, &succeeded).await {
            tracing::warn!(worker = worker.as_str(), error = %err, "deleting handled messages failed");
        }
        for message in failures {
            let id = message.message_id.as_deref().unwrap_or_default();
            let handle = message.receipt_handle.as_deref().unwrap_or_default();
            let receives =
                message.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse::<u32>().ok()).unwrap_or(1);
            let result = match redrive {
                Some(r) if receives >= r.max_receive_count => {
                    tracing::warn!(worker = worker.as_str(), message_id = id, "moved to DLQ");
                    dead_letter(state, queue_url, r, message).await
                }
                _ => retry_later(state, queue_url, handle, options.retry_delay_secs).await,
            };
            if let Err(err) = result {
                tracing::warn!(worker = worker.as_str(), error = %err, "settling a message failed");
            }
        }
    }
}

/// Deletes `messages` (at most ten: one received batch) in one `DeleteMessageBatch`.
async fn delete_all(state: &AppState, queue_url: &str, messages: &[&SqsMessage]) -> Result<(), AwsError> {
    if messages.is_empty() {
        return Ok(());
    }
    let mut request = state.aws.sqs.delete_message_batch().queue_url(queue_url);
    for (i, message) in messages.iter().enumerate() {
        let entry = DeleteMessageBatchRequestEntry::builder()
            .id(i.to_string())
            .receipt_handle(message.receipt_handle.as_deref().unwrap_or_default())
            .build()
            .map_err(|e| AwsError::call("sqs", e))?;
        request = request.entries(entry);
    }
    let out = request.send().await.map_err(|e| AwsError::sdk("sqs", e))?;
    match out.failed.first() {
        None => Ok(()),
        Some(f) => Err(AwsError::call("sqs", format!("{} of the deletes failed: {}", out.failed.len(), f.code))),
    }
}

async fn redrive_policy(state: &AppState, queue_url: &str) -> Result<Option<Redrive>, AwsError> {
    let attrs = state
        .aws
        .sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .map_err(|e| AwsError::sdk("sqs", e))?
        .attributes
        .unwrap_or_default();
    let Some(policy) = attrs.get(&QueueAttributeName::RedrivePolicy) else { return Ok(None) };
    let policy: serde_json::Value =
        serde_json::from_str(policy).map_err(|e| AwsError::call("sqs", format!("redrive policy: {e}")))?;
    let arn = policy["deadLetterTargetArn"].as_str().unwrap_or_default();
    let max = match &policy["maxReceiveCount"] {
        serde_json::Value::String(s) => s.parse().unwrap_or(3),
        other => other.as_u64().unwrap_or(3) as u32,
    };
    let dlq_name = arn.rsplit(':').next().unwrap_or_default();
    let dlq_url = state
        .aws
        .sqs
        .get_queue_url()
        .queue_name(dlq_name)
        .send()
        .await
        .map_err(|e| AwsError::sdk("sqs", e))?
        .queue_url
        .unwrap_or_default();
    Ok(Some(Redrive { dlq_url, max_receive_count: max }))
}

async fn receive(state: &AppState, queue_url: &str, batch: i32) -> Result<Vec<SqsMessage>, AwsError> {
    let out = state
        .aws
        .sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(batch)
        .wait_time_seconds(1)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .map_err(|e| AwsError::sdk("sqs", e))?;
    let arn = format!("arn:aws:sqs:local:000000000000:{}", queue_url.rsplit('/').next().unwrap_or_default());
    Ok(out
        .messages
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            let attributes: HashMap<String, String> =
                m.attributes.unwrap_or_default().into_iter().map(|(k, v)| (k.as_str().to_owned(), v)).collect();
            let mut message = SqsMessage::default();
            message.message_id = m.message_id;
            message.receipt_handle = m.receipt_handle;
            message.body = m.body;
            message.md5_of_body = m.md5_of_body;
            message.attributes = attributes;
            message.event_source = Some("aws:sqs".into());
            message.event_source_arn = Some(arn.clone());
            message.aws_region = std::env::var("AWS_REGION").ok();
            message
        })
        .collect())
}

async fn delete(state: &AppState, queue_url: &str, handle: &str) -> Result<(), AwsError> {
    state
        .aws
        .sqs
        .delete_message()
        .queue_url(queue_url)
        .receipt_handle(handle)
        .send()
        .await
        .map_err(|e| AwsError::sdk("sqs", e))?;
    Ok(())
}

async fn retry_later(state: &AppState, queue_url: &str, handle: &str, delay: Option<i32>) -> Result<(), AwsError> {
    let Some(delay) = delay else { return Ok(()) };
    state
        .aws
        .sqs
        .change_message_visibility()
        .queue_url(queue_url)
        .receipt_handle(handle)
        .visibility_timeout(delay)
        .send()
        .await
        .map_err(|e| AwsError::sdk("sqs", e))?;
    Ok(())
}

async fn dead_letter(
    state: &AppState,
    queue_url: &str,
    redrive: &Redrive,
    message: &SqsMessage,
) -> Result<(), AwsError> {
    state
        .aws
        .sqs
        .send_message()
        .queue_url(&redrive.dlq_url)
        .message_body(message.body.clone().unwrap_or_default())
        // The copy gets a new id; the failure was recorded under the old one.
        .message_attributes(
            FAILED_ID_ATTRIBUTE,
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(message.message_id.clone().unwrap_or_default())
                .build()
                .map_err(|e| AwsError::call("sqs", e))?,
        )
        .send()
        .await
        .map_err(|e| AwsError::sdk("sqs", e))?;
    delete(state, queue_url, message.receipt_handle.as_deref().unwrap_or_default()).await
}
