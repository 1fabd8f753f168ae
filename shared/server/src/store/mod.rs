//! The store: the only code that talks to Redis (the connection itself is the edge,
//! [`crate::edges::redis`]). Services keep their rules — what is valid, how long a record
//! lives, what a value means — and call the typed methods of [`SyncStore`], which only
//! read and write. Every key name is built in [`keys`].
//!
//! One `impl SyncStore` block per concern:
//!
//! * [`keys`] — the key layout and its hash tags;
//! * [`query`] — the query script (`lua/begin.lua`): token action, refresh decision and the
//!   read a page is planned from, and its read-only probe;
//! * [`commit`] — one page's writes for one client (`lua/commit.lua`) and the client state
//!   fields it reads and writes;
//! * [`partition`] — md writes with history retention (`lua/apply.lua`), large first loads
//!   staged and renamed into place (`lua/first_load.lua`), refresh outcomes
//!   (`lua/finish_refresh.lua`) and the partition reads;
//! * [`kv`] — plain string and hash reads and writes, and whole-document deletion;
//! * [`sessions`] — the session markers behind `crate::sync::sessions`;
//! * [`meta`] — the registry records kept in the cache (counters, statistics, app server
//!   URL) and the namespace flush of `system/reset`;
//! * [`writes`] — the records that make a client write happen once
//!   (`crate::sync::cud::records`);
//! * [`ledger`] — the job ledger (`crate::jobs::ledger`);
//! * [`registry_cache`] — the registry read cache's entries (`crate::registry::cached`),
//!   behind their own small port [`registry_cache::RegistryCacheStore`];
//! * [`port`] — the same methods as the [`Store`] trait, so services hold `Arc<dyn Store>`;
//! * [`memory`] — [`MemoryStore`], the in-memory edge for unit tests, the scripts
//!   re-expressed in Rust and pinned to the Redis edge by `tests/store_contract.rs`;
//! * [`throttle`] — the login throttle's counters (`crate::auth::throttle`);
//! * [`legacy_exchange`] — the RhoConnect session cookies already exchanged
//!   (`crate::auth::legacy_cookie`).
//!
//! What each sync request kind reads and writes follows the store contract in
//! `rhosync_engine::model`'s module docs.
//!
//! # History retention
//!
//! Every md write appends one history event per changed object (the body before the
//! change) and logs it in the partition's `hlog` zset (version, write time, id). The same
//! script then prunes the oldest events: those written more than
//! `:history_retention_secs:` ago (default 7 days), and, whatever their age, as many as
//! needed to keep at most `:history_max_events:` (default max(100 000, 2 × md size)).
//! The cap wins over the window so memory stays bounded when a partition churns fast.
//! Work is bounded per write ([`HistoryPolicy::budget`]: twice the write's own events plus
//! a constant), so a backlog shrinks over a few writes instead of in one long script.
//! Pruning moves the head's `h` (horizon) to the last dropped version and drops the
//! change-index tombstones at or below it.
//!
//! A client whose cursor is below the horizon is treated as unknown by the engine and
//! gets the whole partition again as inserts (the stale-cursor path of
//! `rhosync_engine::model`). **Limitation:** objects deleted while such a client was away
//! stay on the device — the tombstone that would have told it is gone (RC7 has the same
//! outcome after losing its client documents, docs/sync-engine.md §3.4). The same applies to a
//! client whose scan cycle was still running when the horizon passed a deletion it had not
//! reached yet, which only the event cap can cause within the retention window.
//! Events written before `hlog` existed are only dropped when a newer event of the same
//! object is pruned.

pub mod commit;
pub mod keys;
pub mod kv;
pub mod ledger;
pub mod legacy_exchange;
pub mod memory;
pub mod meta;
pub mod partition;
pub mod port;
pub mod query;
pub mod registry_cache;
pub mod sessions;
pub mod throttle;
pub mod writes;

use redis::Script;

pub use commit::{client_state, cursor_fields, pin_delta, st_num, Commit};
pub use memory::MemoryStore;
pub use meta::{Metric, StatWrite};
pub use partition::{HistoryPolicy, RefreshOutcome, APPLY_CHUNK};
pub use port::Store;
pub use query::{refresh_due, BeginArgs, BeginMode, BeginReply, PageRead};
pub use writes::WriteRecord;

use crate::edges::{Keys, RedisConn, RedisEdge};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("corrupt sync data: {0}")]
    Corrupt(String),
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

const COMMON: &str = include_str!("lua/common.lua");

/// A sync script with the shared helpers of `lua/common.lua` prepended (run with EVALSHA,
/// loaded automatically when Redis does not know it).
fn with_common(body: &str) -> Script {
    Script::new(&format!("{COMMON}\n{body}"))
}

/// The store over one Redis connection; cheap to clone (the connection is shared). The
/// compiled scripts are process-wide, so a handle is no more than the edge.
#[derive(Clone)]
pub struct SyncStore {
    redis: RedisEdge,
    /// A page read of more ids than this leaves the bodies to a plain `HMGET` after the
    /// query script ([`query`]): Redis hands a script's reply over at three times the cost.
    defer_bodies_over: usize,
    /// A first load of more objects than this is staged by plain writes and committed by
    /// renames ([`partition`]) rather than written through the apply script in chunks.
    stage_first_loads_over: usize,
}

/// The default of [`SyncStore::with_bodies_deferred_over`]: below it, the extra round trip
/// costs more than it saves.
const DEFER_BODIES_OVER: usize = 256;

/// The default of [`SyncStore::with_first_loads_staged_over`]: a load of one apply chunk
/// or less is one script call either way.
const STAGE_FIRST_LOADS_OVER: usize = APPLY_CHUNK;

impl From<RedisEdge> for SyncStore {
    fn from(redis: RedisEdge) -> Self {
        Self::new(redis)
    }
}

impl SyncStore {
    pub fn new(redis: RedisEdge) -> Self {
        Self { redis, defer_bodies_over: DEFER_BODIES_OVER, stage_first_loads_over: STAGE_FIRST_LOADS_OVER }
    }

    /// The same store with another threshold for reading a page's bodies outside the query
    /// script (tests run every read that way with 0).
    pub fn with_bodies_deferred_over(mut self, ids: usize) -> Self {
        self.defer_bodies_over = ids;
        self
    }

    /// The same store with another threshold for staging a first load (tests stage every
    /// first load with 0).
    pub fn with_first_loads_staged_over(mut self, objects: usize) -> Self {
        self.stage_first_loads_over = objects;
        self
    }

    /// The key builder of this deployment's namespace (see [`keys`]).
    pub fn keys(&self) -> &Keys {
        &self.redis.keys
    }

    fn conn(&self) -> RedisConn {
        self.redis.conn()
    }

    /// Runs `pipe`, which holds `inv` (`invoke_script`): a Redis that restarted or was
    /// flushed has forgotten the script, so it is loaded and the pipeline sent once more.
    async fn query_with_script<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
        inv: &redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        match pipe.query_async(&mut self.conn()).await {
            Ok(out) => Ok(out),
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                let _: String = inv.load_async(&mut self.conn()).await?;
                Ok(pipe.query_async(&mut self.conn()).await?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Whether Redis answers (the health check).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: String = redis::cmd("PING").query_async(&mut self.conn()).await?;
        Ok(())
    }
}
