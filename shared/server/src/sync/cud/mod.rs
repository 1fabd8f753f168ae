//! Client creates, updates and deletes (docs/device-protocol.md §6, docs/sync-engine.md §6).
//!
//! # Flow
//!
//! The sync function checks the request (docs/device-protocol.md §2.6), stores blob parts in S3
//! ([`blobs`]), and turns the request into one [`CudWrite`] with an idempotency key. As in
//! RhoConnect, the write is applied inside the request unless the source has a queue
//! (`cud_queue` / `queue`); then it is sent to the adapter queue as a `Job::Cud` and the
//! device gets its 200 only after SQS accepted it (docs/sync-engine.md §6.1); the adapter
//! worker applies it ([`apply::apply_batch`]) with every other write of the same source in
//! its SQS batch, oldest first. Pass-through sources call the adapter directly
//! (docs/sync-engine.md §6.6). Results go where RC7 puts them: links, `<op>-error`,
//! `update-rollback` and CUD deletes in the client's pending documents, created objects in
//! md and pinned in the client's svc, deleted ones removed.
//!
//! # Exactly-once effect
//!
//! * **Write key.** `<digest>.<n>`: the digest covers client, source, the operations and
//!   the blob bytes; `n` counts the client's writes to the source. A request equal to the
//!   client's previous one (a retry after a lost response) gets the previous key
//!   ([`records::claim_key`]). The key is the SQS job id, so the job ledger skips a
//!   redelivered or re-sent message that already finished.
//! * **Per-record record.** Before each adapter call the worker notes `started`; after it,
//!   the outcome (link id, error message, ...) in one `HSET`. A redelivery replays recorded
//!   outcomes without calling the backend, and writing them to the client documents is
//!   idempotent (hash sets, versioned md writes of the same values).
//! * **Backend key.** Each call carries `Idempotency-Key: <write key>:<op>:<index>`
//!   (plugin and rest adapters), equal on every retry.
//!
//! Residual window, stated plainly: if the worker dies (or Redis fails) after the backend
//! applied a record but before its outcome was recorded, the redelivery calls the backend
//! again for that record. A backend that honours `Idempotency-Key` answers it once; one
//! that does not applies it twice. Likewise, if the worker dies after writing the results
//! to the client documents but before noting `persisted`, the device may see a link or an
//! error entry twice (harmless: links and errors are keyed by object id). A device retry
//! is recognised for [`records::RECORD_TTL_SECS`]; two consecutive identical requests of
//! one client are taken as one (for creates they carry the same temporary id, so they are
//! the same object; repeating an update or delete has no further effect).
//!
//! # Order
//!
//! Within one worker invocation writes run oldest first. The adapter queue is a standard
//! SQS queue, so two writes of one device that land in different invocations may run in
//! either order (rare: a device sends its next write only after the previous 200). A FIFO
//! queue with the client id as message group would make the order strict; not done yet.
//!
//! # Failures
//!
//! An adapter error is an answer: the record gets its `<op>-error` (and `update-rollback`)
//! at once and the remaining records of that write and operation are carried to a
//! continuation write (docs/sync-engine.md §6.3). Infrastructure failures (Redis, S3, SQS) fail
//! the message, so SQS delivers it again; on the last delivery before the DLQ the records
//! without an outcome get the error [`GAVE_UP`], so the device hears of them, and the
//! message still goes to the DLQ for the operator.

pub mod apply;
pub mod blobs;
pub mod records;

use rhosync_engine::params::Part;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{SourceCtx, SyncError};
use crate::adapters::RawAttrs;
use crate::ports::jobs::{CudOp, CudWrite, Job, JobMessage};
use crate::ports::queue::{encoded_len, Queue};
use crate::ports::{BlobStore, JobQueue};
use crate::sync::SyncServices;

/// The `<op>-error` message of records whose write was given up after SQS's last retry.
pub const GAVE_UP: &str = "write could not be applied";

/// Largest job message we send inline, well under what a queue takes
/// ([`crate::ports::queue::MAX_MESSAGE_BYTES`]); a bigger write goes to the blob store.
const MAX_INLINE_MESSAGE: usize = 200 * 1024;

