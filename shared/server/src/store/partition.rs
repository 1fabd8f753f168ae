//! One (source, partition)'s documents: the md writes of a refresh or a push
//! (`lua/apply.lua`, numbered changes with their history and its retention, see
//! "History retention" in the module docs of [`crate::store`]; a large first load is
//! staged by plain writes and renamed into place by `lua/first_load.lua`), the refresh outcome
//! (`lua/finish_refresh.lua`: source errors, metadata, schema, retry bookkeeping) and the
//! reads a refresh, a rollback or the store API make.

use std::collections::HashMap;
use std::sync::OnceLock;

use indexmap::IndexMap;
use redis::Script;
use rhosync_engine::model::{HistoryEvent, ObjectRecord, PartitionHead, VersionedChange};
use rhosync_engine::values::Body;

use super::keys::PartitionKeys;
use super::{corrupt, with_common, StoreError, SyncStore};

fn apply_script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| with_common(include_str!("lua/apply.lua")))
}

fn first_load_script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| with_common(include_str!("lua/first_load.lua")))
}

fn finish_script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| with_common(include_str!("lua/finish_refresh.lua")))
}

/// One refresh's outcome as `finish_refresh` records it: the source errors (JSON text,
/// `None` clears them), metadata and schema (text and SHA-1; `None` keeps what is stored),
/// whether the refresh failed, and the poll interval, retry limit and time (seconds) that
/// set the next refresh.
#[derive(Debug, Clone, Copy)]
pub struct RefreshOutcome<'a> {
    pub errors: Option<&'a str>,
    pub metadata: Option<(&'a str, &'a str)>,
    pub schema: Option<(&'a str, &'a str)>,
    pub failed: bool,
    pub poll_interval: i64,
    pub retry_limit: i64,
    pub now: u64,
}

/// Largest number of md changes written by one script call; bigger refreshes are
/// written in several calls, each leaving a consistent prefix of the changes.
pub const APPLY_CHUNK: usize = 5_000;

/// Most objects one plain write of a staged first load carries: pipelined, several go in
/// one round trip ([`STAGE_PIPELINE`]).
const STAGE_CHUNK: usize = 5_000;
/// Staging writes sent per round trip (a few MB of bodies at most).
const STAGE_PIPELINE: usize = 4;
/// How long staged keys live if their writer dies before committing them.
const STAGE_TTL_SECS: u64 = 600;

/// What committing a staged first load found (`lua/first_load.lua`).
enum Staged {
    Written,
    Moved,
    /// Not a first load after all, or the staging was lost: the chunked writes decide.
    Declined,
}

/// How much change history a write keeps (see "History retention" in [`crate::store`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryPolicy {
    /// Events younger than this many seconds stay unless the cap is exceeded.
    pub retention_secs: u64,
    /// Explicit cap on retained events; `None`: max(100 000, 2 × md size).
    pub max_events: Option<u64>,
    /// The write's time (seconds since the epoch), from the clock port.
    pub now_secs: u64,
}

impl HistoryPolicy {
    /// The cap for a partition holding `md_size` objects.
    pub fn cap(&self, md_size: u64) -> u64 {
        self.max_events.unwrap_or_else(|| 100_000u64.max(md_size.saturating_mul(2)))
    }

    /// Most events one write of `events` changes may prune: more than it adds, so the log
    /// converges to its cap, yet proportional to work the write does anyway.
    pub fn budget(&self, events: usize) -> usize {
        events.saturating_mul(2) + 64
    }
}

/// `HMGET head v h n` as read.
type RawHead = (Option<u64>, Option<u64>, Option<u64>);

pub(super) fn parse_history(text: &str) -> Result<Vec<HistoryEvent>, StoreError> {
    let events: Vec<(u64, Option<String>)> = serde_json::from_str(text).map_err(corrupt)?;
    Ok(events.into_iter().map(|(version, before)| HistoryEvent { version, before }).collect())
}

/// A history event as the apply script appends it.
fn history_event(version: u64, before: Option<&Body>) -> String {
    serde_json::to_string(&(version, before)).unwrap_or_else(|_| format!("[{version},null]"))
}

fn head_of((v, h, n): RawHead) -> PartitionHead {
    PartitionHead { version: v.unwrap_or(0), horizon: h.unwrap_or(0), md_size: n.unwrap_or(0) }
}

