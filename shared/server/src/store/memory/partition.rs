//! One (source, partition)'s documents: the apply script (`lua/apply.lua`, md writes with
//! their history and its pruning), the refresh outcome (`lua/finish_refresh.lua`) and the
//! partition reads, as `store::partition` does them over Redis. The scripts' arguments
//! are built as the edge builds them and the scripts' logic runs over their text.

use std::collections::HashMap;

use indexmap::IndexMap;
use rhosync_engine::model::{ObjectRecord, PartitionHead, VersionedChange};
use rhosync_engine::values::Body;
use serde_json::Value as Json;

use super::super::keys::PartitionKeys;
use super::super::partition::parse_history;
use super::super::{corrupt, HistoryPolicy, RefreshOutcome, StoreError, APPLY_CHUNK};
use super::db::Db;
use super::lua::{arg, cjson_string, error, format_d, script_error, tonumber, tostring};

/// The head as `HMGET head v h n` reads into numbers (a field that is not one is an error).
fn read_head(db: &mut Db, pk: &PartitionKeys) -> Result<PartitionHead, StoreError> {
    let raw = db.hmget(&pk.head, &["v", "h", "n"])?;
    let field = |i: usize| -> Result<u64, StoreError> {
        match raw[i].as_deref() {
            None => Ok(0),
            Some(text) => text.parse().map_err(|_| error(format!("head field is not a number: {text:?}"))),
        }
    };
    Ok(PartitionHead { version: field(0)?, horizon: field(1)?, md_size: field(2)? })
}

pub(super) fn read_md(db: &mut Db, pk: &PartitionKeys) -> Result<(PartitionHead, IndexMap<String, Body>), StoreError> {
    let head = read_head(db, pk)?;
    Ok((head, db.hgetall(&pk.md)?.into_iter().collect()))
}

pub(super) fn read_bodies(
    db: &mut Db,
    pk: &PartitionKeys,
    ids: &[String],
) -> Result<(PartitionHead, HashMap<String, Body>), StoreError> {
    let head = read_head(db, pk)?;
    if ids.is_empty() {
        return Ok((head, HashMap::new()));
    }
    let bodies = db.hmget(&pk.md, ids)?;
    Ok((head, ids.iter().cloned().zip(bodies).filter_map(|(id, b)| b.map(|b| (id, b))).collect()))
}

pub(super) fn index(db: &mut Db, pk: &PartitionKeys) -> Result<Vec<(String, u64)>, StoreError> {
    Ok(db.zrange(&pk.idx, 0, -1)?.into_iter().map(|(id, s)| (id, s as u64)).collect())
}

pub(super) fn records(
    db: &mut Db,
    pk: &PartitionKeys,
    ids: &[String],
) -> Result<(PartitionHead, HashMap<String, ObjectRecord>), StoreError> {
    let head = read_head(db, pk)?;
    if ids.is_empty() {
        return Ok((head, HashMap::new()));
    }
    let (md, hist, latest) = (db.hmget(&pk.md, ids)?, db.hmget(&pk.hist, ids)?, db.zmscore(&pk.idx, ids)?);
    let mut out = HashMap::new();
    for (i, id) in ids.iter().enumerate() {
        let history = match hist.get(i).cloned().flatten() {
            Some(t) => parse_history(&t)?,
            None => Vec::new(),
        };
        let record = ObjectRecord {
            current: md.get(i).cloned().flatten(),
            latest: latest.get(i).copied().flatten().map(|f| f as u64),
            history,
        };
        out.insert(id.clone(), record);
    }
    Ok((head, out))
}

/// A history event as the edge sends it to the apply script.
fn history_event(version: u64, before: Option<&Body>) -> String {
    serde_json::to_string(&(version, before)).unwrap_or_else(|_| format!("[{version},null]"))
}

/// `SyncStore::apply`: the same chunks with the same arguments, each run through
/// [`apply_script`].
pub(super) fn apply(
    db: &mut Db,
    pk: &PartitionKeys,
    expected: PartitionHead,
    changes: &[VersionedChange],
    policy: &HistoryPolicy,
) -> Result<bool, StoreError> {
    let mut head = expected;
    let mut first_load = false;
    for (i, chunk) in changes.chunks(APPLY_CHUNK).enumerate() {
        let mut next = head;
        let mut items = Vec::with_capacity(chunk.len());
        for vc in chunk {
            let c = &vc.change;
            match (&c.before, &c.after) {
                (None, Some(_)) => next.md_size += 1,
                (Some(_), None) => next.md_size = next.md_size.saturating_sub(1),
                _ => {}
            }
            next.version = vc.version;
            items.push(ApplyItem {
                id: &c.id,
                version: vc.version.to_string(),
                after: c.after.as_deref().unwrap_or_default(),
                event: history_event(vc.version, c.before.as_ref()),
            });
        }
        let argv = ApplyArgs {
            expected: head.version.to_string(),
            version: next.version.to_string(),
            md_size: next.md_size.to_string(),
            now: policy.now_secs.to_string(),
            cutoff: policy.now_secs.saturating_sub(policy.retention_secs).to_string(),
            cap: policy.cap(next.md_size).to_string(),
            budget: policy.budget(chunk.len()).to_string(),
            first_load,
        };
        let answer = apply_script(db, pk, &argv, &items)?;
        first_load = answer == 2;
        if answer == 0 {
            if i == 0 {
                return Ok(false);
            }
            return Err(corrupt("the partition changed in the middle of a chunked write"));
        }
        head = next;
    }
    Ok(true)
}

