//! The store as a port: [`Store`] has every public method of [`SyncStore`] with the same
//! names, arguments and replies, so a service can take `Arc<dyn Store>` and run over the
//! Redis edge ([`SyncStore`]) or the in-memory one ([`super::MemoryStore`]). The contract
//! test `tests/store_contract.rs` pins the two together step by step.
//!
//! "Atomic" below means no other call of the store sees a half-done state: one Lua script,
//! one `MULTI`, or one command on the Redis edge; one lock on the in-memory edge. Calls
//! described as a pipeline are one round trip but not atomic across their keys.

use std::collections::HashMap;

use async_trait::async_trait;
use indexmap::IndexMap;
use rhosync_engine::model::{ObjectRecord, PartitionHead, VersionedChange};
use rhosync_engine::values::Body;

use super::keys::{self, ClientKeys, PartitionKeys};
use super::{
    BeginArgs, BeginReply, Commit, HistoryPolicy, Metric, RefreshOutcome, StatWrite, StoreError, SyncStore, WriteRecord,
};
use crate::edges::Keys;

/// The sync store (see [`crate::store`] for the key layout and the history retention).
#[async_trait]
pub trait Store: Send + Sync {
    /// The key builder of this deployment's namespace (see [`keys`]).
    fn keys(&self) -> &Keys;

    /// The session marker keys of `login`: `exists`, `revoked`, `reset_at` (the order of
    /// [`Store::session_markers`]).
    fn session_marker_keys(&self, login: &str) -> [String; 3] {
        let k = self.keys();
        [keys::login_session(k, login, "exists"), keys::login_session(k, login, "revoked"), keys::sessions_reset(k)]
    }

    /// Whether the store answers (the health check).
    async fn ping(&self) -> Result<(), StoreError>;

    // --- query (`lua/begin.lua`)