impl SyncStore {
    /// The head and the whole md, atomically (a refresh diffs against it).
    pub async fn read_md(&self, pk: &PartitionKeys) -> Result<(PartitionHead, IndexMap<String, Body>), StoreError> {
        let (head, md): (RawHead, Vec<(String, Body)>) = redis::pipe()
            .atomic()
            .cmd("HMGET")
            .arg(&pk.head)
            .arg("v")
            .arg("h")
            .arg("n")
            .cmd("HGETALL")
            .arg(&pk.md)
            .query_async(&mut self.conn())
            .await?;
        Ok((head_of(head), md.into_iter().collect()))
    }

    /// The head and the md bodies of `ids`, atomically.
    pub async fn read_bodies(
        &self,
        pk: &PartitionKeys,
        ids: &[String],
    ) -> Result<(PartitionHead, HashMap<String, Body>), StoreError> {
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("HMGET").arg(&pk.head).arg("v").arg("h").arg("n");
        if ids.is_empty() {
            let (head,): (RawHead,) = pipe.query_async(&mut self.conn()).await?;
            return Ok((head_of(head), HashMap::new()));
        }
        pipe.cmd("HMGET").arg(&pk.md).arg(ids);
        let (head, bodies): (RawHead, Vec<Option<Body>>) = pipe.query_async(&mut self.conn()).await?;
        let map = ids.iter().cloned().zip(bodies).filter_map(|(id, b)| b.map(|b| (id, b))).collect();
        Ok((head_of(head), map))
    }

    /// Writes numbered changes. Returns `false` (nothing written) when the partition moved
    /// past `expected` meanwhile; the caller re-reads and recomputes.
    pub async fn apply(
        &self,
        pk: &PartitionKeys,
        expected: PartitionHead,
        changes: &[VersionedChange],
        policy: &HistoryPolicy,
    ) -> Result<bool, StoreError> {
        if changes.len() > self.stage_first_loads_over
            && expected.md_size == 0
            && changes.iter().all(|vc| vc.change.before.is_none() && vc.change.after.is_some())
        {
            match self.apply_first_load_staged(pk, expected, changes).await? {
                Staged::Written => return Ok(true),
                Staged::Moved => return Ok(false),
                Staged::Declined => {}
            }
        }
        let mut head = expected;
        let mut first_load = false;
        for (i, chunk) in changes.chunks(APPLY_CHUNK).enumerate() {
            let mut next = head;
            let mut inv = apply_script().prepare_invoke();
            inv.key(&pk.md).key(&pk.idx).key(&pk.hist).key(&pk.head).key(&pk.hlog);
            for vc in chunk {
                let c = &vc.change;
                match (&c.before, &c.after) {
                    (None, Some(_)) => next.md_size += 1,
                    (Some(_), None) => next.md_size = next.md_size.saturating_sub(1),
                    _ => {}
                }
                next.version = vc.version;
            }
            inv.arg(head.version)
                .arg(next.version)
                .arg(next.md_size)
                .arg(policy.now_secs)
                .arg(policy.now_secs.saturating_sub(policy.retention_secs))
                .arg(policy.cap(next.md_size))
                .arg(policy.budget(chunk.len()))
                .arg(if first_load { "1" } else { "0" });
            // Each argument is written into the call as it comes: no copy of the bodies.
            for vc in chunk {
                let c = &vc.change;
                inv.arg(c.id.as_str())
                    .arg(vc.version)
                    .arg(c.after.as_deref().unwrap_or_default())
                    .arg(history_event(vc.version, c.before.as_ref()));
            }
            let ok: i64 = inv.invoke_async(&mut self.conn()).await?;
            first_load = ok == 2;
            if ok == 0 {
                if i == 0 {
                    return Ok(false);
                }
                return Err(corrupt("the partition changed in the middle of a chunked write"));
            }
            head = next;
        }
        Ok(true)
    }