/// ARGV 1–7 of `lua/apply.lua`.
struct ApplyArgs {
    expected: String,
    version: String,
    md_size: String,
    now: String,
    cutoff: String,
    cap: String,
    budget: String,
    /// ARGV 8: this continues a first load.
    first_load: bool,
}

/// One change as the apply script receives it.
struct ApplyItem<'a> {
    id: &'a str,
    version: String,
    /// `""`: deleted.
    after: &'a str,
    event: String,
}

/// `lua/apply.lua`.
fn apply_script(db: &mut Db, pk: &PartitionKeys, argv: &ApplyArgs, items: &[ApplyItem<'_>]) -> Result<i64, StoreError> {
    let current = tonumber(&db.hget(&pk.head, "v")?.unwrap_or_else(|| "0".to_owned()));
    if current.is_none() || current != tonumber(&argv.expected) {
        return Ok(0);
    }
    // A first load: only creations into a partition that holds nothing (or the next chunk
    // of a write whose first chunk was one) skips the history and moves the horizon.
    let mut fresh = !items.is_empty() && items.iter().all(|item| item.event.ends_with(",null]"));
    if fresh {
        fresh = if argv.first_load {
            let h = tonumber(&db.hget(&pk.head, "h")?.unwrap_or_else(|| "0".to_owned()));
            h == current && !db.exists(&pk.hist)
        } else {
            let n = tonumber(&db.hget(&pk.head, "n")?.unwrap_or_else(|| "0".to_owned()));
            n == Some(0.0) && db.zcard(&pk.idx)? == 0
        };
    }
    let mut sets: Vec<(&str, &str)> = Vec::new();
    let mut dels: Vec<&str> = Vec::new();
    for item in items {
        if item.after.is_empty() {
            dels.push(item.id);
        } else {
            sets.push((item.id, item.after));
        }
        if fresh {
            continue;
        }
        // The event list's closing bracket gives way to the new event.
        let history = match db.hget(&pk.hist, item.id)? {
            Some(mut old) => {
                old.pop();
                format!("{old},{}]", item.event)
            }
            None => format!("[{}]", item.event),
        };
        db.hset(&pk.hist, &[(item.id, &history)])?;
    }
    if !sets.is_empty() {
        db.hset(&pk.md, &sets)?;
    }
    db.hdel(&pk.md, &dels)?;
    for item in items {
        db.zadd(&pk.idx, &item.version, item.id)?;
    }
    if !fresh {
        for item in items {
            db.zadd(&pk.hlog, &item.version, &format!("{}:{}:{}", item.version, argv.now, item.id))?;
        }
    }
    db.hset(&pk.head, &[("v", &argv.version), ("n", &argv.md_size)])?;
    if fresh {
        db.hset(&pk.head, &[("h", &argv.version)])?;
        return Ok(2);
    }
    prune(db, pk, argv)?;
    Ok(1)
}

/// The pruning walk of `lua/apply.lua`, oldest event first.
fn prune(db: &mut Db, pk: &PartitionKeys, argv: &ApplyArgs) -> Result<(), StoreError> {
    let number = |text: &str| tonumber(text).ok_or_else(|| script_error("attempt to compare number with nil"));
    let (cutoff, cap, budget) = (number(&argv.cutoff)?, number(&argv.cap)?, number(&argv.budget)?);
    let total = db.zcard(&pk.hlog)? as f64;
    if budget <= 0.0 || total == 0.0 {
        return Ok(());
    }
    let oldest = db.zrange(&pk.hlog, 0, budget as i64 - 1)?;
    let nil = || script_error("attempt to compare nil with number");
    let mut pruned = 0f64;
    let mut horizon: Option<Option<f64>> = None;
    for (member, _) in oldest {
        let Some(c1) = member.find(':') else { break };
        let Some(c2) = member[c1 + 1..].find(':').map(|j| c1 + 1 + j) else { break };
        let v = tonumber(&member[..c1]);
        let at = tonumber(&member[c1 + 1..c2]);
        let id = &member[c2 + 1..];
        if total - pruned <= cap && at.ok_or_else(nil)? > cutoff {
            break;
        }
        if let Some(raw) = db.hget(&pk.hist, id)? {
            let keep = events_after(&raw, v)?;
            if keep.is_empty() {
                db.hdel(&pk.hist, &[id])?;
            } else {
                db.hset(&pk.hist, &[(id, &format!("[{}]", keep.join(",")))])?;
            }
        }
        // A tombstone at or below the new horizon tells no in-window client anything.
        if let Some(score) = db.zscore(&pk.idx, id)? {
            if score <= v.ok_or_else(nil)? && !db.hexists(&pk.md, id)? {
                db.zrem(&pk.idx, id)?;
            }
        }
        pruned += 1.0;
        horizon = Some(v);
    }
    if let Some(horizon) = horizon {
        db.zrem_range_by_rank(&pk.hlog, 0, pruned as i64 - 1)?;
        let horizon = horizon.ok_or_else(|| script_error("bad argument #2 to 'format' (number expected, got nil)"))?;
        db.hset(&pk.head, &[("h", &format_d(horizon))])?;
    }
    Ok(())
}

/// The events of a stored history list after version `v`, re-encoded as the script does
/// (`cjson.decode`, then by hand: `[<%d>,<cjson.encode(before)>]`).
fn events_after(raw: &str, v: Option<f64>) -> Result<Vec<String>, StoreError> {
    let decoded: Json = serde_json::from_str(raw).map_err(|e| script_error(&format!("cjson.decode: {e}")))?;
    let events = match decoded {
        Json::Array(events) => events,
        // An object decodes to a table without array part: `ipairs` walks nothing.
        Json::Object(_) => Vec::new(),
        _ => return Err(script_error("bad argument #1 to 'ipairs' (table expected)")),
    };
    let mut keep = Vec::new();
    for e in events {
        let (version, before) = match e {
            Json::Array(mut parts) if !parts.is_empty() => {
                let before = if parts.len() > 1 { parts.swap_remove(1) } else { Json::Null };
                (parts[0].as_f64(), before)
            }
            _ => (None, Json::Null),
        };
        let version = version.ok_or_else(|| script_error("attempt to compare nil with number"))?;
        if version > v.ok_or_else(|| script_error("attempt to compare number with nil"))? {
            let before = match before {
                Json::Null => "null".to_owned(),
                Json::String(s) => cjson_string(&s),
                Json::Bool(b) => b.to_string(),
                Json::Number(n) => n.as_f64().map_or_else(|| n.to_string(), tostring),
                other => return Err(corrupt(format!("history event body is not a string: {other}"))),
            };
            keep.push(format!("[{},{before}]", format_d(version)));
        }
    }
    Ok(keep)
}

/// `SyncStore::finish_refresh`'s arguments run through `lua/finish_refresh.lua`.
pub(super) fn finish_refresh(db: &mut Db, pk: &PartitionKeys, o: &RefreshOutcome<'_>) -> Result<(), StoreError> {
    let RefreshOutcome { errors, metadata, schema, failed, poll_interval, retry_limit, now } = *o;
    let (errors, meta, meta_sha) = (errors.unwrap_or(""), metadata.map_or("-", |m| m.0), metadata.map_or("", |m| m.1));
    let (schema, schema_sha) = (schema.map_or("-", |s| s.0), schema.map_or("", |s| s.1));
    let (poll_text, limit_text, now_text) = (poll_interval.to_string(), retry_limit.to_string(), now.to_string());
    if errors.is_empty() {
        db.hdel(&pk.src, &["errors"])?;
    } else {
        db.hset(&pk.src, &[("errors", errors)])?;
    }
    if meta != "-" {
        db.hset(&pk.src, &[("metadata", meta), ("metadata_sha1", meta_sha)])?;
    }
    if schema != "-" {
        db.hset(&pk.src, &[("schema", schema), ("schema_sha1", schema_sha)])?;
    }
    let nil = || script_error("attempt to perform arithmetic on a nil value");
    let poll = tonumber(&poll_text).ok_or_else(nil)?;
    if poll != 0.0 {
        let now = tonumber(&now_text).ok_or_else(nil)?;
        let prev_text = db.hget(&pk.rs, "prev_refresh_time")?.unwrap_or_else(|| now_text.clone());
        let mut prev = tonumber(&prev_text);
        if !failed || now - prev.ok_or_else(nil)? >= poll {
            db.hset(&pk.rs, &[("prev_refresh_time", &arg(now)), ("retry_counter", "0")])?;
            prev = Some(now);
        }
        if failed {
            let rc_text = db.hget(&pk.rs, "retry_counter")?.unwrap_or_else(|| "0".to_owned());
            let rc = tonumber(&rc_text).ok_or_else(nil)?;
            if rc < tonumber(&limit_text).ok_or_else(nil)? {
                // `prev` is a number here: it was read (and used) above, or set to now.
                let prev = prev.ok_or_else(nil)?;
                db.hset(&pk.rs, &[("retry_counter", &arg(rc + 1.0)), ("refresh_time", &arg(prev))])?;
            } else {
                db.hset(&pk.rs, &[("retry_counter", "0")])?;
            }
        }
    }
    Ok(())
}
