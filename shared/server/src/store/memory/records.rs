//! The small records — kv documents, session markers, registry counters, statistics,
//! client-write records and claims, the job ledger, the namespace flush — as
//! `store::{kv, sessions, meta, writes, ledger}` write them, including the two scripts
//! of `meta` (`record_stat`) and `writes` (`claim_write_key`).
//!
//! A pipeline or `MULTI` runs every command even when one fails, and the edge then
//! answers the first failure; [`all`] does the same.

use super::super::keys::{self, ClientKeys, PartitionKeys};
use super::super::{Metric, StatWrite, StoreError, WriteRecord};
use super::db::Db;
use super::glob::glob_match;
use super::lua::{arg, script_error, tonumber, tostring};
use crate::edges::Keys;

/// The first error of commands that all ran (the callers run them before this).
fn all(results: impl IntoIterator<Item = Result<(), StoreError>>) -> Result<(), StoreError> {
    results.into_iter().collect()
}

// --- kv

pub(super) fn get_many(db: &mut Db, keys: &[&str]) -> Result<Vec<Option<String>>, StoreError> {
    let replies: Vec<_> = keys.iter().map(|k| db.get(k)).collect();
    replies.into_iter().collect()
}

pub(super) fn set(db: &mut Db, key: &str, value: Option<&str>, ttl_secs: Option<u64>) -> Result<(), StoreError> {
    match value {
        None => {
            db.del(key);
            Ok(())
        }
        Some(v) => db.set(key, v, ttl_secs.map(|t| t.to_string()).as_deref(), "set"),
    }
}

pub(super) fn del(db: &mut Db, keys: &[&str]) {
    for k in keys {
        db.del(k);
    }
}

pub(super) fn hset(db: &mut Db, key: &str, fields: &[(&str, Option<String>)]) -> Result<(), StoreError> {
    let results: Vec<_> = fields
        .iter()
        .map(|(f, v)| match v {
            Some(v) => db.hset(key, &[(f, v)]),
            None => db.hdel(key, &[f]),
        })
        .collect();
    all(results)
}

pub(super) fn hset_many(db: &mut Db, key: &str, pairs: &[(String, String)]) -> Result<(), StoreError> {
    if pairs.is_empty() {
        return Ok(());
    }
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(f, v)| (f.as_str(), v.as_str())).collect();
    db.hset(key, &pairs)
}

pub(super) fn purge_client_docs(db: &mut Db, ck: &ClientKeys) {
    del(db, &ck.all());
}

pub(super) fn purge_partition(db: &mut Db, pk: &PartitionKeys) {
    del(db, &pk.all());
}

// --- sessions

pub(super) fn mark_user_exists(db: &mut Db, k: &Keys, login: &str, ttl_secs: u64) -> Result<(), StoreError> {
    db.set(&keys::login_session(k, login, "exists"), "1", Some(&ttl_secs.to_string()), "set")
}

pub(super) fn void_sessions_of(db: &mut Db, k: &Keys, login: &str, at: u64, ttl_secs: u64) -> Result<(), StoreError> {
    db.del(&keys::login_session(k, login, "exists"));
    db.set(&keys::login_session(k, login, "revoked"), &at.to_string(), Some(&ttl_secs.to_string()), "set")
}

pub(super) fn void_all_sessions(db: &mut Db, k: &Keys, at: u64, ttl_secs: u64) -> Result<(), StoreError> {
    db.set(&keys::sessions_reset(k), &at.to_string(), Some(&ttl_secs.to_string()), "set")
}

// --- meta

/// The live keys a `SCAN … MATCH pattern` walk returns, sorted.
fn scan(db: &Db, pattern: &str) -> Vec<String> {
    let mut found: Vec<String> = db.live_keys().into_iter().filter(|k| glob_match(pattern, k)).collect();
    found.sort();
    found
}

/// The bucket update script of `store::meta` (`RECORD_SCRIPT`).
pub(super) fn record_stat(
    db: &mut Db,
    k: &Keys,
    metric: &str,
    start: i64,
    resolution: i64,
    retention: i64,
    value: i64,
) -> Result<(), StoreError> {
    let key = keys::stat(k, metric);
    let start_text = start.to_string();
    let nil = || script_error("attempt to perform arithmetic on a nil value");
    let start_n = tonumber(&start_text).ok_or_else(nil)?;
    let resolution = tonumber(&resolution.to_string()).ok_or_else(nil)?;
    let retention = tonumber(&retention.to_string()).ok_or_else(nil)?;
    let mut score = start_n;
    if let Some((member, top)) = db.zrange(&key, -1, -1)?.pop() {
        if top > start_n - resolution {
            db.zrem(&key, &member)?;
            score = top;
        }
    }
    db.zadd(&key, &arg(score), &format!("{value}:{start_text}"))?;
    db.zrem_range_upto(&key, &arg(start_n - retention))?;
    Ok(())
}

pub(super) fn stat_tops(db: &mut Db, k: &Keys, metrics: &[String]) -> Result<Vec<Option<(String, i64)>>, StoreError> {
    let mut out = Vec::with_capacity(metrics.len());
    for m in metrics {
        out.push(db.zrange(&keys::stat(k, m), -1, -1)?.pop().map(|(member, score)| (member, score as i64)));
    }
    Ok(out)
}