    /// A first load — only creations, into a partition that looked empty — staged by plain
    /// pipelined `HSET`/`ZADD`s into two private keys of the partition's slot (no script
    /// touches each object: Redis spent most of a large first load inside the apply
    /// script), then committed by `lua/first_load.lua`, which checks what the apply script
    /// would and renames them into place. The same end state as the chunked first load,
    /// reached at once: a reader never sees part of it.
    async fn apply_first_load_staged(
        &self,
        pk: &PartitionKeys,
        expected: PartitionHead,
        changes: &[VersionedChange],
    ) -> Result<Staged, StoreError> {
        let tag = rand::random::<u64>();
        let (staged_md, staged_idx) = (format!("{}:new:{tag:016x}", pk.md), format!("{}:new:{tag:016x}", pk.idx));
        let chunks: Vec<&[VersionedChange]> = changes.chunks(STAGE_CHUNK).collect();
        for (g, group) in chunks.chunks(STAGE_PIPELINE).enumerate() {
            let mut pipe = redis::pipe();
            for chunk in group {
                let hset = pipe.cmd("HSET").arg(&staged_md);
                for vc in *chunk {
                    hset.arg(vc.change.id.as_str()).arg(vc.change.after.as_deref().unwrap_or_default());
                }
                pipe.ignore();
                let zadd = pipe.cmd("ZADD").arg(&staged_idx);
                for vc in *chunk {
                    zadd.arg(vc.version).arg(vc.change.id.as_str());
                }
                pipe.ignore();
            }
            if g == 0 {
                pipe.cmd("EXPIRE").arg(&staged_md).arg(STAGE_TTL_SECS).ignore();
                pipe.cmd("EXPIRE").arg(&staged_idx).arg(STAGE_TTL_SECS).ignore();
            }
            let () = pipe.query_async(&mut self.conn()).await?;
        }
        let last = changes.last().map_or(expected.version, |vc| vc.version);
        let mut inv = first_load_script().prepare_invoke();
        inv.key(&pk.md).key(&pk.idx).key(&pk.head).key(&staged_md).key(&staged_idx);
        inv.arg(expected.version).arg(last).arg(changes.len());
        let answer: i64 = inv.invoke_async(&mut self.conn()).await?;
        Ok(match answer {
            2 => Staged::Written,
            0 => Staged::Moved,
            _ => Staged::Declined,
        })
    }

    /// Records a refresh outcome (see `lua/finish_refresh.lua`).
    pub async fn finish_refresh(&self, pk: &PartitionKeys, o: &RefreshOutcome<'_>) -> Result<(), StoreError> {
        let mut inv = finish_script().prepare_invoke();
        inv.key(&pk.src).key(&pk.rs);
        inv.arg(o.errors.unwrap_or(""))
            .arg(o.metadata.map_or("-", |m| m.0))
            .arg(o.metadata.map_or("", |m| m.1))
            .arg(o.schema.map_or("-", |s| s.0))
            .arg(o.schema.map_or("", |s| s.1))
            .arg(if o.failed { "1" } else { "0" })
            .arg(o.poll_interval)
            .arg(o.retry_limit)
            .arg(o.now);
        let _: i64 = inv.invoke_async(&mut self.conn()).await?;
        Ok(())
    }

    /// The whole change index with scores (store API only: O(n)).
    pub async fn index(&self, pk: &PartitionKeys) -> Result<Vec<(String, u64)>, StoreError> {
        let raw: Vec<(String, f64)> =
            redis::cmd("ZRANGE").arg(&pk.idx).arg(0).arg(-1).arg("WITHSCORES").query_async(&mut self.conn()).await?;
        Ok(raw.into_iter().map(|(id, s)| (id, s as u64)).collect())
    }

    /// Records of `ids` (store API only).
    pub async fn records(
        &self,
        pk: &PartitionKeys,
        ids: &[String],
    ) -> Result<(PartitionHead, HashMap<String, ObjectRecord>), StoreError> {
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("HMGET").arg(&pk.head).arg("v").arg("h").arg("n");
        if ids.is_empty() {
            let (head,): (RawHead,) = pipe.query_async(&mut self.conn()).await?;
            return Ok((head_of(head), HashMap::new()));
        }
        pipe.cmd("HMGET").arg(&pk.md).arg(ids);
        pipe.cmd("HMGET").arg(&pk.hist).arg(ids);
        pipe.cmd("ZMSCORE").arg(&pk.idx).arg(ids);
        type Records = (RawHead, Vec<Option<String>>, Vec<Option<String>>, Vec<Option<f64>>);
        let (head, md, hist, latest): Records = pipe.query_async(&mut self.conn()).await?;
        let mut out = HashMap::new();
        for (i, id) in ids.iter().enumerate() {
            let history = match hist.get(i).cloned().flatten() {
                Some(t) => parse_history(&t)?,
                None => Vec::new(),
            };
            out.insert(
                id.clone(),
                ObjectRecord {
                    current: md.get(i).cloned().flatten(),
                    latest: latest.get(i).copied().flatten().map(|f| f as u64),
                    history,
                },
            );
        }
        Ok((head_of(head), out))
    }
}
