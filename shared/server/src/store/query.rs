//! The query script (`lua/begin.lua`): one query step for one (client, source) — the token
//! action, the refresh decision and everything the page planner reads, in one atomic call —
//! and its read-only probe, pipelined behind the request's lookups. Its reply is a RESP
//! array (bodies travel as they are stored); [`parse_begin_reply`] turns it into a
//! [`BeginReply`].

use std::collections::HashMap;
use std::sync::OnceLock;

use redis::Script;
use rhosync_engine::model::{ObjectRecord, PartitionHead, SentEntries};

use super::keys::{ClientKeys, PartitionKeys};
use super::kv::gets;
use super::partition::parse_history;
use super::{corrupt, with_common, StoreError, SyncStore};

fn script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| with_common(include_str!("lua/begin.lua")))
}

/// Text of one RESP item of a script reply (bulk or simple string, or an integer), taking
/// the bytes over rather than copying them.
fn resp_text(v: redis::Value) -> Option<String> {
    match v {
        redis::Value::BulkString(b) => {
            Some(String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
        }
        redis::Value::SimpleString(s) => Some(s),
        redis::Value::Int(i) => Some(i.to_string()),
        redis::Value::VerbatimString { text, .. } => Some(text),
        _ => None,
    }
}

/// A RESP array of optional strings (`nil` for missing hash fields).
fn resp_list(v: Option<redis::Value>) -> Vec<Option<String>> {
    match v {
        Some(redis::Value::Array(items)) => items.into_iter().map(resp_text).collect(),
        _ => Vec::new(),
    }
}

/// A flat RESP array `[k1, v1, k2, v2, …]` (HGETALL, WITHSCORES) as pairs.
fn resp_pairs(v: Option<redis::Value>) -> Vec<(String, String)> {
    let Some(redis::Value::Array(items)) = v else { return Vec::new() };
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        if let (Some(k), Some(v)) = (resp_text(k), resp_text(v)) {
            out.push((k, v));
        }
    }
    out
}

/// Parses the query script's reply (a RESP array, see `lua/begin.lua`); also returns the
/// refresh time a probe saw, and whether the script left the bodies to the caller (ARGV
/// 10): the records then hold no current body yet.
fn parse_begin_reply(reply: redis::Value) -> Result<(BeginReply, Option<f64>, bool), StoreError> {
    let redis::Value::Array(items) = reply else { return Err(corrupt("query script: not an array")) };
    let mut items: Vec<Option<redis::Value>> = items.into_iter().map(Some).collect();
    let mut take = |i: usize| items.get_mut(i).and_then(Option::take);
    let mut text = |i: usize| take(i).and_then(resp_text).unwrap_or_default();
    let kind = text(0);
    match kind.as_str() {
        "busy" => return Ok((BeginReply::Busy { pending: Some(text(1)).filter(|t| !t.is_empty()) }, None, false)),
        "resend" => return Ok((BeginReply::Resend { page: text(1), errors: text(2) }, None, false)),
        "reset" => {
            let page = text(1);
            let st = resp_pairs(take(2)).into_iter().collect();
            return Ok((BeginReply::Reset { page, st, pinned: resp_pairs(take(3)) }, None, false));
        }
        "refresh" => return Ok((BeginReply::Refresh { acked: text(1) == "ack" }, None, false)),
        _ => {}
    }
    let acked = text(1) == "ack";
    let num = |t: String| t.parse::<f64>().map(|f| f as u64).unwrap_or(0);
    if kind == "fast" {
        let (n, errors, rt) = (text(2), text(3), text(4));
        return Ok((BeginReply::InStep { md_size: num(n), errors }, rt.parse::<f64>().ok(), false));
    }
    if kind != "build" {
        return Err(corrupt(format!("query script: unknown reply {kind:?}")));
    }
    // build: 2 v, 3 h, 4 n, 5 rt, 6 last, 7 st, 8 pin, 9 src, 10 slice, 11 md (of the
    // slice's ids then the pinned ones), 12 hist (id, text pairs: only what the belief can
    // consult), 13 latest (of the pinned ids; the slice carries its own), 14 sent (empty
    // when the map does not exist), 15 pending
    let head = PartitionHead { version: num(text(2)), horizon: num(text(3)), md_size: num(text(4)) };
    let refresh_time = text(5).parse::<f64>().ok();
    let slice_is_last = text(6) != "0";
    let st: HashMap<String, String> = resp_pairs(take(7)).into_iter().collect();
    let pinned = resp_pairs(take(8));
    let src = resp_pairs(take(9)).into_iter().collect();
    let slice: Vec<(String, u64)> = resp_pairs(take(10)).into_iter().map(|(id, score)| (id, num(score))).collect();
    let (md, deferred) = match take(11) {
        Some(redis::Value::BulkString(b)) if b == b"defer" => (Vec::new(), true),
        md => (resp_list(md), false),
    };
    let hist: HashMap<String, String> = resp_pairs(take(12)).into_iter().collect();
    let (latest, sent) = (resp_list(take(13)), resp_list(take(14)));
    let pending = match take(15) {
        Some(redis::Value::Array(parts)) => parts.into_iter().map(|p| resp_pairs(Some(p))).collect(),
        _ => Vec::new(),
    };
    let pinned_ids = pinned.iter().map(|(id, _)| id.as_str());
    let (records, sent_map) = page_records(pinned_ids, md, &slice, latest, sent, hist)?;
    let read = PageRead { head, st, pinned, src, slice, slice_is_last, records, sent: sent_map, pending };
    Ok((BeginReply::Build { acked, read: Box::new(read) }, refresh_time, deferred))
}

