//! The query script (`lua/begin.lua`) and the parsing of its reply
//! (`store::query::parse_begin_reply`) in one: the same decisions in the same order, the
//! same writes, and the reply the Redis edge would have parsed. Numbers are re-made text
//! where the script makes them text (`tostring`, `..`, `redis.call` arguments), so what
//! is stored and what is answered match the edge byte for byte.

use std::collections::HashMap;

use rhosync_engine::model::PartitionHead;

use super::super::keys::{ClientKeys, PartitionKeys};
use super::super::query::page_records;
use super::super::{BeginArgs, BeginMode, BeginReply, PageRead, StoreError};
use super::db::{redis_score, Db};
use super::lua::{arg, script_error, tonumber, tostring};

/// `num` of `parse_begin_reply`: a number the script made text, as the edge reads it.
fn num(text: &str) -> u64 {
    text.parse::<f64>().map(|f| f as u64).unwrap_or(0)
}

/// One call of the query script; also the refresh time a probe saw (as
/// `SyncStore::get_many_and_probe` returns it).
pub(super) fn begin(
    db: &mut Db,
    pk: &PartitionKeys,
    ck: &ClientKeys,
    args: &BeginArgs<'_>,
) -> Result<(BeginReply, Option<f64>), StoreError> {
    let mode = args.mode;
    let mut acked = false;
    let mut rt_seen: Option<String> = None;
    if mode == BeginMode::Probe {
        rt_seen = db.hget(&pk.rs, "refresh_time")?;
        if rt_seen.is_none() {
            return Ok((BeginReply::Busy { pending: db.hget(&ck.st, "tok")? }, None));
        }
    }
    if mode == BeginMode::Begin {
        if let Some(stored) = db.hget(&ck.st, "tok")? {
            match args.token {
                Some(token) if token == stored => acked = true,
                Some(_) => {
                    let page = db.get(&ck.page)?.unwrap_or_default();
                    let errors = db.hget(&pk.src, "errors")?.unwrap_or_default();
                    return Ok((BeginReply::Resend { page, errors }, None));
                }
                None => {
                    let page = db.get(&ck.page)?.unwrap_or_default();
                    let st = db.hgetall(&ck.st)?.into_iter().collect();
                    let pinned = db.hgetall(&ck.pin)?;
                    return Ok((BeginReply::Reset { page, st, pinned }, None));
                }
            }
        }
        if acked {
            db.del(&ck.page);
            db.hdel(&ck.st, &["tok"])?;
            // A new generation, so a reset read before this cannot undo the acknowledged page.
            db.hincr_by(&ck.st, "gen", 1)?;
            // The acknowledged page ended its scan cycle: complete it now.
            if let Some(fin) = db.hget(&ck.st, "fin")? {
                db.hset(&ck.st, &[("base", &fin)])?;
                db.hdel(&ck.st, &["scan", "fin", "pm"])?;
                db.del(&ck.sent);
            }
        }
        if args.may_refresh {
            let now = args.now_secs as f64;
            let poll = args.poll_interval as f64;
            let rt = match db.hget(&pk.rs, "refresh_time")? {
                None => {
                    let now_text = arg(now);
                    db.hset(
                        &pk.rs,
                        &[("refresh_time", &now_text), ("prev_refresh_time", &now_text), ("retry_counter", "0")],
                    )?;
                    Some(now)
                }
                Some(text) => tonumber(&text),
            };
            // `poll == 0 or (poll ~= -1 and rt <= now)`: an unreadable refresh time is a
            // Lua error, unless the poll interval alone decides.
            let due = if poll == 0.0 {
                true
            } else if poll == -1.0 {
                false
            } else {
                rt.ok_or_else(|| script_error("attempt to compare nil with number"))? <= now
            };
            if due {
                let rt = rt.ok_or_else(|| script_error("Lua redis() command arguments must be strings or integers"))?;
                db.hset(&pk.rs, &[("prev_refresh_time", &arg(rt)), ("refresh_time", &arg(now + poll))])?;
                return Ok((BeginReply::Refresh { acked }, None));
            }
        }
    }

    let mut stv = db.hmget(&ck.st, &["base", "scan", "msha", "ssha", "tok", "pm"])?.into_iter();
    let mut field = || stv.next().flatten();
    let (base, scan, msha, ssha, tok, marks) = (field(), field(), field(), field(), field(), field());
    if mode == BeginMode::Probe && tok.is_some() {
        return Ok((BeginReply::Busy { pending: tok }, None));
    }
    let head = db.hmget(&pk.head, &["v", "h", "n"])?;
    let head_num = |i: usize| head[i].as_deref().map_or(Some(0.0), tonumber).unwrap_or(0.0);
    let (v, h, n) = (head_num(0), head_num(1), head_num(2));
    let refresh_time = rt_seen.as_deref().and_then(|t| t.parse::<f64>().ok());

    if args.include_pinned && scan.is_none() && base.as_deref() == Some(head[0].as_deref().unwrap_or("0")) {
        let src = db.hmget(&pk.src, &["metadata_sha1", "schema_sha1", "errors"])?;
        let docs = [&ck.pin, &ck.links, &ck.cerr, &ck.uerr, &ck.derr, &ck.urb, &ck.cdel];
        let in_step = (src[0].is_none() || src[0] == msha)
            && (src[1].is_none() || src[1] == ssha)
            && !docs.iter().any(|k| db.exists(k));
        if in_step {
            let errors = src[2].clone().unwrap_or_default();
            return Ok((BeginReply::InStep { md_size: num(&tostring(n)), errors }, refresh_time));
        }
    }

    let nil_base = || script_error("attempt to compare nil with number");
    let start = if let Some(start) = args.start_override {
        tonumber(&start.to_string())
    } else if let Some(b) = base.as_deref().filter(|b| *b != "e") {
        if tonumber(b).ok_or_else(nil_base)? < h {
            Some(0.0)
        } else if let Some(scan) = &scan {
            tonumber(scan)
        } else {
            tonumber(b)
        }
    } else if let Some(scan) = &scan {
        tonumber(scan)
    } else {
        Some(0.0)
    };
    let limit = args.slice_limit;
    let mut slice = Vec::new();
    let mut last = true;
    if limit > 0 {
        let start = start.ok_or_else(|| script_error("attempt to concatenate local 'start' (a nil value)"))?;
        // `'(' .. start`: the bound travels as Lua's text of the number.
        let min = redis_score(&tostring(start)).map_err(|_| script_error("min or max is not a float"))?;
        slice = db.zrange_above(&pk.idx, min, limit + 1)?;
        if slice.len() > limit {
            last = false;
            slice.pop();
        }
    }
    let pinned = if args.include_pinned { db.hgetall(&ck.pin)? } else { Vec::new() };
    let ids: Vec<String> =
        slice.iter().map(|(id, _)| id.clone()).chain(pinned.iter().map(|(id, _)| id.clone())).collect();
    let pids: Vec<&String> = pinned.iter().map(|(id, _)| id).collect();
    // The script's selection: bodies of all; latest versions of the pinned ids; sent entries
    // if the map exists; the histories the belief can consult.
    let (mut md, mut hist, mut latest, mut sent) = (Vec::new(), HashMap::new(), Vec::new(), Vec::new());
    if !ids.is_empty() {
        md = db.hmget(&pk.md, &ids)?;
        if !pids.is_empty() {
            latest = db.zmscore(&pk.idx, &pids)?.into_iter().map(|v| v.map(tostring)).collect();
        }
        if db.exists(&ck.sent) {
            sent = db.hmget(&ck.sent, &ids)?;
        }
        let hids: Vec<&String> = if base.as_deref().is_some_and(|b| b != "e") {
            ids.iter().collect()
        } else {
            let h1 = marks.as_deref().and_then(|m| m.split(':').next()).and_then(|r| r.parse::<f64>().ok());
            let mut hids: Vec<&String> = slice
                .iter()
                .enumerate()
                .filter(|(i, (_, score))| sent.get(*i).is_some_and(Option::is_some) || h1.is_some_and(|h1| *score > h1))
                .map(|(_, (id, _))| id)
                .collect();
            hids.extend(pids.iter().copied());
            hids
        };
        if !hids.is_empty() {
            for (id, text) in hids.iter().zip(db.hmget(&pk.hist, &hids)?) {
                if let Some(text) = text {
                    hist.insert((*id).clone(), text);
                }
            }
        }
    }
    let mut pending = Vec::new();
    if args.include_pinned {
        for k in ck.pending() {
            pending.push(db.hgetall(k)?);
        }
    }
    let st: HashMap<String, String> = db.hgetall(&ck.st)?.into_iter().collect();
    let src = db.hgetall(&pk.src)?.into_iter().collect();

    // What `parse_begin_reply` makes of a build reply.
    let slice: Vec<(String, u64)> = slice.into_iter().map(|(id, score)| (id, score as u64)).collect();
    let (records, sent_map) = page_records(pinned.iter().map(|(id, _)| id.as_str()), md, &slice, latest, sent, hist)?;
    let read = PageRead {
        head: PartitionHead { version: num(&tostring(v)), horizon: num(&tostring(h)), md_size: num(&tostring(n)) },
        st,
        pinned,
        src,
        slice,
        slice_is_last: last,
        records,
        sent: sent_map,
        pending,
    };
    Ok((BeginReply::Build { acked, read: Box::new(read) }, refresh_time))
}
