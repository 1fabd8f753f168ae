//! The Redis side of the sync engine: the four Lua scripts (one atomic step each) and the
//! few plain reads and writes around them. Layout: [`super::keys`]. What each request kind
//! reads and writes follows the store contract in `rhosync_engine::model`'s module docs.
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
//! outcome after losing its client documents, sync-engine.md §4.4). The same applies to a
//! client whose scan cycle was still running when the horizon passed a deletion it had not
//! reached yet, which only the event cap can cause within the retention window.
//! Events written before `hlog` existed are only dropped when a newer event of the same
//! object is pruned.

use std::collections::HashMap;

use indexmap::IndexMap;
use redis::aio::ConnectionManager;
use redis::Script;
use rhosync_engine::model::{
    Base, ClientCursor, ClientSyncState, HistoryEvent, ObjectRecord, PartitionHead, SentWrites, VersionedChange,
};
use rhosync_engine::values::Body;

use super::keys::{ClientKeys, PartitionKeys};
use crate::edges::RedisEdge;

/// Text of one RESP item of a script reply (bulk or simple string, or an integer), taking
/// the bytes over rather than copying them.
fn resp_text(v: redis::Value) -> Option<String> {
    match v {
        redis::Value::BulkString(b) => Some(String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())),
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
/// refresh time a probe saw.
fn parse_begin_reply(reply: redis::Value) -> Result<(BeginReply, Option<f64>), StoreError> {
    let redis::Value::Array(items) = reply else { return Err(corrupt("query script: not an array")) };
    let mut items: Vec<Option<redis::Value>> = items.into_iter().map(Some).collect();
    let mut take = |i: usize| items.get_mut(i).and_then(Option::take);
    let mut text = |i: usize| take(i).and_then(resp_text).unwrap_or_default();
    let kind = text(0);
    match kind.as_str() {
        "busy" => return Ok((BeginReply::Busy, None)),
        "resend" => return Ok((BeginReply::Resend { page: text(1), errors: text(2) }, None)),
        "reset" => {
            let page = text(1);
            let st = resp_pairs(take(2)).into_iter().collect();
            return Ok((BeginReply::Reset { page, st, pinned: resp_pairs(take(3)) }, None));
        }
        "refresh" => return Ok((BeginReply::Refresh { acked: text(1) == "ack" }, None)),
        _ => {}
    }
    let acked = text(1) == "ack";
    let num = |t: String| t.parse::<f64>().map(|f| f as u64).unwrap_or(0);
    if kind == "fast" {
        let (n, errors, rt) = (text(2), text(3), text(4));
        return Ok((BeginReply::InStep { md_size: num(n), errors }, rt.parse::<f64>().ok()));
    }
    if kind != "build" {
        return Err(corrupt(format!("query script: unknown reply {kind:?}")));
    }
    // build: 2 v, 3 h, 4 n, 5 rt, 6 last, 7 st, 8 pin, 9 src, 10 slice, 11 ids, 12 md,
    // 13 hist, 14 latest, 15 sent, 16 pending
    let head = PartitionHead { version: num(text(2)), horizon: num(text(3)), md_size: num(text(4)) };
    let refresh_time = text(5).parse::<f64>().ok();
    let slice_is_last = text(6) != "0";
    let st: HashMap<String, String> = resp_pairs(take(7)).into_iter().collect();
    let pinned = resp_pairs(take(8));
    let src = resp_pairs(take(9)).into_iter().collect();
    let slice: Vec<(String, u64)> = resp_pairs(take(10)).into_iter().map(|(id, score)| (id, num(score))).collect();
    let (ids, md, hist, latest, sent) =
        (resp_list(take(11)), resp_list(take(12)), resp_list(take(13)), resp_list(take(14)), resp_list(take(15)));
    let pending = match take(16) {
        Some(redis::Value::Array(parts)) => parts.into_iter().map(|p| resp_pairs(Some(p))).collect(),
        _ => Vec::new(),
    };
    // A client holding nothing believes nothing about an object it was not sent in this
    // cycle: that object's history is never consulted, so it is not parsed.
    let base_empty = matches!(st.get("base").map(String::as_str), None | Some("e"));
    let mut records = HashMap::with_capacity(ids.len());
    let mut sent_map = HashMap::new();
    let mut md = md.into_iter();
    let mut hist = hist.into_iter();
    for (i, id) in ids.into_iter().enumerate() {
        let (current, history_text) = (md.next().flatten(), hist.next().flatten());
        let Some(id) = id else { continue };
        let sent_version = sent.get(i).and_then(Option::as_deref).and_then(|v| v.parse::<u64>().ok());
        let history = match history_text {
            Some(text) if !base_empty || sent_version.is_some() => parse_history(&text)?,
            _ => Vec::new(),
        };
        let record = ObjectRecord {
            current,
            latest: latest.get(i).and_then(Option::as_deref).and_then(|s| s.parse::<f64>().ok()).map(|f| f as u64),
            history,
        };
        if let Some(n) = sent_version {
            sent_map.insert(id.clone(), n);
        }
        records.insert(id, record);
    }
    let read = PageRead { head, st, pinned, src, slice, slice_is_last, records, sent: sent_map, pending };
    Ok((BeginReply::Build { acked, read: Box::new(read) }, refresh_time))
}

/// A pipeline of one `GET` per key.
fn gets(keys: &[&str]) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    for k in keys {
        pipe.cmd("GET").arg(*k);
    }
    pipe
}

