//! The job queue port: producers hand a [`JobMessage`] to one of the three queues of
//! `template.yaml`, and a worker receives it later (the SQS edge is `crate::edges::sqs`).
//!
//! Producers only send; receiving is the Lambda event source mapping's business (or the
//! local runner's), so it is not part of the port. [`MemoryJobQueue`] keeps what was sent,
//! per queue, for tests to look at, and can be told to refuse.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::jobs::JobMessage;

/// Receives before a failing message moves to its DLQ; `template.yaml` and the local
/// provisioning use the same number.
pub const MAX_RECEIVE_COUNT: u32 = 3;

/// Largest message body the queues take: SQS's default maximum message size, which
/// `template.yaml` keeps.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// The three queues, as `template.yaml` declares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Queue {
    /// Queued refreshes and client writes, for the adapter worker.
    Adapter,
    /// Pings, for the push worker.
    Push,
    /// Bulk-data files, for the bulk worker.
    Bulk,
}

impl Queue {
    pub const ALL: [Queue; 3] = [Self::Adapter, Self::Push, Self::Bulk];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Adapter => "adapter",
            Self::Push => "push",
            Self::Bulk => "bulk",
        }
    }
}

impl std::fmt::Display for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("encoding a job for the {queue} queue: {message}")]
    Encode { queue: Queue, message: String },
    /// The queue did not take the message; nothing was enqueued.
    #[error("the {queue} queue refused a job: {message}")]
    Send { queue: Queue, message: String },
    /// The queue could not be reached (or throttled): nothing was enqueued; answered 503.
    #[error("the {queue} queue is unavailable: {message}")]
    Unavailable { queue: Queue, message: String },
}

/// Where producers put jobs. A successful `send` means the queue holds the message durably.
#[async_trait]
pub trait JobQueue: Send + Sync {
    async fn send(&self, queue: Queue, message: &JobMessage) -> Result<(), QueueError>;
}

/// The message body every edge sends: the message as JSON.
pub fn encode(queue: Queue, message: &JobMessage) -> Result<String, QueueError> {
    serde_json::to_string(message).map_err(|e| QueueError::Encode { queue, message: e.to_string() })
}

/// The length of [`encode`]'s body, without building it (a producer that must choose
/// between sending a payload inline and storing it elsewhere asks this first).
pub fn encoded_len(message: &JobMessage) -> Result<usize, serde_json::Error> {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, message)?;
    Ok(count.0)
}

/// An in-memory queue: remembers every body sent, per queue, in order.
///
/// Like SQS it refuses a body over [`MAX_MESSAGE_BYTES`]; [`MemoryJobQueue::fail_with`]
/// makes every send fail, as an unreachable queue would.
#[derive(Debug, Default)]
pub struct MemoryJobQueue {
    inner: Mutex<MemoryQueues>,
}

#[derive(Debug, Default)]
struct MemoryQueues {
    sent: HashMap<Queue, Vec<String>>,
    failure: Option<String>,
}

impl MemoryJobQueue {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, MemoryQueues> {
        // A panicking test thread cannot leave the maps half-written: every change is one
        // push or assignment.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes every later send fail with `message` (until [`MemoryJobQueue::recover`]).
    pub fn fail_with(&self, message: impl Into<String>) {
        self.lock().failure = Some(message.into());
    }

    /// Sends succeed again.
    pub fn recover(&self) {
        self.lock().failure = None;
    }

    /// The bodies sent to `queue`, oldest first.
    pub fn bodies(&self, queue: Queue) -> Vec<String> {
        self.lock().sent.get(&queue).cloned().unwrap_or_default()
    }

    /// The messages sent to `queue`, oldest first.
    pub fn messages(&self, queue: Queue) -> Vec<JobMessage> {
        self.bodies(queue).iter().filter_map(|body| serde_json::from_str(body).ok()).collect()
    }

    /// Removes and returns the messages sent to `queue` (what a worker would receive).
    pub fn take(&self, queue: Queue) -> Vec<JobMessage> {
        let bodies = self.lock().sent.remove(&queue).unwrap_or_default();
        bodies.iter().filter_map(|body| serde_json::from_str(body).ok()).collect()
    }
}

#[async_trait]
impl JobQueue for MemoryJobQueue {
    async fn send(&self, queue: Queue, message: &JobMessage) -> Result<(), QueueError> {
        let body = encode(queue, message)?;
        let mut inner = self.lock();
        if let Some(failure) = &inner.failure {
            return Err(QueueError::Send { queue, message: failure.clone() });
        }
        if body.len() > MAX_MESSAGE_BYTES {
            return Err(QueueError::Send {
                queue,
                message: format!("message of {} bytes is over the {MAX_MESSAGE_BYTES}-byte limit", body.len()),
            });
        }
        inner.sent.entry(queue).or_default().push(body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::jobs::Job;

    fn ping(user: &str) -> JobMessage {
        JobMessage { id: None, job: Job::ping(vec![user.to_owned()], Vec::new(), "api") }
    }

    #[tokio::test]
    async fn memory_queue_keeps_messages_per_queue_in_order() {
        let queue = MemoryJobQueue::new();
        queue.send(Queue::Push, &ping("a")).await.expect("sent");
        queue.send(Queue::Push, &ping("b")).await.expect("sent");
        let bulk = JobMessage { id: Some("j1".into()), job: Job::Bulk { name: "x".into(), sources: Vec::new() } };
        queue.send(Queue::Bulk, &bulk).await.expect("sent");
        assert_eq!(queue.messages(Queue::Push), [ping("a"), ping("b")]);
        assert_eq!(queue.bodies(Queue::Bulk), [r#"{"id":"j1","kind":"bulk","name":"x","sources":[]}"#]);
        assert!(queue.messages(Queue::Adapter).is_empty());
        assert_eq!(queue.take(Queue::Push).len(), 2);
        assert!(queue.messages(Queue::Push).is_empty(), "taken messages are gone");
    }

    #[tokio::test]
    async fn memory_queue_fails_when_told_and_refuses_oversized_bodies() {
        let queue = MemoryJobQueue::new();
        queue.fail_with("unreachable");
        let err = queue.send(Queue::Adapter, &ping("a")).await.expect_err("fails");
        assert_eq!(err.to_string(), "the adapter queue refused a job: unreachable");
        queue.recover();
        queue.send(Queue::Adapter, &ping("a")).await.expect("sent again");
        let big = JobMessage { id: None, job: Job::ping(vec!["x".repeat(MAX_MESSAGE_BYTES)], Vec::new(), "api") };
        assert!(queue.send(Queue::Adapter, &big).await.is_err());
        assert_eq!(queue.messages(Queue::Adapter).len(), 1, "refused messages are not kept");
    }

    #[test]
    fn encoded_len_is_the_body_length() {
        let message = ping("ünïcode");
        let body = encode(Queue::Push, &message).expect("encodes");
        assert_eq!(encoded_len(&message).expect("counts"), body.len());
    }
}