/// The records and sent entries of a page read, for the slice's ids then the pinned ones
/// (`pinned`, in the pinned map's order): `md` and `sent` aligned with them, `latest` with
/// the pinned part only (a slice id's latest version is its score), `hist` the histories
/// the script chose to read.
pub(super) fn page_records<'a>(
    pinned: impl Iterator<Item = &'a str>,
    md: Vec<Option<String>>,
    slice: &[(String, u64)],
    latest: Vec<Option<String>>,
    sent: Vec<Option<String>>,
    mut hist: HashMap<String, String>,
) -> Result<(HashMap<String, ObjectRecord>, SentEntries), StoreError> {
    let mut records = HashMap::with_capacity(slice.len());
    let mut sent_map = HashMap::new();
    let mut md = md.into_iter();
    let mut latest = latest.into_iter();
    let mut sent = sent.into_iter();
    let ids = slice.iter().map(|(id, score)| (id.as_str(), Some(*score))).chain(pinned.map(|id| (id, None)));
    for (id, score) in ids {
        let current = md.next().flatten();
        let sent_version = sent.next().flatten().and_then(|v| v.parse::<u64>().ok());
        let latest = match score {
            Some(score) => Some(score),
            None => latest.next().flatten().and_then(|s| s.parse::<f64>().ok()).map(|f| f as u64),
        };
        let history = match hist.remove(id) {
            Some(text) => parse_history(&text)?,
            // An id both in the slice and pinned comes twice; its history went to the first.
            None => records.get(id).map(|r: &ObjectRecord| r.history.clone()).unwrap_or_default(),
        };
        if let Some(n) = sent_version {
            sent_map.insert(id.to_owned(), n);
        }
        records.insert(id.to_owned(), ObjectRecord { current, latest, history });
    }
    Ok((records, sent_map))
}

/// What the query script was asked to do.
#[derive(Debug, Clone)]
pub struct BeginArgs<'a> {
    pub token: Option<&'a str>,
    pub now_secs: u64,
    pub poll_interval: i64,
    pub may_refresh: bool,
    pub slice_limit: usize,
    pub mode: BeginMode,
    pub start_override: Option<u64>,
    pub include_pinned: bool,
}