/// `HMGET head v h n` as read.
type RawHead = (Option<u64>, Option<u64>, Option<u64>);

const COMMON: &str = include_str!("lua/common.lua");

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

/// The compiled scripts (EVALSHA with automatic load).
pub struct Scripts {
    begin: Script,
    commit: Script,
    apply: Script,
    finish: Script,
}

impl Scripts {
    fn new() -> Self {
        let with_common = |body: &str| Script::new(&format!("{COMMON}\n{body}"));
        Self {
            begin: with_common(include_str!("lua/begin.lua")),
            commit: with_common(include_str!("lua/commit.lua")),
            apply: with_common(include_str!("lua/apply.lua")),
            finish: with_common(include_str!("lua/finish_refresh.lua")),
        }
    }
}

/// Largest number of md changes written by one script call; bigger refreshes are
/// written in several calls, each leaving a consistent prefix of the changes.
pub const APPLY_CHUNK: usize = 5_000;

/// How much change history a write keeps (see "History retention" above).
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

/// The sync store over one Redis connection.
#[derive(Clone)]
pub struct SyncStore {
    pub redis: RedisEdge,
    scripts: std::sync::Arc<Scripts>,
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
#[derive(Debug, Clone, Default)]
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
#[derive(Debug, Clone)]
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
    /// A probe found a pending page or no refresh time: run the full step.
    Busy,
}

