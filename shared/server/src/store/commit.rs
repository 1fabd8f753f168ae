//! A client's state documents for one source: read into the engine's
//! [`ClientSyncState`] ([`client_state`]), and written back one page at a time by the
//! commit script (`lua/commit.lua`), which checks the state's `gen` so two concurrent
//! syncs of the same client and source cannot both write.

use std::collections::HashMap;
use std::sync::OnceLock;

use redis::Script;
use rhosync_engine::model::{Base, ClientCursor, ClientSyncState, PageMark, SentWrites};

use super::keys::ClientKeys;
use super::{with_common, StoreError, SyncStore};

fn script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| with_common(include_str!("lua/commit.lua")))
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
    // Marks belong to a running cycle only.
    let marks = match scan {
        Some(_) => parse_marks(st.get("pm").map(String::as_str)),
        None => Vec::new(),
    };
    let pinned = pinned.iter().map(|(id, body)| (id.clone(), (!body.is_empty()).then(|| body.clone()))).collect();
    ClientSyncState { cursor: ClientCursor { base, scan, marks }, pinned }
}

/// State fields for a cursor: `base`, `scan` and the page marks `pm` ([`marks_field`]).
pub fn cursor_fields(cursor: &ClientCursor) -> [(&'static str, Option<String>); 3] {
    let base = match cursor.base {
        Base::Empty => "e".to_owned(),
        Base::At(v) => v.to_string(),
    };
    [("base", Some(base)), ("scan", cursor.scan.map(|s| s.to_string())), ("pm", marks_field(&cursor.marks))]
}

/// The `pm` field: `read:scan` pairs joined by `,` (`None`: no marks). `lua/begin.lua`
/// reads the first pair's `read`.
fn marks_field(marks: &[PageMark]) -> Option<String> {
    if marks.is_empty() {
        return None;
    }
    let parts: Vec<String> = marks.iter().map(|m| format!("{}:{}", m.read, m.scan)).collect();
    Some(parts.join(","))
}

/// Parses [`marks_field`]; a malformed field reads as no marks.
fn parse_marks(field: Option<&str>) -> Vec<PageMark> {
    let Some(text) = field.filter(|t| !t.is_empty()) else { return Vec::new() };
    let mut out = Vec::new();
    for part in text.split(',') {
        let Some((r, s)) = part.split_once(':') else { return Vec::new() };
        match (r.parse(), s.parse()) {
            (Ok(read), Ok(scan)) => out.push(PageMark { read, scan }),
            _ => return Vec::new(),
        }
    }
    out
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

/// Reads `n` from a state map.
pub fn st_num(st: &HashMap<String, String>, key: &str) -> u64 {
    parse_num(st.get(key))
}

/// Page texts of at least this many bytes are staged under a key of their own
/// ([`SyncStore::commit`]); smaller ones travel as a script argument.
const STAGE_PAGES_FROM: usize = 16 * 1024;

/// How long a staged page outlives a commit that never ran (the process died between).
const STAGED_PAGE_TTL_SECS: u64 = 600;

impl SyncStore {
    /// Writes one page outcome; `false` when the client state changed since it was read.
    /// The arguments are flat (`lua/commit.lua` documents the layout).
    pub async fn commit(&self, ck: &ClientKeys, c: &Commit) -> Result<bool, StoreError> {
        let mut inv = script().prepare_invoke();
        inv.key(&ck.st).key(&ck.pin).key(&ck.sent).key(&ck.page);
        for k in ck.pending() {
            inv.key(k);
        }
        // A large page goes to a key of its own by a plain SET in the same pipeline, and
        // the script renames it into place: Redis copies a script argument several times.
        let staged = match &c.page {
            Some(Some(json)) if json.len() >= STAGE_PAGES_FROM => {
                Some((format!("{}:new:{:016x}", ck.page, rand::random::<u64>()), json.as_str()))
            }
            _ => None,
        };
        let (page_action, page_text) = match (&c.page, &staged) {
            (_, Some((key, _))) => {
                inv.key(key);
                ("move", "")
            }
            (None, _) => ("", ""),
            (Some(None), _) => ("del", ""),
            (Some(Some(json)), None) => ("set", json.as_str()),
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
        let Some((key, text)) = staged else {
            let out: String = inv.invoke_async(&mut self.conn()).await?;
            return Ok(out == "ok");
        };
        let mut pipe = redis::pipe();
        pipe.cmd("SET").arg(&key).arg(text).arg("EX").arg(STAGED_PAGE_TTL_SECS).ignore();
        pipe.invoke_script(&inv);
        let (out,): (String,) = self.query_with_script(&pipe, &inv).await?;
        Ok(out == "ok")
    }
}
