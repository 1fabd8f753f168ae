//! The queue admin port: what the console's Jobs screen needs of the queues beside sending
//! (docs/jobs.md §7) — each queue's depth and its DLQ's, the DLQ's messages (looked at, never
//! removed by looking), and replaying or discarding them by message id. The SQS edge is
//! `crate::edges::sqs_admin`; [`MemoryQueueAdmin`] keeps DLQ messages in memory for tests.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::queue::{Queue, QueueError};

/// Messages of one queue and of its DLQ.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Visible messages waiting (`ApproximateNumberOfMessages`).
    pub depth: u64,
    /// Received and not yet deleted (`ApproximateNumberOfMessagesNotVisible`).
    pub in_flight: u64,
    /// Messages in the DLQ.
    pub dead_letter: u64,
}

/// One DLQ message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The DLQ's message id (what replay and discard name).
    pub id: String,
    /// The id the message had on its queue when it failed, if it differs (a local runner
    /// copies failed messages to the DLQ; SQS moves them and keeps the id).
    pub original_id: Option<String>,
    pub body: String,
    /// `ApproximateReceiveCount`.
    pub receive_count: u32,
    /// `SentTimestamp`, unix milliseconds.
    pub sent_at_ms: i64,
}

impl DeadLetter {
    /// The id the worker recorded the failure under.
    pub fn failed_id(&self) -> &str {
        self.original_id.as_deref().unwrap_or(&self.id)
    }
}

#[async_trait]
pub trait QueueAdmin: Send + Sync {
    async fn depths(&self, queue: Queue) -> Result<QueueDepth, QueueError>;

    /// Up to `max` DLQ messages, oldest first as far as the queue tells; none is removed.
    async fn dead_letters(&self, queue: Queue, max: usize) -> Result<Vec<DeadLetter>, QueueError>;

    /// Sends each named DLQ message back to `queue`, then deletes it from the DLQ; ids not
    /// found (or being handled by another call) are skipped. The count replayed.
    async fn replay(&self, queue: Queue, ids: &[String]) -> Result<usize, QueueError>;

    /// Deletes the named DLQ messages; the count deleted.
    async fn discard(&self, queue: Queue, ids: &[String]) -> Result<usize, QueueError>;
}

/// DLQs in memory: [`MemoryQueueAdmin::dead_letter`] puts a message there; a replay moves it
/// to [`MemoryQueueAdmin::replayed`].
#[derive(Debug, Default)]
pub struct MemoryQueueAdmin {
    inner: Mutex<MemoryAdmin>,
}

#[derive(Debug, Default)]
struct MemoryAdmin {
    dlq: HashMap<Queue, Vec<DeadLetter>>,
    replayed: HashMap<Queue, Vec<String>>,
    seq: u64,
}

impl MemoryQueueAdmin {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, MemoryAdmin> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a message to `queue`'s DLQ; its id.
    pub fn dead_letter(&self, queue: Queue, body: &str, receive_count: u32) -> String {
        let mut inner = self.lock();
        inner.seq += 1;
        let id = format!("m{}", inner.seq);
        let letter = DeadLetter {
            id: id.clone(),
            original_id: None,
            body: body.to_owned(),
            receive_count,
            sent_at_ms: inner.seq as i64,
        };
        inner.dlq.entry(queue).or_default().push(letter);
        id
    }

    /// The bodies replayed to `queue`, in order.
    pub fn replayed(&self, queue: Queue) -> Vec<String> {
        self.lock().replayed.get(&queue).cloned().unwrap_or_default()
    }

    fn take(&self, queue: Queue, ids: &[String]) -> Vec<DeadLetter> {
        let mut inner = self.lock();
        let letters = inner.dlq.entry(queue).or_default();
        let (taken, kept): (Vec<_>, Vec<_>) = std::mem::take(letters).into_iter().partition(|l| ids.contains(&l.id));
        *letters = kept;
        taken
    }
}

#[async_trait]
impl QueueAdmin for MemoryQueueAdmin {
    async fn depths(&self, queue: Queue) -> Result<QueueDepth, QueueError> {
        let dead_letter = self.lock().dlq.get(&queue).map_or(0, Vec::len) as u64;
        Ok(QueueDepth { depth: 0, in_flight: 0, dead_letter })
    }

    async fn dead_letters(&self, queue: Queue, max: usize) -> Result<Vec<DeadLetter>, QueueError> {
        Ok(self.lock().dlq.get(&queue).map(|l| l.iter().take(max).cloned().collect()).unwrap_or_default())
    }

    async fn replay(&self, queue: Queue, ids: &[String]) -> Result<usize, QueueError> {
        let taken = self.take(queue, ids);
        let mut inner = self.lock();
        let replayed = inner.replayed.entry(queue).or_default();
        replayed.extend(taken.iter().map(|l| l.body.clone()));
        Ok(taken.len())
    }

    async fn discard(&self, queue: Queue, ids: &[String]) -> Result<usize, QueueError> {
        Ok(self.take(queue, ids).len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn replay_and_discard_take_each_message_once() {
        let admin = MemoryQueueAdmin::new();
        let a = admin.dead_letter(Queue::Adapter, "{\"kind\":\"refresh\"}", 3);
        let b = admin.dead_letter(Queue::Adapter, "{}", 3);
        assert_eq!(admin.depths(Queue::Adapter).await.expect("depths").dead_letter, 2);
        assert_eq!(admin.dead_letters(Queue::Adapter, 1).await.expect("peek").len(), 1);
        assert_eq!(admin.replay(Queue::Adapter, &[a.clone(), "nope".into()]).await.expect("replay"), 1);
        assert_eq!(admin.replay(Queue::Adapter, std::slice::from_ref(&a)).await.expect("again"), 0);
        assert_eq!(admin.replayed(Queue::Adapter), ["{\"kind\":\"refresh\"}"]);
        assert_eq!(admin.discard(Queue::Adapter, &[b]).await.expect("discard"), 1);
        assert!(admin.dead_letters(Queue::Adapter, 10).await.expect("peek").is_empty());
    }
}
