//! The keyspace of the in-memory store: strings, hashes and sorted sets with expiry
//! instants, and the Redis commands the store uses over them, with Redis's answers —
//! `WRONGTYPE` on a key of another type, an empty hash or sorted set ceasing to exist, an
//! expired key being absent, `EXPIRE` with a non-positive TTL deleting the key.
//!
//! Hash fields keep their insertion order, as small hashes do in Redis (its `listpack`
//! encoding); callers must not depend on the order of large ones, which Redis does not keep.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

use indexmap::IndexMap;

use super::super::StoreError;
use super::lua::error;

/// A key's value.
#[derive(Debug, Clone)]
pub(super) enum Value {
    Str(String),
    Hash(IndexMap<String, String>),
    ZSet(ZSet),
}

#[derive(Debug, Clone)]
struct Entry {
    value: Value,
    /// Microseconds since the epoch after which the key is gone.
    expires_at: Option<u64>,
}

fn wrong_type() -> StoreError {
    error("WRONGTYPE Operation against a key holding the wrong kind of value")
}

/// A sorted-set score, ordered as Redis orders them (numerically; `-0` is `0`).
#[derive(Debug, Clone, Copy)]
struct Score(f64);

impl PartialEq for Score {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Score {}
impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Score {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A sorted set: members ordered by score, then bytewise by member (Redis's order).
#[derive(Debug, Clone, Default)]
pub(super) struct ZSet {
    scores: HashMap<String, f64>,
    order: BTreeSet<(Score, String)>,
}

impl ZSet {
    fn insert(&mut self, member: &str, score: f64) {
        let score = if score == 0.0 { 0.0 } else { score };
        if let Some(old) = self.scores.insert(member.to_owned(), score) {
            self.order.remove(&(Score(old), member.to_owned()));
        }
        self.order.insert((Score(score), member.to_owned()));
    }

    fn remove(&mut self, member: &str) -> bool {
        match self.scores.remove(member) {
            Some(old) => self.order.remove(&(Score(old), member.to_owned())),
            None => false,
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.order.iter().map(|(s, m)| (m.as_str(), s.0))
    }
}

/// The ranks `start..=stop` of a collection of `len` (negative ranks count from the end),
/// as `ZRANGE` and `ZREMRANGEBYRANK` clamp them; `None` when the range is empty.
fn rank_range(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let start = if start < 0 { (len + start).max(0) } else { start };
    let stop = if stop < 0 { len + stop } else { stop };
    if start > stop || start >= len {
        return None;
    }
    Some((start as usize, stop.min(len - 1) as usize))
}

/// Redis's strict integer parsing of a stored value (`string2ll`): no sign but `-`, no
/// leading zeros, no spaces.
pub(super) fn redis_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let well_formed = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" && !s.starts_with('-') || !digits.starts_with('0'));
    if well_formed {
        s.parse().ok()
    } else {
        None
    }
}

/// A score argument as Redis parses it: a float without surrounding spaces, never NaN.
pub(super) fn redis_score(s: &str) -> Result<f64, StoreError> {
    let parsed = if s.starts_with(|c: char| c.is_ascii_whitespace()) { None } else { s.parse::<f64>().ok() };
    parsed.filter(|f| !f.is_nan()).ok_or_else(|| error("ERR value is not a valid float"))
}

/// The keyspace. Every method is one Redis command; `now` is the time of the current call
/// (a script sees one time throughout, as in Redis).
#[derive(Debug, Default)]
pub(super) struct Db {
    entries: HashMap<String, Entry>,
    now: u64,
}

impl Db {
    /// Sets the time of the call about to run (µs since the epoch).
    pub fn at(&mut self, now_micros: u64) -> &mut Self {
        self.now = now_micros;
        self
    }

    fn expired(&self, e: &Entry) -> bool {
        e.expires_at.is_some_and(|at| self.now > at)
    }

    fn entry(&mut self, key: &str) -> Option<&mut Entry> {
        if self.entries.get(key).is_some_and(|e| self.expired(e)) {
            self.entries.remove(key);
        }
        self.entries.get_mut(key)
    }

    fn value(&mut self, key: &str) -> Option<&mut Value> {
        self.entry(key).map(|e| &mut e.value)
    }

    /// The live keys (for `SCAN`).
    pub fn live_keys(&self) -> Vec<String> {
        self.entries.iter().filter(|(_, e)| !self.expired(e)).map(|(k, _)| k.clone()).collect()
    }

    // --- keys

    pub fn exists(&mut self, key: &str) -> bool {
        self.entry(key).is_some()
    }

    /// `TYPE`.
    pub fn kind(&mut self, key: &str) -> &'static str {
        match self.value(key) {
            None => "none",
            Some(Value::Str(_)) => "string",
            Some(Value::Hash(_)) => "hash",
            Some(Value::ZSet(_)) => "zset",
        }
    }

    pub fn del(&mut self, key: &str) -> bool {
        self.entry(key).is_some() && self.entries.remove(key).is_some()
    }

    /// `EXPIRE key secs` (`secs` as sent: a non-integer is an error, ≤ 0 deletes).
    pub fn expire(&mut self, key: &str, secs: &str) -> Result<bool, StoreError> {
        let secs: i64 = secs.parse().map_err(|_| error("ERR value is not an integer or out of range"))?;
        if secs.checked_mul(1000).is_none() {
            return Err(error("ERR invalid expire time in 'expire' command"));
        }
        let now = self.now;
        let Some(e) = self.entry(key) else { return Ok(false) };
        if secs <= 0 {
            self.entries.remove(key);
        } else {
            e.expires_at = Some(now.saturating_add((secs as u64).saturating_mul(1_000_000)));
        }
        Ok(true)
    }

    // --- strings

    pub fn get(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s.clone())),
            Some(_) => Err(wrong_type()),
        }
    }

    /// `SET key value [EX secs]` (`command` names the command in the error of a bad TTL):
    /// replaces a value of any type and its TTL.
    pub fn set(&mut self, key: &str, value: &str, ex: Option<&str>, command: &str) -> Result<(), StoreError> {
        let expires_at = match ex {
            None => None,
            Some(secs) => {
                let secs: i64 = secs.parse().map_err(|_| error("ERR value is not an integer or out of range"))?;
                if secs <= 0 || secs.checked_mul(1000).is_none() {
                    return Err(error(format!("ERR invalid expire time in '{command}' command")));
                }
                Some(self.now.saturating_add((secs as u64).saturating_mul(1_000_000)))
            }
        };
        self.entries.insert(key.to_owned(), Entry { value: Value::Str(value.to_owned()), expires_at });
        Ok(())
    }

    /// `INCRBY` (keeps the TTL).
    pub fn incr_by(&mut self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let current = match self.value(key) {
            None => 0,
            Some(Value::Str(s)) => redis_int(s).ok_or_else(|| error("ERR value is not an integer or out of range"))?,
            Some(_) => return Err(wrong_type()),
        };
        let next = current.checked_add(delta).ok_or_else(|| error("ERR increment or decrement would overflow"))?;
        match self.entry(key) {
            Some(e) => e.value = Value::Str(next.to_string()),
            None => {
                self.entries.insert(key.to_owned(), Entry { value: Value::Str(next.to_string()), expires_at: None });
            }
        }
        Ok(next)
    }

    // --- hashes

    fn hash(&mut self, key: &str) -> Result<Option<&mut IndexMap<String, String>>, StoreError> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Hash(h)) => Ok(Some(h)),
            Some(_) => Err(wrong_type()),
        }
    }

    fn hash_or_new(&mut self, key: &str) -> Result<&mut IndexMap<String, String>, StoreError> {
        if self.hash(key)?.is_none() {
            self.entries.insert(key.to_owned(), Entry { value: Value::Hash(IndexMap::new()), expires_at: None });
        }
        self.hash(key)?.ok_or_else(wrong_type)
    }

    pub fn hget(&mut self, key: &str, field: &str) -> Result<Option<String>, StoreError> {
        Ok(self.hash(key)?.and_then(|h| h.get(field).cloned()))
    }

    pub fn hmget<S: AsRef<str>>(&mut self, key: &str, fields: &[S]) -> Result<Vec<Option<String>>, StoreError> {
        let h = self.hash(key)?;
        Ok(fields.iter().map(|f| h.as_ref().and_then(|h| h.get(f.as_ref()).cloned())).collect())
    }

    pub fn hgetall(&mut self, key: &str) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self.hash(key)?.map(|h| h.iter().map(|(f, v)| (f.clone(), v.clone())).collect()).unwrap_or_default())
    }

    pub fn hexists(&mut self, key: &str, field: &str) -> Result<bool, StoreError> {
        Ok(self.hash(key)?.is_some_and(|h| h.contains_key(field)))
    }

    /// `HSET key f1 v1 f2 v2 …` (one command: all or nothing).
    pub fn hset(&mut self, key: &str, pairs: &[(&str, &str)]) -> Result<(), StoreError> {
        let h = self.hash_or_new(key)?;
        for (f, v) in pairs {
            h.insert((*f).to_owned(), (*v).to_owned());
        }
        Ok(())
    }

    /// `HDEL key f1 f2 …`.
    pub fn hdel<S: AsRef<str>>(&mut self, key: &str, fields: &[S]) -> Result<(), StoreError> {
        // The scripts skip an HDEL of nothing (which would be an arity error).
        if fields.is_empty() {
            return Ok(());
        }
        let Some(h) = self.hash(key)? else { return Ok(()) };
        for f in fields {
            h.shift_remove(f.as_ref());
        }
        if h.is_empty() {
            self.entries.remove(key);
        }
        Ok(())
    }

    /// `HINCRBY`.
    pub fn hincr_by(&mut self, key: &str, field: &str, delta: i64) -> Result<i64, StoreError> {
        let h = self.hash_or_new(key)?;
        let current = match h.get(field) {
            None => 0,
            Some(v) => redis_int(v).ok_or_else(|| error("ERR hash value is not an integer"))?,
        };
        let next = current.checked_add(delta).ok_or_else(|| error("ERR increment or decrement would overflow"))?;
        h.insert(field.to_owned(), next.to_string());
        Ok(next)
    }

    // --- sorted sets

    fn zset(&mut self, key: &str) -> Result<Option<&mut ZSet>, StoreError> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::ZSet(z)) => Ok(Some(z)),
            Some(_) => Err(wrong_type()),
        }
    }

    fn drop_if_empty(&mut self, key: &str) {
        if matches!(self.entries.get(key), Some(Entry { value: Value::ZSet(z), .. }) if z.scores.is_empty()) {
            self.entries.remove(key);
        }
    }

    /// `ZADD key score member` (`score` as sent).
    pub fn zadd(&mut self, key: &str, score: &str, member: &str) -> Result<(), StoreError> {
        let score = redis_score(score)?;
        if self.zset(key)?.is_none() {
            self.entries.insert(key.to_owned(), Entry { value: Value::ZSet(ZSet::default()), expires_at: None });
        }
        if let Some(z) = self.zset(key)? {
            z.insert(member, score);
        }
        Ok(())
    }

    pub fn zscore(&mut self, key: &str, member: &str) -> Result<Option<f64>, StoreError> {
        Ok(self.zset(key)?.and_then(|z| z.scores.get(member).copied()))
    }

    pub fn zmscore<S: AsRef<str>>(&mut self, key: &str, members: &[S]) -> Result<Vec<Option<f64>>, StoreError> {
        let z = self.zset(key)?;
        Ok(members.iter().map(|m| z.as_ref().and_then(|z| z.scores.get(m.as_ref()).copied())).collect())
    }

    pub fn zrem(&mut self, key: &str, member: &str) -> Result<bool, StoreError> {
        let removed = self.zset(key)?.is_some_and(|z| z.remove(member));
        self.drop_if_empty(key);
        Ok(removed)
    }

    pub fn zcard(&mut self, key: &str) -> Result<usize, StoreError> {
        Ok(self.zset(key)?.map_or(0, |z| z.scores.len()))
    }

    /// `ZRANGE key start stop WITHSCORES` (ranks).
    pub fn zrange(&mut self, key: &str, start: i64, stop: i64) -> Result<Vec<(String, f64)>, StoreError> {
        let Some(z) = self.zset(key)? else { return Ok(Vec::new()) };
        let Some((from, to)) = rank_range(z.scores.len(), start, stop) else { return Ok(Vec::new()) };
        Ok(z.iter().skip(from).take(to - from + 1).map(|(m, s)| (m.to_owned(), s)).collect())
    }

    /// `ZRANGEBYSCORE key (min +inf WITHSCORES LIMIT 0 count`.
    pub fn zrange_above(&mut self, key: &str, min: f64, count: usize) -> Result<Vec<(String, f64)>, StoreError> {
        let Some(z) = self.zset(key)? else { return Ok(Vec::new()) };
        Ok(z.iter().skip_while(|(_, s)| *s <= min).take(count).map(|(m, s)| (m.to_owned(), s)).collect())
    }

    /// `ZREMRANGEBYRANK key start stop`.
    pub fn zrem_range_by_rank(&mut self, key: &str, start: i64, stop: i64) -> Result<(), StoreError> {
        let doomed: Vec<String> = self.zrange(key, start, stop)?.into_iter().map(|(m, _)| m).collect();
        if let Some(z) = self.zset(key)? {
            for m in &doomed {
                z.remove(m);
            }
        }
        self.drop_if_empty(key);
        Ok(())
    }

    /// `ZREMRANGEBYSCORE key -inf max` (`max` as sent, inclusive).
    pub fn zrem_range_upto(&mut self, key: &str, max: &str) -> Result<(), StoreError> {
        let max = redis_score(max).map_err(|_| error("ERR min or max is not a float"))?;
        if let Some(z) = self.zset(key)? {
            let doomed: Vec<String> = z.iter().take_while(|(_, s)| *s <= max).map(|(m, _)| m.to_owned()).collect();
            for m in &doomed {
                z.remove(m);
            }
        }
        self.drop_if_empty(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_parse_strictly() {
        assert_eq!(redis_int("12"), Some(12));
        assert_eq!(redis_int("-3"), Some(-3));
        assert_eq!(redis_int("0"), Some(0));
        for bad in ["01", "+1", " 1", "-0", "", "1.0", "-"] {
            assert_eq!(redis_int(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ranks_clamp_like_zrange() {
        assert_eq!(rank_range(5, 0, -1), Some((0, 4)));
        assert_eq!(rank_range(5, -1, -1), Some((4, 4)));
        assert_eq!(rank_range(5, -10, 1), Some((0, 1)));
        assert_eq!(rank_range(5, 3, 100), Some((3, 4)));
        assert_eq!(rank_range(5, 5, 6), None);
        assert_eq!(rank_range(0, 0, -1), None);
    }

    #[test]
    fn empty_collections_cease_to_exist() {
        let mut db = Db::default();
        db.hset("h", &[("a", "1")]).ok();
        db.hdel("h", &["a"]).ok();
        assert!(!db.exists("h"));
        db.zadd("z", "1", "m").ok();
        db.zrem("z", "m").ok();
        assert!(!db.exists("z"));
        db.set("s", "x", None, "set").ok();
        assert!(db.hget("s", "f").is_err(), "WRONGTYPE");
    }
}