/// One page's writes for one client (applied by the commit script).
#[derive(Debug, Clone, Default)]
pub struct Commit {
    /// The `gen` the state had when read (optimistic check).
    pub gen: String,
    /// State fields to set (`None`: delete).
    pub st: Vec<(&'static str, Option<String>)>,
    pub pin_set: Vec<(String, String)>,
    pub pin_del: Vec<String>,
    pub sent: SentWrites,
    /// `None`: leave the stored page; `Some(None)`: delete it; `Some(Some(json))`: store it.
    pub page: Option<Option<String>>,
    /// Fields consumed from the six pending hashes (links, cerr, uerr, derr, urb, cdel).
    pub consume: [Vec<String>; 6],
    /// Fields added to the six pending hashes.
    pub add: [Vec<(String, String)>; 6],
}

fn parse_history(text: &str) -> Result<Vec<HistoryEvent>, StoreError> {
    let events: Vec<(u64, Option<String>)> = serde_json::from_str(text).map_err(corrupt)?;
    Ok(events.into_iter().map(|(version, before)| HistoryEvent { version, before }).collect())
}

/// A history event as the apply script appends it.
fn history_event(version: u64, before: Option<&Body>) -> String {
    serde_json::to_string(&(version, before)).unwrap_or_else(|_| format!("[{version},null]"))
}

fn parse_num(s: Option<&String>) -> u64 {
    s.and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// The client's sync state from its `st` and `pin` hashes.
pub fn client_state(st: &HashMap<String, String>, pinned: &[(String, String)]) -> ClientSyncState {
    let base = match st.get("base").map(String::as_str) {
        Some(v) if v != "e" => v.parse().map(Base::At).unwrap_or(Base::Empty),
        _ => Base::Empty,
    };
    let scan = st.get("scan").and_then(|s| s.parse().ok());
    let pinned = pinned
        .iter()
        .map(|(id, body)| (id.clone(), (!body.is_empty()).then(|| body.clone())))
        .collect();
    ClientSyncState { cursor: ClientCursor { base, scan }, pinned }
}

/// State fields for a cursor.
pub fn cursor_fields(cursor: &ClientCursor) -> [(&'static str, Option<String>); 2] {
    let base = match cursor.base {
        Base::Empty => "e".to_owned(),
        Base::At(v) => v.to_string(),
    };
    [("base", Some(base)), ("scan", cursor.scan.map(|s| s.to_string()))]
}

/// Pin writes turning `old` pinned entries into `new` ones.
pub fn pin_delta(old: &ClientSyncState, new: &ClientSyncState) -> (Vec<(String, String)>, Vec<String>) {
    let set = new
        .pinned
        .iter()
        .filter(|(id, body)| old.pinned.get(*id) != Some(*body))
        .map(|(id, body)| (id.clone(), body.clone().unwrap_or_default()))
        .collect();
    let del = old.pinned.keys().filter(|id| !new.pinned.contains_key(*id)).cloned().collect();
    (set, del)
}

impl SyncStore {
    pub fn new(redis: RedisEdge) -> Self {
        Self { redis, scripts: std::sync::Arc::new(Scripts::new()) }
    }

    fn conn(&self) -> ConnectionManager {
        self.redis.conn()
    }

    /// The query script (see `lua/begin.lua`).
    pub async fn begin(&self, pk: &PartitionKeys, ck: &ClientKeys, args: &BeginArgs<'_>) -> Result<BeginReply, StoreError> {
        let reply: redis::Value = self.begin_invocation(pk, ck, args).invoke_async(&mut self.conn()).await?;
        Ok(parse_begin_reply(reply)?.0)
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
        let inv = self.begin_invocation(pk, ck, &BeginArgs::probe(slice_limit));
        let mut pipe = gets(keys);
        pipe.invoke_script(&inv);
        let mut replies: Vec<redis::Value> = match pipe.query_async(&mut self.conn()).await {
            Ok(replies) => replies,
            // A Redis that restarted or was flushed has forgotten the script: load it, retry once.
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                let _: String = inv.load_async(&mut self.conn()).await?;
                pipe.query_async(&mut self.conn()).await?
            }
            Err(e) => return Err(e.into()),
        };
        let probe = replies.pop().ok_or_else(|| corrupt("probe: no reply"))?;
        let values = replies
            .into_iter()
            .map(redis::from_redis_value)
            .collect::<Result<Vec<Option<String>>, _>>()
            .map_err(redis::RedisError::from)?;
        let (reply, refresh_time) = parse_begin_reply(probe)?;
        Ok((values, reply, refresh_time))
    }

    fn begin_invocation<'a>(&'a self, pk: &PartitionKeys, ck: &ClientKeys, args: &BeginArgs<'_>) -> redis::ScriptInvocation<'a> {
        let mut inv = self.scripts.begin.prepare_invoke();
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
            .arg(if args.include_pinned { "1" } else { "0" });
        inv
    }

    /// Writes one page outcome; `false` when the client state changed since it was read.
    /// The arguments are flat (`lua/commit.lua` documents the layout).
    pub async fn commit(&self, ck: &ClientKeys, c: &Commit) -> Result<bool, StoreError> {
        let mut inv = self.scripts.commit.prepare_invoke();
        inv.key(&ck.st).key(&ck.pin).key(&ck.sent).key(&ck.page);
        for k in ck.pending() {
            inv.key(k);
        }
        let (page_action, page_text) = match &c.page {
            None => ("", ""),
            Some(None) => ("del", ""),
            Some(Some(json)) => ("set", json.as_str()),
        };
        inv.arg(&c.gen).arg(page_action).arg(page_text).arg(if c.sent.clear { "1" } else { "0" });
        let st_set: Vec<(&str, &str)> = c.st.iter().filter_map(|(k, v)| v.as_deref().map(|v| (*k, v))).collect();
        inv.arg(st_set.len() * 2);
        for (k, v) in &st_set {
            inv.arg(*k).arg(*v);
        }
        let st_del: Vec<&str> = c.st.iter().filter(|(_, v)| v.is_none()).map(|(k, _)| *k).collect();
        inv.arg(st_del.len()).arg(&st_del);
        inv.arg(c.pin_del.len()).arg(&c.pin_del);
        inv.arg(c.pin_set.len() * 2);
        for (id, body) in &c.pin_set {
            inv.arg(id).arg(body);
        }
        inv.arg(c.sent.remove.len());
        for id in &c.sent.remove {
            inv.arg(id);
        }
        inv.arg(c.sent.set.len() * 2);
        for (id, v) in &c.sent.set {
            inv.arg(id).arg(*v);
        }
        for k in 0..6 {
            inv.arg(c.consume[k].len()).arg(&c.consume[k]);
            inv.arg(c.add[k].len() * 2);
            for (field, value) in &c.add[k] {
                inv.arg(field).arg(value);
            }
        }
        let out: String = inv.invoke_async(&mut self.conn()).await?;
        Ok(out == "ok")
    }

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
    pub async fn read_bodies(&self, pk: &PartitionKeys, ids: &[String]) -> Result<(PartitionHead, HashMap<String, Body>), StoreError> {
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("HMGET").arg(&pk.head).arg("v").arg("h").arg("n");
        if ids.is_empty() {
            let (head,): (RawHead,) = pipe.query_async(&mut self.conn()).await?;
            return Ok((head_of(head), HashMap::new()));
        }
        pipe.cmd("HMGET").arg(&pk.md).arg(ids);
        let (head, bodies): (RawHead, Vec<Option<Body>>) =
            pipe.query_async(&mut self.conn()).await?;
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
        let mut head = expected;
        for (i, chunk) in changes.chunks(APPLY_CHUNK).enumerate() {
            let mut next = head;
            let mut inv = self.scripts.apply.prepare_invoke();
            inv.key(&pk.md).key(&pk.idx).key(&pk.hist).key(&pk.head).key(&pk.hlog);
            let mut args: Vec<String> = Vec::with_capacity(chunk.len() * 4);
            for vc in chunk {
                let c = &vc.change;
                match (&c.before, &c.after) {
                    (None, Some(_)) => next.md_size += 1,
                    (Some(_), None) => next.md_size = next.md_size.saturating_sub(1),
                    _ => {}
                }
                next.version = vc.version;
                args.push(c.id.clone());
                args.push(vc.version.to_string());
                args.push(c.after.clone().unwrap_or_default());
                args.push(history_event(vc.version, c.before.as_ref()));
            }
            inv.arg(head.version)
                .arg(next.version)
                .arg(next.md_size)
                .arg(policy.now_secs)
                .arg(policy.now_secs.saturating_sub(policy.retention_secs))
                .arg(policy.cap(next.md_size))
                .arg(policy.budget(chunk.len()))
                .arg(args);
            let ok: i64 = inv.invoke_async(&mut self.conn()).await?;
            if ok != 1 {
                if i == 0 {
                    return Ok(false);
                }
                return Err(corrupt("the partition changed in the middle of a chunked write"));
            }
            head = next;
        }
        Ok(true)
    }

    /// Records a refresh outcome (see `lua/finish_refresh.lua`).
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_refresh(
        &self,
        pk: &PartitionKeys,
        errors: Option<&str>,
        metadata: Option<(&str, &str)>,
        schema: Option<(&str, &str)>,
        failed: bool,
        poll_interval: i64,
        retry_limit: i64,
        now: u64,
    ) -> Result<(), StoreError> {
        let mut inv = self.scripts.finish.prepare_invoke();
        inv.key(&pk.src).key(&pk.rs);
        inv.arg(errors.unwrap_or(""))
            .arg(metadata.map_or("-", |m| m.0))
            .arg(metadata.map_or("", |m| m.1))
            .arg(schema.map_or("-", |s| s.0))
            .arg(schema.map_or("", |s| s.1))
            .arg(if failed { "1" } else { "0" })
            .arg(poll_interval)
            .arg(retry_limit)
            .arg(now);
        let _: i64 = inv.invoke_async(&mut self.conn()).await?;
        Ok(())
    }

    /// A string value.
    pub async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(redis::cmd("GET").arg(key).query_async(&mut self.conn()).await?)
    }

    /// Sets (or deletes, for `None`) a string value, with an optional TTL.
    pub async fn set(&self, key: &str, value: Option<&str>, ttl_secs: Option<u64>) -> Result<(), StoreError> {
        let cmd = match value {
            None => {
                let mut c = redis::cmd("DEL");
                c.arg(key);
                c
            }
            Some(v) => {
                let mut c = redis::cmd("SET");
                c.arg(key).arg(v);
                if let Some(ttl) = ttl_secs {
                    c.arg("EX").arg(ttl);
                }
                c
            }
        };
        let _: () = cmd.query_async(&mut self.conn()).await?;
        Ok(())
    }

    /// Two string values in one round trip (a pipeline; the keys may live in different slots).
    pub async fn get_two(&self, a: &str, b: &str) -> Result<(Option<String>, Option<String>), StoreError> {
        Ok(redis::pipe().cmd("GET").arg(a).cmd("GET").arg(b).query_async(&mut self.conn()).await?)
    }

    /// String values of keys in any slots, in one round trip (a pipeline of `GET`s).
    pub async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<String>>, StoreError> {
        Ok(gets(keys).query_async(&mut self.conn()).await?)
    }

    /// Deletes keys of one slot.
    pub async fn del(&self, keys: &[&str]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let _: () = redis::cmd("DEL").arg(keys).query_async(&mut self.conn()).await?;
        Ok(())
    }

    pub async fn hgetall(&self, key: &str) -> Result<Vec<(String, String)>, StoreError> {
        Ok(redis::cmd("HGETALL").arg(key).query_async(&mut self.conn()).await?)
    }

    pub async fn hget(&self, key: &str, field: &str) -> Result<Option<String>, StoreError> {
        Ok(redis::cmd("HGET").arg(key).arg(field).query_async(&mut self.conn()).await?)
    }

    /// Sets (or deletes, for `None`) hash fields.
    pub async fn hset(&self, key: &str, fields: &[(&str, Option<String>)]) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (f, v) in fields {
            match v {
                Some(v) => pipe.cmd("HSET").arg(key).arg(*f).arg(v).ignore(),
                None => pipe.cmd("HDEL").arg(key).arg(*f).ignore(),
            };
        }
        let _: () = pipe.query_async(&mut self.conn()).await?;
        Ok(())
    }

