//! Redis records that make a client write's effect happen once.
//!
//! * The **retry key** per (source, client) remembers the last accepted write: a request
//!   whose content equals it (a device retrying after a lost response) gets the same write
//!   key instead of a new one, so it is deduplicated like an SQS redelivery.
//! * The **write record** per write key holds, per record (`<op>:<index>`), that its
//!   adapter call started (`c:…`) and then its outcome (`r:…`), and finally that the
//!   outcomes reached the client's documents (`persisted`). A redelivery replays recorded
//!   outcomes without calling the backend.

use std::collections::HashMap;

use redis::Script;
use serde::{Deserialize, Serialize};

use super::super::store::StoreError;
use super::super::SyncError;
use crate::adapters::validate::CudOp;
use crate::adapters::RawAttrs;
use crate::AppState;

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
    /// Created, but the backend gave no id (sync-engine.md §8.4 DEVIATION).
    NoId,
    /// Update or delete applied.
    Done,
    /// Refused by the adapter or a validator, or given up on.
    Failed { message: String },
    /// Not applied because an earlier record of the same write and operation failed;
    /// handed on to a continuation write (sync-engine.md §8.3, plugin-adapters.md §6.5).
    Carried,
}

/// A record's field suffix: `<op>:<index>`.
pub fn record_id(op: CudOp, index: usize) -> String {
    format!("{}:{index}", op.as_str())
}

/// The state of one write as read from Redis.
#[derive(Debug, Clone, Default)]
pub struct WriteState {
    pub outcomes: HashMap<String, RecordOutcome>,
    pub started: Vec<String>,
    pub persisted: bool,
}

fn record_key(state: &AppState, write_key: &str) -> String {
    state.redis.keys.key(&format!("cudw:{write_key}"), "rec")
}

fn store_err(e: redis::RedisError) -> SyncError {
    SyncError::Store(StoreError::from(e))
}

/// Reads a write's record.
pub async fn load(state: &AppState, write_key: &str) -> Result<WriteState, SyncError> {
    let fields = state.sync.store.hgetall(&record_key(state, write_key)).await?;
    let mut out = WriteState::default();
    for (field, value) in fields {
        if field == "persisted" {
            out.persisted = true;
        } else if let Some(rec) = field.strip_prefix("r:") {
            let outcome = serde_json::from_str(&value).map_err(|e| SyncError::Internal(format!("write record: {e}")))?;
            out.outcomes.insert(rec.to_owned(), outcome);
        } else if let Some(rec) = field.strip_prefix("c:") {
            out.started.push(rec.to_owned());
        }
    }
    Ok(out)
}

async fn set_field(state: &AppState, write_key: &str, field: &str, value: &str) -> Result<(), SyncError> {
    let key = record_key(state, write_key);
    let _: () = redis::pipe()
        .atomic()
        .cmd("HSET")
        .arg(&key)
        .arg(field)
        .arg(value)
        .ignore()
        .cmd("EXPIRE")
        .arg(&key)
        .arg(RECORD_TTL_SECS)
        .ignore()
        .query_async(&mut state.redis.conn())
        .await
        .map_err(store_err)?;
    Ok(())
}

/// Notes that the backend call of a record is about to be made.
pub async fn mark_started(state: &AppState, write_key: &str, rec: &str) -> Result<(), SyncError> {
    set_field(state, write_key, &format!("c:{rec}"), "1").await
}

/// Stores a record's outcome (one atomic `HSET`).
pub async fn record(state: &AppState, write_key: &str, rec: &str, outcome: &RecordOutcome) -> Result<(), SyncError> {
    let text = serde_json::to_string(outcome).map_err(|e| SyncError::Internal(e.to_string()))?;
    set_field(state, write_key, &format!("r:{rec}"), &text).await
}

/// Notes that the outcomes reached the client's documents.
pub async fn mark_persisted(state: &AppState, write_key: &str) -> Result<(), SyncError> {
    set_field(state, write_key, "persisted", "1").await
}

/// Returns the write key for a request whose content digest is `digest`, and whether it
/// is a retry of the previous request of this client and source. A new write gets
/// `<digest>.<n>` with `n` counting this client's writes to the source; comparing with
/// the *last* write only means a device that really repeats a change later (10 → 20 →
/// 10) is not mistaken for a retry.
pub async fn claim_key(state: &AppState, source: &str, client_id: &str, digest: &str) -> Result<(String, bool), SyncError> {
    let tag = format!("cud:{source}:{client_id}");
    let last = state.redis.keys.key(&tag, "last");
    let seq = state.redis.keys.key(&tag, "seq");
    let script = Script::new(
        r"
local last = redis.call('GET', KEYS[1])
if last then
  local dot = string.find(last, '.', 1, true)
  if dot and string.sub(last, 1, dot - 1) == ARGV[1] then return {last, 1} end
end
local n = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
local key = ARGV[1] .. '.' .. n
redis.call('SET', KEYS[1], key, 'EX', ARGV[2])
return {key, 0}
",
    );
    let (key, retry): (String, i64) = script
        .key(last)
        .key(seq)
        .arg(digest)
        .arg(RECORD_TTL_SECS)
        // The counter outlives every record made from it, so a key is never reused.
        .arg(RECORD_TTL_SECS * 30)
        .invoke_async(&mut state.redis.conn())
        .await
        .map_err(store_err)?;
    Ok((key, retry == 1))
}
