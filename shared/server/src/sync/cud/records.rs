//! Records that make a client write's effect happen once (stored by
//! [`crate::store::writes`]).
//!
//! * The **retry key** per (source, client) remembers the last accepted write: a request
//!   whose content equals it (a device retrying after a lost response) gets the same write
//!   key instead of a new one, so it is deduplicated like an SQS redelivery.
//! * The **write record** per write key holds, per record (`<op>:<index>`), that its
//!   adapter call started (`c:…`) and then its outcome (`r:…`), and finally that the
//!   outcomes reached the client's documents (`persisted`). A redelivery replays recorded
//!   outcomes without calling the backend.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::super::SyncError;
use crate::adapters::validate::CudOp;
use crate::adapters::RawAttrs;
use crate::sync::SyncServices;

/// How long a device retry is recognised and a write record kept: a day, the same span
/// as the job ledger. SQS redelivers well within it; a device retrying later than that
/// would create again (documented in the module docs of `sync::cud`).
pub const RECORD_TTL_SECS: u64 = 86_400;

/// What became of one record of a write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "o", rename_all = "snake_case")]
pub enum RecordOutcome {
    /// Created under the backend's id; `attrs` as the adapter left them.
    Created { id: String, attrs: RawAttrs },
    /// Created, but the backend gave no id (docs/sync-engine.md §6.4 DEVIATION).
    NoId,
    /// Update or delete applied.
    Done,
    /// Refused by the adapter or a validator, or given up on.
    Failed { message: String },
    /// Not applied because an earlier record of the same write and operation failed;
    /// handed on to a continuation write (docs/sync-engine.md §6.3, docs/adapters.md §4.5).
    Carried,
}

/// A record's field suffix: `<op>:<index>`.
pub fn record_id(op: CudOp, index: usize) -> String {
    format!("{}:{index}", op.as_str())
}

/// The state of one write as read from the store.
#[derive(Debug, Clone, Default)]
pub struct WriteState {
    pub outcomes: HashMap<String, RecordOutcome>,
    pub started: Vec<String>,
    pub persisted: bool,
}

/// Reads a write's record.
pub async fn load(svc: &SyncServices, write_key: &str) -> Result<WriteState, SyncError> {
    let stored = svc.store.write_record(write_key).await?;
    let mut outcomes = HashMap::with_capacity(stored.outcomes.len());
    for (rec, text) in stored.outcomes {
        let outcome = serde_json::from_str(&text).map_err(|e| SyncError::Internal(format!("write record: {e}")))?;
        outcomes.insert(rec, outcome);
    }
    Ok(WriteState { outcomes, started: stored.started, persisted: stored.persisted })
}

/// Notes that the backend call of a record is about to be made.
pub async fn mark_started(svc: &SyncServices, write_key: &str, rec: &str) -> Result<(), SyncError> {
    Ok(svc.store.mark_write_started(write_key, rec, RECORD_TTL_SECS).await?)
}

/// Stores a record's outcome (one atomic `HSET`).
pub async fn record(svc: &SyncServices, write_key: &str, rec: &str, outcome: &RecordOutcome) -> Result<(), SyncError> {
    let text = serde_json::to_string(outcome).map_err(|e| SyncError::Internal(e.to_string()))?;
    Ok(svc.store.put_write_outcome(write_key, rec, &text, RECORD_TTL_SECS).await?)
}

/// Notes that the outcomes reached the client's documents.
pub async fn mark_persisted(svc: &SyncServices, write_key: &str) -> Result<(), SyncError> {
    Ok(svc.store.mark_write_persisted(write_key, RECORD_TTL_SECS).await?)
}

/// Returns the write key for a request whose content digest is `digest`, and whether it
/// is a retry of the previous request of this client and source. A new write gets
/// `<digest>.<n>` with `n` counting this client's writes to the source; comparing with
/// the *last* write only means a device that really repeats a change later (10 → 20 →
/// 10) is not mistaken for a retry.
pub async fn claim_key(
    svc: &SyncServices,
    source: &str,
    client_id: &str,
    digest: &str,
) -> Result<(String, bool), SyncError> {
    // The counter outlives every record made from it, so a key is never reused.
    Ok(svc.store.claim_write_key(source, client_id, digest, RECORD_TTL_SECS, RECORD_TTL_SECS * 30).await?)
}