impl BeginArgs<'_> {
    /// The arguments of a [`BeginMode::Probe`] call: no token, no refresh, the first read of
    /// a request (pinned and pending documents included) with slices of `slice_limit`.
    pub fn probe(slice_limit: usize) -> BeginArgs<'static> {
        BeginArgs {
            token: None,
            now_secs: 0,
            poll_interval: 0,
            may_refresh: false,
            slice_limit,
            mode: BeginMode::Probe,
            start_override: None,
            include_pinned: true,
        }
    }
}

/// What the query script does before it reads (`lua/begin.lua`, ARGV 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeginMode {
    /// The token action and the refresh decision, then the read.
    Begin,
    /// Only the read (after a refresh, or the next slice of the same request).
    Read,
    /// Only the read, and only when a query without a token would do nothing else: no
    /// unacknowledged page and a refresh time recorded ([`BeginReply::Busy`] otherwise).
    /// Writes nothing, so it can run before the request is authenticated, in the same
    /// round trip as the lookup; the caller decides with [`refresh_due`] whether the
    /// recorded refresh time lets it use the read.
    Probe,
}

impl BeginMode {
    fn as_arg(self) -> &'static str {
        match self {
            BeginMode::Begin => "begin",
            BeginMode::Read => "read",
            BeginMode::Probe => "probe",
        }
    }
}

/// Whether a refresh is due at `now_secs` under `poll_interval` for a source whose next
/// refresh was recorded for `refresh_time` (the rule of `lua/begin.lua`: 0 = on every
/// query, -1 = never, n = every n seconds).
pub fn refresh_due(poll_interval: i64, refresh_time: f64, now_secs: u64) -> bool {
    poll_interval == 0 || (poll_interval != -1 && refresh_time <= now_secs as f64)
}

/// Everything the query script read for building a page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageRead {
    pub head: PartitionHead,
    pub st: HashMap<String, String>,
    pub pinned: Vec<(String, String)>,
    pub src: HashMap<String, String>,
    pub slice: Vec<(String, u64)>,
    pub slice_is_last: bool,
    pub records: HashMap<String, ObjectRecord>,
    pub sent: HashMap<String, u64>,
    /// links, cerr, uerr, derr, urb, cdel as read (field, value) lists.
    pub pending: Vec<Vec<(String, String)>>,
}

/// The reply of the query script.
#[derive(Debug, Clone, PartialEq)]
pub enum BeginReply {
    /// Resend the stored page; `errors` is the current source errors JSON.
    Resend { page: String, errors: String },
    /// A page is pending and no token came: undo it first.
    Reset { page: String, st: HashMap<String, String>, pinned: Vec<(String, String)> },
    /// Run the adapter first (the read state was advanced already).
    Refresh { acked: bool },
    /// The client is in step: empty page.
    InStep { md_size: u64, errors: String },
    /// Build a page from this snapshot.
    Build { acked: bool, read: Box<PageRead> },
    /// A probe found a pending page (its token) or no refresh time: run the full step.
    Busy { pending: Option<String> },
}

impl SyncStore {
    /// The query script (see `lua/begin.lua`).
    pub async fn begin(
        &self,
        pk: &PartitionKeys,
        ck: &ClientKeys,
        args: &BeginArgs<'_>,
    ) -> Result<BeginReply, StoreError> {
        let mut args = args.clone();
        let mut defer = Some(self.defer_bodies_over);
        let mut acked_first = None;
        loop {
            let reply: redis::Value = begin_invocation(pk, ck, &args, defer).invoke_async(&mut self.conn()).await?;
            let (mut reply, _, deferred) = parse_begin_reply(reply)?;
            if let (Some(first), BeginReply::Build { acked, .. }) = (acked_first, &mut reply) {
                *acked = first;
            }
            if !deferred || self.read_deferred_bodies(pk, &mut reply).await? {
                return Ok(reply);
            }
            // The partition changed after the script read it: read again, bodies and all,
            // in one step (the token action and refresh decision of the first call stand).
            acked_first = Some(matches!(reply, BeginReply::Build { acked: true, .. }));
            args.mode = BeginMode::Read;
            defer = None;
        }
    }

