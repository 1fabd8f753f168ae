//! The records that make a client write's effect happen once (`crate::sync::cud::records`
//! holds their rules and the outcome format): the write record per write key — per record
//! (`<op>:<index>`) that its adapter call started (`c:…`) and its outcome (`r:…`), and
//! `persisted` — and the claim of a write key per (source, client), in one script.

use std::sync::OnceLock;

use redis::Script;

use super::keys;
use super::{StoreError, SyncStore};

/// Claims a write key: the last one again when its digest is the request's (a retry),
/// else `<digest>.<n>` from the counter. KEYS: 1 last, 2 seq. ARGV: 1 digest, 2 TTL of
/// the last key, 3 TTL of the counter.
const CLAIM_SCRIPT: &str = r"
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
";

fn claim_script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| Script::new(CLAIM_SCRIPT))
}

/// One write's record as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteRecord {
    /// Records whose adapter call started, in the order Redis returned them.
    pub started: Vec<String>,
    /// Recorded outcomes as stored: (record, outcome text).
    pub outcomes: Vec<(String, String)>,
    /// The outcomes reached the client's documents.
    pub persisted: bool,
}

impl SyncStore {
    /// The record of write `write_key` (empty when there is none).
    pub async fn write_record(&self, write_key: &str) -> Result<WriteRecord, StoreError> {
        let fields = self.hgetall(&keys::write_record(self.keys(), write_key)).await?;
        let mut out = WriteRecord::default();
        for (field, value) in fields {
            if field == "persisted" {
                out.persisted = true;
            } else if let Some(rec) = field.strip_prefix("r:") {
                out.outcomes.push((rec.to_owned(), value));
            } else if let Some(rec) = field.strip_prefix("c:") {
                out.started.push(rec.to_owned());
            }
        }
        Ok(out)
    }

    /// Notes that the adapter call of record `rec` is about to be made.
    pub async fn mark_write_started(&self, write_key: &str, rec: &str, ttl_secs: u64) -> Result<(), StoreError> {
        self.set_write_field(write_key, &format!("c:{rec}"), "1", ttl_secs).await
    }

    /// Stores record `rec`'s outcome text (one atomic `HSET`).
    pub async fn put_write_outcome(
        &self,
        write_key: &str,
        rec: &str,
        outcome: &str,
        ttl_secs: u64,
    ) -> Result<(), StoreError> {
        self.set_write_field(write_key, &format!("r:{rec}"), outcome, ttl_secs).await
    }

    /// Notes that the outcomes reached the client's documents.
    pub async fn mark_write_persisted(&self, write_key: &str, ttl_secs: u64) -> Result<(), StoreError> {
        self.set_write_field(write_key, "persisted", "1", ttl_secs).await
    }

    /// Sets one field of a write record and (re)starts its TTL, atomically.
    async fn set_write_field(
        &self,
        write_key: &str,
        field: &str,
        value: &str,
        ttl_secs: u64,
    ) -> Result<(), StoreError> {
        let key = keys::write_record(self.keys(), write_key);
        let _: () = redis::pipe()
            .atomic()
            .cmd("HSET")
            .arg(&key)
            .arg(field)
            .arg(value)
            .ignore()
            .cmd("EXPIRE")
            .arg(&key)
            .arg(ttl_secs)
            .ignore()
            .query_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// The write key for a request of (`source`, `client_id`) whose content digest is
    /// `digest`, and whether it repeats the last accepted one (see [`CLAIM_SCRIPT`]). The
    /// last key is kept `key_ttl_secs`, the counter `counter_ttl_secs`.
    pub async fn claim_write_key(
        &self,
        source: &str,
        client_id: &str,
        digest: &str,
        key_ttl_secs: u64,
        counter_ttl_secs: u64,
    ) -> Result<(String, bool), StoreError> {
        let (last, seq) = keys::write_claim(self.keys(), source, client_id);
        let (key, retry): (String, i64) = claim_script()
            .key(last)
            .key(seq)
            .arg(digest)
            .arg(key_ttl_secs)
            .arg(counter_ttl_secs)
            .invoke_async(&mut self.conn())
            .await?;
        Ok((key, retry == 1))
    }
}
