//! The in-memory edge of the store: [`MemoryStore`] answers every [`Store`] call as the
//! Redis edge ([`super::SyncStore`]) does — same keys (built by [`super::keys`]), same
//! values stored, same replies, the Lua scripts' decisions re-expressed in Rust — so a
//! service tested over it is tested as it runs. `tests/store_contract.rs` runs one
//! scenario against both and compares every answer.
//!
//! * `db` — the keyspace (strings, hashes, sorted sets, expiry) and the Redis commands;
//! * `glob` — Redis's glob matching, for `SCAN … MATCH`;
//! * `lua` — how the scripts' Lua turns numbers and strings into text;
//! * `query` — the query script (`lua/begin.lua`) and its reply;
//! * `commit` — the commit script (`lua/commit.lua`);
//! * `partition` — the apply and finish-refresh scripts and the partition reads;
//! * `records` — kv, sessions, counters and statistics, write records, the ledger.
//!
//! Every call takes one lock over the whole keyspace, so each is atomic — more than the
//! edge promises for its pipelines (`get_many_and_probe`, a chunked `apply`,
//! `flush_namespace`), never less. Keys expire at the instant their TTL gives on the
//! clock the store was made with (a [`ManualClock`] makes expiry testable without
//! waiting); an expired key is absent to every command, as in Redis.
//!
//! Known differences, on data the edge itself never writes: a byte that is not UTF-8
//! cannot be stored (the edge's replies would not parse either), and hash fields are
//! listed in insertion order whatever the hash's size (Redis keeps that order only for
//! small hashes).
//!
//! [`ManualClock`]: crate::ports::ManualClock

mod commit;
mod db;
mod glob;
mod lua;
mod partition;
mod query;
mod records;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use indexmap::IndexMap;
use rhosync_engine::model::{ObjectRecord, PartitionHead, VersionedChange};
use rhosync_engine::values::Body;

use super::keys::{self, ClientKeys, PartitionKeys};
use super::port::Store;
use super::{BeginArgs, BeginReply, Commit, HistoryPolicy, Metric, RefreshOutcome, StatWrite, StoreError, WriteRecord};
use crate::edges::Keys;
use crate::ports::{Clock, SystemClock};
use db::Db;

/// The store in memory; cheap to clone (clones share the data, like handles on one Redis).
#[derive(Clone)]
pub struct MemoryStore {
    keys: Keys,
    clock: Arc<dyn Clock>,
    db: Arc<Mutex<Db>>,
}

impl MemoryStore {
    /// An empty store under `namespace`, on the system clock.
    pub fn new(namespace: &str) -> Self {
        Self::with_clock(namespace, Arc::new(SystemClock))
    }

    /// An empty store under `namespace` whose TTLs run on `clock`.
    pub fn with_clock(namespace: &str, clock: Arc<dyn Clock>) -> Self {
        Self { keys: Keys::new(namespace), clock, db: Arc::new(Mutex::new(Db::default())) }
    }

    /// A handle on the same data under another namespace (deployments sharing one Redis).
    pub fn sharing(&self, namespace: &str) -> Self {
        Self { keys: Keys::new(namespace), clock: self.clock.clone(), db: self.db.clone() }
    }