/// The three operation maps of a request, in request order.
#[derive(Debug, Clone, Default)]
pub struct CudOps {
    pub create: Vec<(String, RawAttrs)>,
    pub update: Vec<(String, RawAttrs)>,
    pub delete: Vec<(String, RawAttrs)>,
}

impl CudOps {
    /// Reads `create`, `update`, `delete` from the parameters; entries whose value is not
    /// an object are ignored, empty maps are fine (rhoconnect.js sends `{}`).
    pub fn from_params(params: &Map<String, Value>) -> Self {
        let op = |name: &str| -> Vec<(String, RawAttrs)> {
            match params.get(name) {
                Some(Value::Object(m)) => {
                    m.iter().filter_map(|(id, v)| v.as_object().map(|a| (id.clone(), a.clone()))).collect()
                }
                _ => Vec::new(),
            }
        };
        Self { create: op("create"), update: op("update"), delete: op("delete") }
    }

    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// The content digest of a request: client, source, operations and blob bytes.
fn digest(source: &str, client_id: &str, ops: &CudOps, parts: &[(CudOp, String, String, &Part)]) -> String {
    let mut hasher = Sha256::new();
    let blobs: Vec<(String, String)> =
        parts.iter().map(|(_, _, _, p)| (p.name.clone(), hex::encode(Sha256::digest(&p.bytes)))).collect();
    let body = serde_json::json!([client_id, source, ops.create, ops.update, ops.delete, blobs]);
    hasher.update(body.to_string().as_bytes());
    // 128 bits is plenty to tell one client's requests apart and keeps headers short.
    hex::encode(&hasher.finalize()[..16])
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// Accepts one request's writes for `client_id` of `login` (docs/sync-engine.md §6.1): queued
/// (the default) or applied now. Returns once the write is durable or applied.
pub async fn submit(
    svc: &SyncServices,
    source: &SourceCtx,
    login: &str,
    client_id: &str,
    ops: CudOps,
    uploads: &[Part],
    blob_fields: &[String],
) -> Result<(), SyncError> {
    accept(svc, source, login, client_id, ops, uploads, blob_fields, None).await
}

/// Submits rejected records again as a new write of `client_id` (the console's retry of
/// `crate::sync::rejected`): like [`submit`], but never taken for a device retry of the
/// write that was rejected — `salt` makes its digest differ.
pub async fn resubmit(
    svc: &SyncServices,
    source: &SourceCtx,
    login: &str,
    client_id: &str,
    ops: CudOps,
    salt: &str,
) -> Result<(), SyncError> {
    accept(svc, source, login, client_id, ops, &[], &[], Some(salt)).await
}

#[allow(clippy::too_many_arguments)]
async fn accept(
    svc: &SyncServices,
    source: &SourceCtx,
    login: &str,
    client_id: &str,
    ops: CudOps,
    uploads: &[Part],
    blob_fields: &[String],
    salt: Option<&str>,
) -> Result<(), SyncError> {
    if ops.is_empty() {
        return Ok(());
    }
    if source.config.pass_through {
        apply::pass_through(svc, source, login, &ops).await;
        return Ok(());
    }
    let parts = blobs::matching_parts(&ops, uploads, blob_fields);
    let name = &source.config.name;
    let mut content = digest(name, client_id, &ops, &parts);
    if let Some(salt) = salt {
        content = hex::encode(&Sha256::digest(format!("{content}:{salt}").as_bytes())[..16]);
    }
    let (key, retry) = records::claim_key(svc, name, client_id, &content).await?;
    if retry {
        tracing::info!(source = %name, client = client_id, write = %key, "device retry of an accepted write");
    }
    let blobs = blobs::store(svc.blobs(), name, &key, &parts).await?;
    let write = CudWrite {
        key,
        source: name.clone(),
        login: login.to_owned(),
        client_id: client_id.to_owned(),
        accepted_ms: now_ms(),
        create: ops.create,
        update: ops.update,
        delete: ops.delete,
        blobs,
    };
    if source.config.cud_queued {
        // A retry is sent again: if the first send was lost we need it, and if not the
        // worker skips the duplicate by its key.
        enqueue(svc.queue(), svc.blobs(), &write).await
    } else {
        let mut results =
            apply::apply_batch(svc, source, vec![apply::PendingWrite { write, last_attempt: false }]).await;
        results.pop().unwrap_or(Ok(()))
    }
}

/// Sends `write` to the adapter queue (its body to the blob store first when too big for a
/// queue message).
pub async fn enqueue(queue: &dyn JobQueue, blobs: &dyn BlobStore, write: &CudWrite) -> Result<(), SyncError> {
    let mut message = JobMessage {
        id: Some(write.key.clone()),
        job: Job::Cud {
            source: write.source.clone(),
            user: write.login.clone(),
            write: Some(Box::new(write.clone())),
            write_ref: None,
        },
    };
    if encoded_len(&message).map_err(|e| SyncError::Internal(e.to_string()))? > MAX_INLINE_MESSAGE {
        let object = format!("cud/{}/{}.json", write.source, write.key);
        let payload = serde_json::to_vec(write).map_err(|e| SyncError::Internal(e.to_string()))?;
        blobs.put(&object, payload, Some("application/json")).await?;
        message.job =
            Job::Cud { source: write.source.clone(), user: write.login.clone(), write: None, write_ref: Some(object) };
    }
    queue.send(Queue::Adapter, &message).await?;
    Ok(())
}

/// Loads a write stored by [`enqueue`].
pub async fn load_stored(blobs: &dyn BlobStore, object: &str) -> Result<CudWrite, SyncError> {
    let bytes = blobs
        .get(object)
        .await?
        .ok_or_else(|| SyncError::Queue(format!("reading a stored write: {object} is not stored")))?;
    serde_json::from_slice(&bytes).map_err(|e| SyncError::Internal(format!("stored write {object}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MemoryBlobStore, MemoryJobQueue};

    fn write(name_len: usize) -> CudWrite {
        let mut attrs = RawAttrs::new();
        attrs.insert("name".into(), Value::String("n".repeat(name_len)));
        CudWrite {
            key: "d1.1".into(),
            source: "Product".into(),
            login: "amy".into(),
            client_id: "c1".into(),
            accepted_ms: 1,
            create: vec![("tmp".into(), attrs)],
            update: Vec::new(),
            delete: Vec::new(),
            blobs: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_small_write_travels_inline_keyed_by_its_write_key() {
        let (queue, blobs) = (MemoryJobQueue::new(), MemoryBlobStore::new());
        let w = write(10);
        enqueue(&queue, &blobs, &w).await.expect("queued");
        let sent = queue.messages(Queue::Adapter);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].id.as_deref(), Some("d1.1"));
        let Job::Cud { write: Some(inline), write_ref: None, .. } = &sent[0].job else { panic!("{:?}", sent[0]) };
        assert_eq!(**inline, w);
        assert!(blobs.keys().is_empty());
    }

    #[tokio::test]
    async fn a_big_write_is_stored_and_named_by_the_message() {
        let (queue, blobs) = (MemoryJobQueue::new(), MemoryBlobStore::new());
        let w = write(MAX_INLINE_MESSAGE);
        enqueue(&queue, &blobs, &w).await.expect("queued");
        let sent = queue.messages(Queue::Adapter);
        let Job::Cud { write: None, write_ref: Some(object), .. } = &sent[0].job else { panic!("{:?}", sent[0]) };
        assert_eq!(object, "cud/Product/d1.1.json");
        assert_eq!(load_stored(&blobs, object).await.expect("loads"), w);
        assert!(matches!(load_stored(&blobs, "cud/Product/none.json").await, Err(SyncError::Queue(_))));
    }

    #[tokio::test]
    async fn a_refused_send_fails_the_write() {
        let (queue, blobs) = (MemoryJobQueue::new(), MemoryBlobStore::new());
        queue.fail_with("down");
        assert!(matches!(enqueue(&queue, &blobs, &write(1)).await, Err(SyncError::Queue(_))));
    }
}
