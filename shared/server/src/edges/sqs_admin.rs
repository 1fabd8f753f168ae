//! [`QueueAdmin`] on SQS (docs/jobs.md §7).
//!
//! * depths: `GetQueueAttributes` `ApproximateNumberOfMessages` / `…NotVisible` of the queue
//!   and its DLQ;
//! * peek: `ReceiveMessage` on the DLQ with the receive count and sent time, each message
//!   hidden while the walk lasts so it is seen once, then made visible again
//!   (`ChangeMessageVisibility` 0) — looking never deletes;
//! * replay: the message is received (so no other call holds it), its body sent to the queue,
//!   then it is deleted from the DLQ; two replays of one message cannot both receive it, so it
//!   is replayed once. Discard: received, then deleted.
//!
//! The DLQ URLs come from `RHOSYNC_*_DLQ_URL`, else from the queue's redrive policy.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};

use super::aws::{is_outage, AwsError};
use super::sqs::QueueUrls;
use crate::config::Env;
use crate::ports::queue::{Queue, QueueError};
use crate::ports::queue_admin::{DeadLetter, QueueAdmin, QueueDepth};

/// The message attribute a local runner's copy to the DLQ names the failed message's id in.
pub const FAILED_ID_ATTRIBUTE: &str = "rhosync_failed_id";

/// Seconds a message stays hidden while one call walks the DLQ.
const WALK_VISIBILITY_SECS: i32 = 20;

/// Receives per call at most (10 messages each).
const MAX_RECEIVES: usize = 20;

pub struct SqsQueueAdmin {
    client: aws_sdk_sqs::Client,
    urls: QueueUrls,
    dlq_urls: Mutex<HashMap<Queue, String>>,
}

fn error<E>(queue: Queue, e: aws_sdk_sqs::error::SdkError<E, aws_sdk_sqs::config::http::HttpResponse>) -> QueueError
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let outage = is_outage(&e);
    let message = AwsError::sdk("sqs", e).to_string();
    if outage {
        QueueError::Unavailable { queue, message }
    } else {
        QueueError::Send { queue, message }
    }
}

struct Received {
    letter: DeadLetter,
    handle: String,
}

impl SqsQueueAdmin {
    pub fn new(client: aws_sdk_sqs::Client, env: &Env) -> Self {
        let mut dlq_urls = HashMap::new();
        for (queue, url) in
            [(Queue::Adapter, &env.adapter_dlq_url), (Queue::Push, &env.push_dlq_url), (Queue::Bulk, &env.bulk_dlq_url)]
        {
            if let Some(url) = url.as_ref().filter(|u| !u.is_empty()) {
                dlq_urls.insert(queue, url.clone());
            }
        }
        Self { client, urls: QueueUrls::from_env(env), dlq_urls: Mutex::new(dlq_urls) }
    }