    /// The keyspace, at the time of the call about to run.
    fn db(&self) -> MutexGuard<'_, Db> {
        // A panic while holding the lock cannot leave a half-done call behind that a
        // Redis script would not also leave: keep serving.
        let mut db = self.db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        db.at(self.clock.now_micros());
        db
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").field("namespace", &self.keys.namespace()).finish_non_exhaustive()
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn keys(&self) -> &Keys {
        &self.keys
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn begin(&self, pk: &PartitionKeys, ck: &ClientKeys, args: &BeginArgs<'_>) -> Result<BeginReply, StoreError> {
        Ok(query::begin(&mut self.db(), pk, ck, args)?.0)
    }

    async fn get_many_and_probe(
        &self,
        keys: &[&str],
        pk: &PartitionKeys,
        ck: &ClientKeys,
        slice_limit: usize,
    ) -> Result<(Vec<Option<String>>, BeginReply, Option<f64>), StoreError> {
        let mut db = self.db();
        let values = records::get_many(&mut db, keys);
        let (reply, refresh_time) = query::begin(&mut db, pk, ck, &BeginArgs::probe(slice_limit))?;
        Ok((values?, reply, refresh_time))
    }

    async fn commit(&self, ck: &ClientKeys, c: &Commit) -> Result<bool, StoreError> {
        commit::commit(&mut self.db(), ck, c)
    }

    async fn read_md(&self, pk: &PartitionKeys) -> Result<(PartitionHead, IndexMap<String, Body>), StoreError> {
        partition::read_md(&mut self.db(), pk)
    }

    async fn read_bodies(
        &self,
        pk: &PartitionKeys,
        ids: &[String],
    ) -> Result<(PartitionHead, HashMap<String, Body>), StoreError> {
        partition::read_bodies(&mut self.db(), pk, ids)
    }

    async fn apply(
        &self,
        pk: &PartitionKeys,
        expected: PartitionHead,
        changes: &[VersionedChange],
        policy: &HistoryPolicy,
    ) -> Result<bool, StoreError> {
        partition::apply(&mut self.db(), pk, expected, changes, policy)
    }

    async fn finish_refresh(&self, pk: &PartitionKeys, outcome: &RefreshOutcome<'_>) -> Result<(), StoreError> {
        partition::finish_refresh(&mut self.db(), pk, outcome)
    }

    async fn index(&self, pk: &PartitionKeys) -> Result<Vec<(String, u64)>, StoreError> {
        partition::index(&mut self.db(), pk)
    }

    async fn records(
        &self,
        pk: &PartitionKeys,
        ids: &[String],
    ) -> Result<(PartitionHead, HashMap<String, ObjectRecord>), StoreError> {
        partition::records(&mut self.db(), pk, ids)
    }

    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.db().get(key)
    }

    async fn set(&self, key: &str, value: Option<&str>, ttl_secs: Option<u64>) -> Result<(), StoreError> {
        records::set(&mut self.db(), key, value, ttl_secs)
    }

    async fn set_if(&self, key: &str, expected: Option<&str>, value: &str) -> Result<bool, StoreError> {
        let mut db = self.db();
        if db.get(key)?.as_deref() != expected {
            return Ok(false);
        }
        records::set(&mut db, key, Some(value), None)?;
        Ok(true)
    }

    async fn get_two(&self, a: &str, b: &str) -> Result<(Option<String>, Option<String>), StoreError> {
        let mut db = self.db();
        let (a, b) = (db.get(a), db.get(b));
        Ok((a?, b?))
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<String>>, StoreError> {
        // The edge's client answers an empty pipeline with an error.
        if keys.is_empty() {
            return Err(lua::error("empty pipeline"));
        }
        records::get_many(&mut self.db(), keys)
    }

    async fn del(&self, keys: &[&str]) -> Result<(), StoreError> {
        records::del(&mut self.db(), keys);
        Ok(())
    }

    async fn hgetall(&self, key: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.db().hgetall(key)
    }

    async fn hget(&self, key: &str, field: &str) -> Result<Option<String>, StoreError> {
        self.db().hget(key, field)
    }

    async fn hset(&self, key: &str, fields: &[(&str, Option<String>)]) -> Result<(), StoreError> {
        records::hset(&mut self.db(), key, fields)
    }

    async fn hset_many(&self, key: &str, pairs: &[(String, String)]) -> Result<(), StoreError> {
        records::hset_many(&mut self.db(), key, pairs)
    }

    async fn purge_client_docs(&self, ck: &ClientKeys) -> Result<(), StoreError> {
        records::purge_client_docs(&mut self.db(), ck);
        Ok(())
    }

    async fn purge_partition(&self, pk: &PartitionKeys) -> Result<(), StoreError> {
        records::purge_partition(&mut self.db(), pk);
        Ok(())
    }

    async fn purge_client_record(&self, client_id: &str) -> Result<(), StoreError> {
        self.db().del(&keys::client_record(&self.keys, client_id));
        Ok(())
    }

    async fn session_markers(&self, login: &str) -> Result<Vec<Option<String>>, StoreError> {
        let [exists, revoked, reset] = self.session_marker_keys(login);
        records::get_many(&mut self.db(), &[&exists, &revoked, &reset])
    }

    async fn mark_user_exists(&self, login: &str, ttl_secs: u64) -> Result<(), StoreError> {
        records::mark_user_exists(&mut self.db(), &self.keys, login, ttl_secs)
    }

    async fn void_sessions_of(&self, login: &str, at: u64, ttl_secs: u64) -> Result<(), StoreError> {
        records::void_sessions_of(&mut self.db(), &self.keys, login, at, ttl_secs)
    }

    async fn void_all_sessions(&self, at: u64, ttl_secs: u64) -> Result<(), StoreError> {
        records::void_all_sessions(&mut self.db(), &self.keys, at, ttl_secs)
    }

    async fn incr_counter(&self, docname: &str, delta: i64) -> Result<i64, StoreError> {
        self.db().incr_by(&keys::registry_record(&self.keys, docname), delta)
    }

    async fn record_stat(
        &self,
        metric: &str,
        start: i64,
        resolution: i64,
        retention: i64,
        value: i64,
    ) -> Result<(), StoreError> {
        records::record_stat(&mut self.db(), &self.keys, metric, start, resolution, retention, value)
    }

    async fn stat_tops(&self, metrics: &[String]) -> Result<Vec<Option<(String, i64)>>, StoreError> {
        records::stat_tops(&mut self.db(), &self.keys, metrics)
    }

    async fn stat_write(&self, writes: &[StatWrite]) -> Result<Vec<usize>, StoreError> {
        records::stat_write(&mut self.db(), &self.keys, writes)
    }

    async fn stat_names(&self, glob: &str) -> Result<Vec<String>, StoreError> {
        Ok(records::stat_names(&self.db(), &self.keys, glob))
    }

    async fn scan_keys(&self, _cursor: u64, pattern: &str, _count: usize) -> Result<(u64, Vec<String>), StoreError> {
        Ok(records::scan_keys(&self.db(), pattern))
    }

    async fn push_capped(&self, key: &str, value: &str, cap: usize) -> Result<(), StoreError> {
        records::push_capped(&mut self.db(), key, value, cap)
    }

    async fn list(&self, key: &str) -> Result<Vec<String>, StoreError> {
        records::list(&mut self.db(), key)
    }

    async fn take_key(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.db().del(key))
    }

