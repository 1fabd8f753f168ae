//! [`JobQueue`] on SQS: the three queues of `template.yaml`, by URL.

use async_trait::async_trait;

use super::aws::AwsError;
use crate::config::Env;
use crate::ports::jobs::JobMessage;
use crate::ports::queue::{encode, JobQueue, Queue, QueueError};

/// The URL of each queue in one deployment.
#[derive(Debug, Clone)]
pub struct QueueUrls {
    pub adapter: String,
    pub push: String,
    pub bulk: String,
}

impl QueueUrls {
    /// The URLs the environment names (`RHOSYNC_*_QUEUE_URL`).
    pub fn from_env(env: &Env) -> Self {
        Self {
            adapter: env.adapter_queue_url.clone(),
            push: env.push_queue_url.clone(),
            bulk: env.bulk_queue_url.clone(),
        }
    }

    pub fn url(&self, queue: Queue) -> &str {
        match queue {
            Queue::Adapter => &self.adapter,
            Queue::Push => &self.push,
            Queue::Bulk => &self.bulk,
        }
    }
}

/// Sends each message as one SQS message whose body is the message's JSON.
#[derive(Debug, Clone)]
pub struct SqsJobQueue {
    client: aws_sdk_sqs::Client,
    urls: QueueUrls,
}

impl SqsJobQueue {
    pub fn new(client: aws_sdk_sqs::Client, urls: QueueUrls) -> Self {
        Self { client, urls }
    }

    pub fn urls(&self) -> &QueueUrls {
        &self.urls
    }
}

#[async_trait]
impl JobQueue for SqsJobQueue {
    async fn send(&self, queue: Queue, message: &JobMessage) -> Result<(), QueueError> {
        let body = encode(queue, message)?;
        self.client.send_message().queue_url(self.urls.url(queue)).message_body(body).send().await.map_err(|e| {
            let outage = crate::edges::aws::is_outage(&e);
            let message = AwsError::sdk("sqs", e).to_string();
            if outage {
                QueueError::Unavailable { queue, message }
            } else {
                QueueError::Send { queue, message }
            }
        })?;
        Ok(())
    }
}