/// The compare-and-set script of `store::meta` (`STAT_WRITE_SCRIPT`).
pub(super) fn stat_write(db: &mut Db, k: &Keys, writes: &[StatWrite]) -> Result<Vec<usize>, StoreError> {
    let mut conflicts = Vec::new();
    for (i, w) in writes.iter().enumerate() {
        let key = keys::stat(k, &w.metric);
        let top = db.zrange(&key, -1, -1)?.pop().map(|(m, _)| m);
        if top != w.expected {
            conflicts.push(i);
            continue;
        }
        for m in &w.remove {
            db.zrem(&key, m)?;
        }
        for (score, m) in &w.add {
            db.zadd(&key, &score.to_string(), m)?;
        }
        db.zrem_range_upto(&key, &w.prune_upto.to_string())?;
    }
    Ok(conflicts)
}

/// `SCAN` in one step: every match, cursor 0.
pub(super) fn scan_keys(db: &Db, pattern: &str) -> (u64, Vec<String>) {
    (0, scan(db, pattern))
}

/// Lists are kept as a JSON array of strings in a string key (nothing but these two calls
/// reads them).
pub(super) fn push_capped(db: &mut Db, key: &str, value: &str, cap: usize) -> Result<(), StoreError> {
    let mut items = list(db, key)?;
    items.insert(0, value.to_owned());
    items.truncate(cap);
    let text = serde_json::to_string(&items).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    db.set(key, &text, None, "set")
}

pub(super) fn list(db: &mut Db, key: &str) -> Result<Vec<String>, StoreError> {
    match db.get(key)? {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string())),
    }
}

pub(super) fn hdel(db: &mut Db, key: &str, fields: &[String]) -> Result<u64, StoreError> {
    let mut n = 0;
    for f in fields {
        if db.hexists(key, f)? {
            n += 1;
        }
    }
    db.hdel(key, fields)?;
    Ok(n)
}

pub(super) fn stat_names(db: &Db, k: &Keys, glob: &str) -> Vec<String> {
    let prefix = keys::stats_prefix(k);
    let pattern = format!("{}{glob}", keys::escape_glob(&prefix));
    scan(db, &pattern).into_iter().filter_map(|key| key.strip_prefix(&prefix).map(str::to_owned)).collect()
}

pub(super) fn stat(db: &mut Db, k: &Keys, metric: &str, start: i64, finish: i64) -> Result<Metric, StoreError> {
    let key = keys::stat(k, metric);
    Ok(match db.kind(&key) {
        "zset" => Metric::Series(db.zrange(&key, start, finish)?.into_iter().map(|(m, _)| m).collect()),
        "string" => Metric::Text(db.get(&key)?.unwrap_or_default()),
        _ => Metric::Missing,
    })
}

pub(super) fn flush_namespace(db: &mut Db, k: &Keys) -> u64 {
    let pattern = format!("{}:{{*", keys::escape_glob(k.namespace()));
    let doomed = scan(db, &pattern);
    doomed.iter().filter(|key| db.del(key)).count() as u64
}

// --- writes

pub(super) fn write_record(db: &mut Db, k: &Keys, write_key: &str) -> Result<WriteRecord, StoreError> {
    let mut out = WriteRecord::default();
    for (field, value) in db.hgetall(&keys::write_record(k, write_key))? {
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

/// `MULTI; HSET key field value; EXPIRE key ttl; EXEC`.
pub(super) fn set_write_field(
    db: &mut Db,
    k: &Keys,
    write_key: &str,
    field: &str,
    value: &str,
    ttl_secs: u64,
) -> Result<(), StoreError> {
    let key = keys::write_record(k, write_key);
    let set = db.hset(&key, &[(field, value)]);
    let expire = db.expire(&key, &ttl_secs.to_string()).map(drop);
    all([set, expire])
}

/// The claim script of `store::writes` (`CLAIM_SCRIPT`).
pub(super) fn claim_write_key(
    db: &mut Db,
    k: &Keys,
    source: &str,
    client_id: &str,
    digest: &str,
    key_ttl_secs: u64,
    counter_ttl_secs: u64,
) -> Result<(String, bool), StoreError> {
    let (last_key, seq_key) = keys::write_claim(k, source, client_id);
    if let Some(last) = db.get(&last_key)? {
        if last.find('.').is_some_and(|dot| last[..dot] == *digest) {
            return Ok((last, true));
        }
    }
    let n = db.incr_by(&seq_key, 1)?;
    db.expire(&seq_key, &counter_ttl_secs.to_string())?;
    let key = format!("{digest}.{}", tostring(n as f64));
    db.set(&last_key, &key, Some(&key_ttl_secs.to_string()), "set")?;
    Ok((key, false))
}

// --- ledger

pub(super) fn ledger_mark_done(db: &mut Db, k: &Keys, job_id: &str, ttl_secs: u64) -> Result<(), StoreError> {
    db.set(&keys::job_done(k, job_id), "1", Some(&ttl_secs.to_string()), "setex")
}