    async fn dlq_url(&self, queue: Queue) -> Result<String, QueueError> {
        if let Some(url) = self.dlq_urls.lock().unwrap_or_else(|p| p.into_inner()).get(&queue) {
            return Ok(url.clone());
        }
        let attrs = self
            .client
            .get_queue_attributes()
            .queue_url(self.urls.url(queue))
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .map_err(|e| error(queue, e))?
            .attributes
            .unwrap_or_default();
        let policy: serde_json::Value = attrs
            .get(&QueueAttributeName::RedrivePolicy)
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or_default();
        let name = policy["deadLetterTargetArn"].as_str().and_then(|arn| arn.rsplit(':').next()).unwrap_or_default();
        if name.is_empty() {
            return Err(QueueError::Send { queue, message: "the queue has no dead-letter queue".into() });
        }
        let url = self
            .client
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| error(queue, e))?
            .queue_url
            .unwrap_or_default();
        self.dlq_urls.lock().unwrap_or_else(|p| p.into_inner()).insert(queue, url.clone());
        Ok(url)
    }

    async fn counts(&self, queue: Queue, url: &str) -> Result<(u64, u64), QueueError> {
        let attrs = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| error(queue, e))?
            .attributes
            .unwrap_or_default();
        let n = |k: QueueAttributeName| attrs.get(&k).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok((
            n(QueueAttributeName::ApproximateNumberOfMessages),
            n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        ))
    }

    /// Receives DLQ messages, each hidden for the walk, until `enough` says stop or the queue
    /// gives no more.
    async fn walk(
        &self,
        queue: Queue,
        url: &str,
        mut enough: impl FnMut(&[Received]) -> bool,
    ) -> Result<Vec<Received>, QueueError> {
        let mut got: Vec<Received> = Vec::new();
        for _ in 0..MAX_RECEIVES {
            if enough(&got) {
                break;
            }
            let out = self
                .client
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .visibility_timeout(WALK_VISIBILITY_SECS)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
                .message_attribute_names(FAILED_ID_ATTRIBUTE)
                .send()
                .await
                .map_err(|e| error(queue, e))?;
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for m in messages {
                let attrs = m.attributes.unwrap_or_default();
                let attr = |k: MessageSystemAttributeName| attrs.get(&k).and_then(|v| v.parse::<i64>().ok());
                let original_id = m
                    .message_attributes
                    .as_ref()
                    .and_then(|a| a.get(FAILED_ID_ATTRIBUTE))
                    .and_then(|v| v.string_value.clone());
                let letter = DeadLetter {
                    id: m.message_id.unwrap_or_default(),
                    original_id,
                    body: m.body.unwrap_or_default(),
                    receive_count: attr(MessageSystemAttributeName::ApproximateReceiveCount).unwrap_or(0) as u32,
                    sent_at_ms: attr(MessageSystemAttributeName::SentTimestamp).unwrap_or(0),
                };
                got.push(Received { letter, handle: m.receipt_handle.unwrap_or_default() });
            }
        }
        Ok(got)
    }

    /// Makes walked messages visible again.
    async fn release(&self, url: &str, received: &[Received]) {
        for r in received {
            let result = self
                .client
                .change_message_visibility()
                .queue_url(url)
                .receipt_handle(&r.handle)
                .visibility_timeout(0)
                .send()
                .await;
            if let Err(e) = result {
                tracing::warn!(error = %AwsError::sdk("sqs", e), "releasing a DLQ message");
            }
        }
    }

    async fn delete(&self, queue: Queue, url: &str, handle: &str) -> Result<(), QueueError> {
        self.client.delete_message().queue_url(url).receipt_handle(handle).send().await.map_err(|e| error(queue, e))?;
        Ok(())
    }

    /// Receives the named messages, runs `act` on each, and releases the others.
    async fn take(&self, queue: Queue, ids: &[String], replay: bool) -> Result<usize, QueueError> {
        let url = self.dlq_url(queue).await?;
        let wanted = |r: &Received| ids.contains(&r.letter.id);
        let received =
            self.walk(queue, &url, |got| ids.iter().all(|id| got.iter().any(|r| &r.letter.id == id))).await?;
        let (targets, others): (Vec<Received>, Vec<Received>) = received.into_iter().partition(wanted);
        self.release(&url, &others).await;
        let mut done = 0;
        let mut seen: Vec<&str> = Vec::new();
        for r in &targets {
            if seen.contains(&r.letter.id.as_str()) {
                continue;
            }
            seen.push(&r.letter.id);
            if replay {
                self.client
                    .send_message()
                    .queue_url(self.urls.url(queue))
                    .message_body(&r.letter.body)
                    .send()
                    .await
                    .map_err(|e| error(queue, e))?;
            }
            self.delete(queue, &url, &r.handle).await?;
            done += 1;
        }
        Ok(done)
    }
}

#[async_trait]
impl QueueAdmin for SqsQueueAdmin {
    async fn depths(&self, queue: Queue) -> Result<QueueDepth, QueueError> {
        let (depth, in_flight) = self.counts(queue, self.urls.url(queue)).await?;
        let dlq = self.dlq_url(queue).await?;
        let (visible, hidden) = self.counts(queue, &dlq).await?;
        Ok(QueueDepth { depth, in_flight, dead_letter: visible + hidden })
    }

    async fn dead_letters(&self, queue: Queue, max: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let url = self.dlq_url(queue).await?;
        let received = self.walk(queue, &url, |got| got.len() >= max).await?;
        self.release(&url, &received).await;
        let mut letters: Vec<DeadLetter> = Vec::new();
        for r in received {
            if !letters.iter().any(|l| l.id == r.letter.id) {
                letters.push(r.letter);
            }
        }
        letters.sort_by_key(|l| l.sent_at_ms);
        letters.truncate(max);
        Ok(letters)
    }

    async fn replay(&self, queue: Queue, ids: &[String]) -> Result<usize, QueueError> {
        self.take(queue, ids, true).await
    }

    async fn discard(&self, queue: Queue, ids: &[String]) -> Result<usize, QueueError> {
        self.take(queue, ids, false).await
    }
}