    async fn hdel(&self, key: &str, fields: &[String]) -> Result<u64, StoreError> {
        records::hdel(&mut self.db(), key, fields)
    }

    async fn stat(&self, metric: &str, start: i64, finish: i64) -> Result<Metric, StoreError> {
        records::stat(&mut self.db(), &self.keys, metric, start, finish)
    }

    async fn app_server_url(&self) -> Result<Option<String>, StoreError> {
        self.db().get(&keys::registry_record(&self.keys, keys::APPSERVER_DOC))
    }

    async fn set_app_server_url(&self, url: Option<&str>) -> Result<(), StoreError> {
        records::set(&mut self.db(), &keys::registry_record(&self.keys, keys::APPSERVER_DOC), url, None)
    }

    async fn flush_namespace(&self) -> Result<u64, StoreError> {
        Ok(records::flush_namespace(&mut self.db(), &self.keys))
    }

    async fn write_record(&self, write_key: &str) -> Result<WriteRecord, StoreError> {
        records::write_record(&mut self.db(), &self.keys, write_key)
    }

    async fn mark_write_started(&self, write_key: &str, rec: &str, ttl_secs: u64) -> Result<(), StoreError> {
        records::set_write_field(&mut self.db(), &self.keys, write_key, &format!("c:{rec}"), "1", ttl_secs)
    }

    async fn put_write_outcome(
        &self,
        write_key: &str,
        rec: &str,
        outcome: &str,
        ttl_secs: u64,
    ) -> Result<(), StoreError> {
        records::set_write_field(&mut self.db(), &self.keys, write_key, &format!("r:{rec}"), outcome, ttl_secs)
    }

    async fn mark_write_persisted(&self, write_key: &str, ttl_secs: u64) -> Result<(), StoreError> {
        records::set_write_field(&mut self.db(), &self.keys, write_key, "persisted", "1", ttl_secs)
    }

    async fn claim_write_key(
        &self,
        source: &str,
        client_id: &str,
        digest: &str,
        key_ttl_secs: u64,
        counter_ttl_secs: u64,
    ) -> Result<(String, bool), StoreError> {
        records::claim_write_key(&mut self.db(), &self.keys, source, client_id, digest, key_ttl_secs, counter_ttl_secs)
    }

    async fn ledger_is_done(&self, job_id: &str) -> Result<bool, StoreError> {
        Ok(self.db().exists(&keys::job_done(&self.keys, job_id)))
    }

    async fn ledger_mark_done(&self, job_id: &str, ttl_secs: u64) -> Result<(), StoreError> {
        records::ledger_mark_done(&mut self.db(), &self.keys, job_id, ttl_secs)
    }
}

#[cfg(test)]
mod tests;