    /// Adds fields to a hash.
    pub async fn hset_many(&self, key: &str, pairs: &[(String, String)]) -> Result<(), StoreError> {
        if pairs.is_empty() {
            return Ok(());
        }
        let _: () = redis::cmd("HSET").arg(key).arg(pairs).query_async(&mut self.conn()).await?;
        Ok(())
    }

    /// The whole change index with scores (store API only: O(n)).
    pub async fn index(&self, pk: &PartitionKeys) -> Result<Vec<(String, u64)>, StoreError> {
        let raw: Vec<(String, f64)> =
            redis::cmd("ZRANGE").arg(&pk.idx).arg(0).arg(-1).arg("WITHSCORES").query_async(&mut self.conn()).await?;
        Ok(raw.into_iter().map(|(id, s)| (id, s as u64)).collect())
    }

    /// Records of `ids` (store API only).
    pub async fn records(&self, pk: &PartitionKeys, ids: &[String]) -> Result<(PartitionHead, HashMap<String, ObjectRecord>), StoreError> {
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

fn head_of((v, h, n): RawHead) -> PartitionHead {
    PartitionHead { version: v.unwrap_or(0), horizon: h.unwrap_or(0), md_size: n.unwrap_or(0) }
}

/// Reads `n` from a state map.
pub fn st_num(st: &HashMap<String, String>, key: &str) -> u64 {
    parse_num(st.get(key))
}