    /// The query step for one (client, source), atomic: in [`super::BeginMode::Begin`] the
    /// token action (ack: drops the page and `tok`, completes a finished cycle; resend;
    /// reset) and the refresh decision (writes `rs`), then the read a page is planned from
    /// (`st`, `pin`, `src`, a slice of `idx`, the md/hist/idx/sent entries of the slice and
    /// pinned ids, the pending hashes). Read and probe modes write nothing.
    async fn begin(&self, pk: &PartitionKeys, ck: &ClientKeys, args: &BeginArgs<'_>) -> Result<BeginReply, StoreError>;

    /// `GET` of each of `keys` and the query step in probe mode (pipeline: the GETs and the
    /// probe are each atomic, not together); also the refresh time the probe saw.
    async fn get_many_and_probe(
        &self,
        keys: &[&str],
        pk: &PartitionKeys,
        ck: &ClientKeys,
        slice_limit: usize,
    ) -> Result<(Vec<Option<String>>, BeginReply, Option<f64>), StoreError>;

    // --- commit (`lua/commit.lua`)

    /// One page's writes for one client, atomic: `false` (nothing written) when the state's
    /// `gen` is not `c.gen`; else bumps `gen` and writes `st`, `pin`, `sent`, `page` and the
    /// pending hashes.
    async fn commit(&self, ck: &ClientKeys, c: &Commit) -> Result<bool, StoreError>;

    // --- partition (`lua/apply.lua`, `lua/finish_refresh.lua`)

    /// The head and the whole md, atomic.
    async fn read_md(&self, pk: &PartitionKeys) -> Result<(PartitionHead, IndexMap<String, Body>), StoreError>;

    /// The head and the md bodies of `ids` (absent ones left out), atomic.
    async fn read_bodies(
        &self,
        pk: &PartitionKeys,
        ids: &[String],
    ) -> Result<(PartitionHead, HashMap<String, Body>), StoreError>;

    /// Writes numbered changes (md, idx, hist, hlog, head) and prunes history; `false`
    /// (nothing written) when the head's version is not `expected.version`. Each chunk of
    /// [`super::APPLY_CHUNK`] changes is atomic.
    async fn apply(
        &self,
        pk: &PartitionKeys,
        expected: PartitionHead,
        changes: &[VersionedChange],
        policy: &HistoryPolicy,
    ) -> Result<bool, StoreError>;

    /// Records a refresh outcome, atomic: source errors, metadata and schema (`src`) and
    /// the retry bookkeeping (`rs`).
    async fn finish_refresh(&self, pk: &PartitionKeys, outcome: &RefreshOutcome<'_>) -> Result<(), StoreError>;

    /// The whole change index with scores, by score (store API only: O(n)).
    async fn index(&self, pk: &PartitionKeys) -> Result<Vec<(String, u64)>, StoreError>;

    /// The head and the records (md body, idx score, history) of `ids`, atomic.
    async fn records(
        &self,
        pk: &PartitionKeys,
        ids: &[String],
    ) -> Result<(PartitionHead, HashMap<String, ObjectRecord>), StoreError>;

    // --- kv

    /// A string value.
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Sets (or deletes, for `None`) a string value, with an optional TTL (a TTL of 0 is
    /// an error; no TTL clears an earlier one).
    async fn set(&self, key: &str, value: Option<&str>, ttl_secs: Option<u64>) -> Result<(), StoreError>;

    /// Replaces the string at `key` only if it still holds `expected` (`None`: absent),
    /// atomically; `false` when another writer changed it first.
    async fn set_if(&self, key: &str, expected: Option<&str>, value: &str) -> Result<bool, StoreError>;

    /// Two string values (pipeline).
    async fn get_two(&self, a: &str, b: &str) -> Result<(Option<String>, Option<String>), StoreError>;

    /// String values of keys in any slots (pipeline).
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<String>>, StoreError>;

    /// Deletes keys of one slot, atomic.
    async fn del(&self, keys: &[&str]) -> Result<(), StoreError>;

    /// A hash's fields and values.
    async fn hgetall(&self, key: &str) -> Result<Vec<(String, String)>, StoreError>;

    /// One hash field.
    async fn hget(&self, key: &str, field: &str) -> Result<Option<String>, StoreError>;

    /// Sets (or deletes, for `None`) hash fields in order, atomic.
    async fn hset(&self, key: &str, fields: &[(&str, Option<String>)]) -> Result<(), StoreError>;

    /// Adds fields to a hash, atomic.
    async fn hset_many(&self, key: &str, pairs: &[(String, String)]) -> Result<(), StoreError>;

    /// Deletes every document of one client for one source, atomic.
    async fn purge_client_docs(&self, ck: &ClientKeys) -> Result<(), StoreError>;

    /// Deletes every document of one (source, partition), the clients' documents aside,
    /// atomic.
    async fn purge_partition(&self, pk: &PartitionKeys) -> Result<(), StoreError>;

    /// Deletes a client's cached record.
    async fn purge_client_record(&self, client_id: &str) -> Result<(), StoreError>;

    // --- sessions

    /// The values of [`Store::session_marker_keys`] (pipeline).
    async fn session_markers(&self, login: &str) -> Result<Vec<Option<String>>, StoreError>;

    /// Sets `login`'s `exists` marker for `ttl_secs`.
    async fn mark_user_exists(&self, login: &str, ttl_secs: u64) -> Result<(), StoreError>;

    /// Drops `login`'s `exists` marker and sets its `revoked` time `at` for `ttl_secs`,
    /// atomic.
    async fn void_sessions_of(&self, login: &str, at: u64, ttl_secs: u64) -> Result<(), StoreError>;

    /// Sets the last system reset time `at` for `ttl_secs`.
    async fn void_all_sessions(&self, at: u64, ttl_secs: u64) -> Result<(), StoreError>;

    // --- meta

    /// Adds `delta` to a registry counter (keeps its TTL); the new value.
    async fn incr_counter(&self, docname: &str, delta: i64) -> Result<i64, StoreError>;

    /// Records `value` in the bucket starting at `start` of series `metric`, atomic (see
    /// [`SyncStore::record_stat`]).
    async fn record_stat(
        &self,
        metric: &str,
        start: i64,
        resolution: i64,
        retention: i64,
        value: i64,
    ) -> Result<(), StoreError>;

    /// The newest member and score of each series (pipeline).
    async fn stat_tops(&self, metrics: &[String]) -> Result<Vec<Option<(String, i64)>>, StoreError>;

    /// Applies each [`StatWrite`] whose series' newest member is still its `expected`,
    /// atomic; the indices of the others (see [`SyncStore::stat_write`]).
    async fn stat_write(&self, writes: &[StatWrite]) -> Result<Vec<usize>, StoreError>;

    /// Metric names matching a Redis glob, sorted, without the `stat:` prefix.
    async fn stat_names(&self, glob: &str) -> Result<Vec<String>, StoreError>;

    /// One `SCAN` step over keys matching `pattern`: the next cursor (0: done) and keys.
    async fn scan_keys(&self, cursor: u64, pattern: &str, count: usize) -> Result<(u64, Vec<String>), StoreError>;

    /// `LPUSH` then `LTRIM` to `cap` entries, atomic.
    async fn push_capped(&self, key: &str, value: &str, cap: usize) -> Result<(), StoreError>;

    /// A list's entries, head first.
    async fn list(&self, key: &str) -> Result<Vec<String>, StoreError>;

    /// Deletes `key`; whether it existed (of concurrent callers exactly one sees `true`).
    async fn take_key(&self, key: &str) -> Result<bool, StoreError>;

    /// Deletes hash fields, atomic; how many existed.
    async fn hdel(&self, key: &str, fields: &[String]) -> Result<u64, StoreError>;

    /// Members `start..=finish` (ranks) of a series, or a string metric's value.
    async fn stat(&self, metric: &str, start: i64, finish: i64) -> Result<Metric, StoreError>;

    /// The stored app server URL.
    async fn app_server_url(&self) -> Result<Option<String>, StoreError>;

    /// Stores the app server URL verbatim (no TTL), or deletes it for `None`.
    async fn set_app_server_url(&self, url: Option<&str>) -> Result<(), StoreError>;

    /// Deletes every key of this namespace (in batches on Redis: not atomic); the count.
    async fn flush_namespace(&self) -> Result<u64, StoreError>;

    // --- writes

    /// The record of write `write_key` (empty when there is none).
    async fn write_record(&self, write_key: &str) -> Result<WriteRecord, StoreError>;

    /// Notes that record `rec`'s adapter call starts; (re)starts the record's TTL, atomic.
    async fn mark_write_started(&self, write_key: &str, rec: &str, ttl_secs: u64) -> Result<(), StoreError>;

    /// Stores record `rec`'s outcome text; (re)starts the record's TTL, atomic.
    async fn put_write_outcome(
        &self,
        write_key: &str,
        rec: &str,
        outcome: &str,
        ttl_secs: u64,
    ) -> Result<(), StoreError>;

    /// Notes that the outcomes reached the client's documents; (re)starts the TTL, atomic.
    async fn mark_write_persisted(&self, write_key: &str, ttl_secs: u64) -> Result<(), StoreError>;

    /// Claims a write key for (`source`, `client_id`), atomic: the last one again (and
    /// `true`) when its digest is `digest`, else `<digest>.<n>` from the counter.
    async fn claim_write_key(
        &self,
        source: &str,
        client_id: &str,
        digest: &str,
        key_ttl_secs: u64,
        counter_ttl_secs: u64,
    ) -> Result<(String, bool), StoreError>;

    // --- ledger

    /// Whether job `job_id` is recorded as finished.
    async fn ledger_is_done(&self, job_id: &str) -> Result<bool, StoreError>;

    /// Records job `job_id` as finished, for `ttl_secs`.
    async fn ledger_mark_done(&self, job_id: &str, ttl_secs: u64) -> Result<(), StoreError>;

    /// Which of `job_ids` are recorded as finished (the Redis edge asks in one pipeline).
    async fn ledger_done_among(&self, job_ids: &[String]) -> Result<Vec<bool>, StoreError> {
        let mut done = Vec::with_capacity(job_ids.len());
        for id in job_ids {
            done.push(self.ledger_is_done(id).await?);
        }
        Ok(done)
    }

    /// Records every job of `job_ids` as finished (the Redis edge writes them in one pipeline).
    async fn ledger_mark_all_done(&self, job_ids: &[String], ttl_secs: u64) -> Result<(), StoreError> {
        for id in job_ids {
            self.ledger_mark_done(id, ttl_secs).await?;
        }
        Ok(())
    }
}

/// The Redis edge: every method is the inherent one of the same name.
#[async_trait]
impl Store for SyncStore {
    fn keys(&self) -> &Keys {
        SyncStore::keys(self)
    }

    fn session_marker_keys(&self, login: &str) -> [String; 3] {
        SyncStore::session_marker_keys(self, login)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        SyncStore::ping(self).await
    }

    async fn begin(&self, pk: &PartitionKeys, ck: &ClientKeys, args: &BeginArgs<'_>) -> Result<BeginReply, StoreError> {
        SyncStore::begin(self, pk, ck, args).await
    }

    async fn get_many_and_probe(
        &self,
        keys: &[&str],
        pk: &PartitionKeys,
        ck: &ClientKeys,
        slice_limit: usize,
    ) -> Result<(Vec<Option<String>>, BeginReply, Option<f64>), StoreError> {
        SyncStore::get_many_and_probe(self, keys, pk, ck, slice_limit).await
    }

    async fn commit(&self, ck: &ClientKeys, c: &Commit) -> Result<bool, StoreError> {
        SyncStore::commit(self, ck, c).await
    }

    async fn read_md(&self, pk: &PartitionKeys) -> Result<(PartitionHead, IndexMap<String, Body>), StoreError> {
        SyncStore::read_md(self, pk).await
    }

    async fn read_bodies(
        &self,
        pk: &PartitionKeys,
        ids: &[String],
    ) -> Result<(PartitionHead, HashMap<String, Body>), StoreError> {
        SyncStore::read_bodies(self, pk, ids).await
    }

    async fn apply(
        &self,
        pk: &PartitionKeys,
        expected: PartitionHead,
        changes: &[VersionedChange],
        policy: &HistoryPolicy,
    ) -> Result<bool, StoreError> {
        SyncStore::apply(self, pk, expected, changes, policy).await
    }

    async fn finish_refresh(&self, pk: &PartitionKeys, outcome: &RefreshOutcome<'_>) -> Result<(), StoreError> {
        SyncStore::finish_refresh(self, pk, outcome).await
    }

    async fn index(&self, pk: &PartitionKeys) -> Result<Vec<(String, u64)>, StoreError> {
        SyncStore::index(self, pk).await
    }

    async fn records(
        &self,
        pk: &PartitionKeys,
        ids: &[String],
    ) -> Result<(PartitionHead, HashMap<String, ObjectRecord>), StoreError> {
        SyncStore::records(self, pk, ids).await
    }

    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        SyncStore::get(self, key).await
    }

    async fn set(&self, key: &str, value: Option<&str>, ttl_secs: Option<u64>) -> Result<(), StoreError> {
        SyncStore::set(self, key, value, ttl_secs).await
    }

    async fn set_if(&self, key: &str, expected: Option<&str>, value: &str) -> Result<bool, StoreError> {
        SyncStore::set_if(self, key, expected, value).await
    }

    async fn get_two(&self, a: &str, b: &str) -> Result<(Option<String>, Option<String>), StoreError> {
        SyncStore::get_two(self, a, b).await
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<String>>, StoreError> {
        SyncStore::get_many(self, keys).await
    }

    async fn del(&self, keys: &[&str]) -> Result<(), StoreError> {
        SyncStore::del(self, keys).await
    }

    async fn hgetall(&self, key: &str) -> Result<Vec<(String, String)>, StoreError> {
        SyncStore::hgetall(self, key).await
    }

    async fn hget(&self, key: &str, field: &str) -> Result<Option<String>, StoreError> {
        SyncStore::hget(self, key, field).await
    }

    async fn hset(&self, key: &str, fields: &[(&str, Option<String>)]) -> Result<(), StoreError> {
        SyncStore::hset(self, key, fields).await
    }

    async fn hset_many(&self, key: &str, pairs: &[(String, String)]) -> Result<(), StoreError> {
        SyncStore::hset_many(self, key, pairs).await
    }

    async fn purge_client_docs(&self, ck: &ClientKeys) -> Result<(), StoreError> {
        SyncStore::purge_client_docs(self, ck).await
    }

    async fn purge_partition(&self, pk: &PartitionKeys) -> Result<(), StoreError> {
        SyncStore::purge_partition(self, pk).await
    }

    async fn purge_client_record(&self, client_id: &str) -> Result<(), StoreError> {
        SyncStore::purge_client_record(self, client_id).await
    }

    async fn session_markers(&self, login: &str) -> Result<Vec<Option<String>>, StoreError> {
        SyncStore::session_markers(self, login).await
    }

    async fn mark_user_exists(&self, login: &str, ttl_secs: u64) -> Result<(), StoreError> {
        SyncStore::mark_user_exists(self, login, ttl_secs).await
    }

    async fn void_sessions_of(&self, login: &str, at: u64, ttl_secs: u64) -> Result<(), StoreError> {
        SyncStore::void_sessions_of(self, login, at, ttl_secs).await
    }

    async fn void_all_sessions(&self, at: u64, ttl_secs: u64) -> Result<(), StoreError> {
        SyncStore::void_all_sessions(self, at, ttl_secs).await
    }

    async fn incr_counter(&self, docname: &str, delta: i64) -> Result<i64, StoreError> {
        SyncStore::incr_counter(self, docname, delta).await
    }

    async fn record_stat(
        &self,
        metric: &str,
        start: i64,
        resolution: i64,
        retention: i64,
        value: i64,
    ) -> Result<(), StoreError> {
        SyncStore::record_stat(self, metric, start, resolution, retention, value).await
    }

    async fn stat_tops(&self, metrics: &[String]) -> Result<Vec<Option<(String, i64)>>, StoreError> {
        SyncStore::stat_tops(self, metrics).await
    }

    async fn stat_write(&self, writes: &[StatWrite]) -> Result<Vec<usize>, StoreError> {
        SyncStore::stat_write(self, writes).await
    }

    async fn stat_names(&self, glob: &str) -> Result<Vec<String>, StoreError> {
        SyncStore::stat_names(self, glob).await
    }

    async fn scan_keys(&self, cursor: u64, pattern: &str, count: usize) -> Result<(u64, Vec<String>), StoreError> {
        SyncStore::scan_keys(self, cursor, pattern, count).await
    }

    async fn push_capped(&self, key: &str, value: &str, cap: usize) -> Result<(), StoreError> {
        SyncStore::push_capped(self, key, value, cap).await
    }

    async fn list(&self, key: &str) -> Result<Vec<String>, StoreError> {
        SyncStore::list(self, key).await
    }

    async fn take_key(&self, key: &str) -> Result<bool, StoreError> {
        SyncStore::take_key(self, key).await
    }

    async fn hdel(&self, key: &str, fields: &[String]) -> Result<u64, StoreError> {
        SyncStore::hdel(self, key, fields).await
    }

    async fn stat(&self, metric: &str, start: i64, finish: i64) -> Result<Metric, StoreError> {
        SyncStore::stat(self, metric, start, finish).await
    }

    async fn app_server_url(&self) -> Result<Option<String>, StoreError> {
        SyncStore::app_server_url(self).await
    }

    async fn set_app_server_url(&self, url: Option<&str>) -> Result<(), StoreError> {
        SyncStore::set_app_server_url(self, url).await
    }

    async fn flush_namespace(&self) -> Result<u64, StoreError> {
        SyncStore::flush_namespace(self).await
    }

    async fn write_record(&self, write_key: &str) -> Result<WriteRecord, StoreError> {
        SyncStore::write_record(self, write_key).await
    }

    async fn mark_write_started(&self, write_key: &str, rec: &str, ttl_secs: u64) -> Result<(), StoreError> {
        SyncStore::mark_write_started(self, write_key, rec, ttl_secs).await
    }

    async fn put_write_outcome(
        &self,
        write_key: &str,
        rec: &str,
        outcome: &str,
        ttl_secs: u64,
    ) -> Result<(), StoreError> {
        SyncStore::put_write_outcome(self, write_key, rec, outcome, ttl_secs).await
    }

    async fn mark_write_persisted(&self, write_key: &str, ttl_secs: u64) -> Result<(), StoreError> {
        SyncStore::mark_write_persisted(self, write_key, ttl_secs).await
    }

    async fn claim_write_key(
        &self,
        source: &str,
        client_id: &str,
        digest: &str,
        key_ttl_secs: u64,
        counter_ttl_secs: u64,
    ) -> Result<(String, bool), StoreError> {
        SyncStore::claim_write_key(self, source, client_id, digest, key_ttl_secs, counter_ttl_secs).await
    }

    async fn ledger_is_done(&self, job_id: &str) -> Result<bool, StoreError> {
        SyncStore::ledger_is_done(self, job_id).await
    }

    async fn ledger_mark_done(&self, job_id: &str, ttl_secs: u64) -> Result<(), StoreError> {
        SyncStore::ledger_mark_done(self, job_id, ttl_secs).await
    }

    async fn ledger_done_among(&self, job_ids: &[String]) -> Result<Vec<bool>, StoreError> {
        SyncStore::ledger_done_among(self, job_ids).await
    }

    async fn ledger_mark_all_done(&self, job_ids: &[String], ttl_secs: u64) -> Result<(), StoreError> {
        SyncStore::ledger_mark_all_done(self, job_ids, ttl_secs).await
    }
}