    /// Fills in the bodies of a read whose script left them to the caller: one plain
    /// `HMGET` with the partition version in the same pipeline. `false` (and nothing
    /// filled) when the version moved since the script's read, so the bodies could be
    /// newer than the rest of the snapshot.
    async fn read_deferred_bodies(&self, pk: &PartitionKeys, reply: &mut BeginReply) -> Result<bool, StoreError> {
        let BeginReply::Build { read, .. } = reply else { return Ok(true) };
        let read = &mut **read;
        let ids: Vec<&str> =
            read.slice.iter().map(|(id, _)| id.as_str()).chain(read.pinned.iter().map(|(id, _)| id.as_str())).collect();
        let (bodies, version): (Vec<Option<String>>, Option<String>) = redis::pipe()
            .cmd("HMGET")
            .arg(&pk.md)
            .arg(&ids)
            .cmd("HGET")
            .arg(&pk.head)
            .arg("v")
            .query_async(&mut self.conn())
            .await?;
        let version = version.and_then(|v| v.parse::<f64>().ok()).map_or(0, |v| v as u64);
        if version != read.head.version {
            return Ok(false);
        }
        drop(ids);
        let n = read.slice.len();
        for (i, body) in bodies.into_iter().enumerate() {
            let id = if i < n { &read.slice[i].0 } else { &read.pinned[i - n].0 };
            if let Some(record) = read.records.get_mut(id) {
                record.current = body;
            }
        }
        Ok(true)
    }

    /// `GET` of each of `keys` (any slots) and, in the same round trip, the query script in
    /// [`BeginMode::Probe`] for one (client, source): a no-change sync needs no other round
    /// trip, and a page's read is already done. Also returns the refresh time the probe saw.
    pub async fn get_many_and_probe(
        &self,
        keys: &[&str],
        pk: &PartitionKeys,
        ck: &ClientKeys,
        slice_limit: usize,
    ) -> Result<(Vec<Option<String>>, BeginReply, Option<f64>), StoreError> {
        let inv = begin_invocation(pk, ck, &BeginArgs::probe(slice_limit), Some(self.defer_bodies_over));
        let mut pipe = gets(keys);
        pipe.invoke_script(&inv);
        let mut replies: Vec<redis::Value> = self.query_with_script(&pipe, &inv).await?;
        let probe = replies.pop().ok_or_else(|| corrupt("probe: no reply"))?;
        let values = replies
            .into_iter()
            .map(redis::from_redis_value)
            .collect::<Result<Vec<Option<String>>, _>>()
            .map_err(redis::RedisError::from)?;
        let (mut reply, refresh_time, deferred) = parse_begin_reply(probe)?;
        if deferred && !self.read_deferred_bodies(pk, &mut reply).await? {
            // The partition changed meanwhile: the request takes the full step instead.
            reply = BeginReply::Busy { pending: None };
        }
        Ok((values, reply, refresh_time))
    }
}

/// One call of the query script with `args` for (`pk`, `ck`).
fn begin_invocation(
    pk: &PartitionKeys,
    ck: &ClientKeys,
    args: &BeginArgs<'_>,
    defer_bodies_over: Option<usize>,
) -> redis::ScriptInvocation<'static> {
    let mut inv = script().prepare_invoke();
    inv.key(&ck.st).key(&ck.pin).key(&ck.sent).key(&ck.page);
    inv.key(&pk.rs).key(&pk.head).key(&pk.src).key(&pk.md).key(&pk.idx).key(&pk.hist);
    for k in ck.pending() {
        inv.key(k);
    }
    inv.arg(if args.token.is_some() { "1" } else { "0" })
        .arg(args.token.unwrap_or(""))
        .arg(args.now_secs)
        .arg(args.poll_interval)
        .arg(if args.may_refresh { "1" } else { "0" })
        .arg(args.slice_limit)
        .arg(args.mode.as_arg())
        .arg(args.start_override.map(|s| s.to_string()).unwrap_or_default())
        .arg(if args.include_pinned { "1" } else { "0" })
        .arg(defer_bodies_over.map(|n| n.to_string()).unwrap_or_default());
    inv
}
