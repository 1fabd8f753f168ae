//! The commit script (`lua/commit.lua`): the `gen` check, then the writes in the script's
//! order (a Redis script stops at its first error without undoing what it wrote, and so
//! does this).

use super::super::keys::ClientKeys;
use super::super::{Commit, StoreError};
use super::db::Db;

/// `false` (nothing written) when the state's `gen` is not `c.gen`.
pub(super) fn commit(db: &mut Db, ck: &ClientKeys, c: &Commit) -> Result<bool, StoreError> {
    let gen = db.hget(&ck.st, "gen")?.unwrap_or_default();
    if c.gen != gen {
        return Ok(false);
    }
    db.hincr_by(&ck.st, "gen", 1)?;
    let st_set: Vec<(&str, &str)> = c.st.iter().filter_map(|(k, v)| v.as_deref().map(|v| (*k, v))).collect();
    if !st_set.is_empty() {
        db.hset(&ck.st, &st_set)?;
    }
    let st_del: Vec<&str> = c.st.iter().filter(|(_, v)| v.is_none()).map(|(k, _)| *k).collect();
    db.hdel(&ck.st, &st_del)?;
    db.hdel(&ck.pin, &c.pin_del)?;
    if !c.pin_set.is_empty() {
        db.hset(&ck.pin, &pairs(&c.pin_set))?;
    }
    if c.sent.clear {
        db.del(&ck.sent);
    }
    let sent_del: Vec<&str> = c.sent.remove.iter().map(String::as_str).collect();
    db.hdel(&ck.sent, &sent_del)?;
    if !c.sent.set.is_empty() {
        let texts: Vec<(&str, String)> = c.sent.set.iter().map(|(id, v)| (id.as_str(), v.to_string())).collect();
        let sent_set: Vec<(&str, &str)> = texts.iter().map(|(id, v)| (*id, v.as_str())).collect();
        db.hset(&ck.sent, &sent_set)?;
    }
    match &c.page {
        None => {}
        Some(None) => {
            db.del(&ck.page);
        }
        Some(Some(json)) => db.set(&ck.page, json, None, "set")?,
    }
    for (k, key) in ck.pending().into_iter().enumerate() {
        db.hdel(key, &c.consume[k])?;
        if !c.add[k].is_empty() {
            db.hset(key, &pairs(&c.add[k]))?;
        }
    }
    Ok(true)
}

fn pairs(items: &[(String, String)]) -> Vec<(&str, &str)> {
    items.iter().map(|(f, v)| (f.as_str(), v.as_str())).collect()
}
