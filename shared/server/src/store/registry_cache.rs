//! The registry read cache's records (`crate::registry::cached` has the rules: what is
//! cached, when an entry is trusted, why the protocol below keeps races safe).
//!
//! One hash per cached read (`keys::registry_entry`): `v` the value (JSON), `g` the cache
//! generation it was read under, `n` how many writes of that record the cache has seen.
//! Plus one generation string (`keys::registry_cache_generation`) that `system/reset`
//! replaces. Each step names one entry key, so a script stays on one cluster slot; the
//! generation is read beside it in the same pipeline (two slots, one round trip).
//!
//! * [`RegistryCacheStore::read_entries`] — the values that are still valid and, for each,
//!   what the reader saw ([`Seen`]): the write count and the generation.
//! * [`RegistryCacheStore::fill`] — stores a value read from the registry only if no write
//!   was counted since the reader's [`Seen`] (a script on the entry).
//! * [`RegistryCacheStore::written`] — after a registry write: counts it and either stores
//!   the written value (when no other write was counted since the writer's [`Seen`]) or
//!   drops the value (a script on the entry).
//! * [`RegistryCacheStore::new_generation`] — voids every entry at once.
//!
//! [`MemoryStore`] keeps the same records as JSON strings through its atomic
//! compare-and-set (no TTL there: it serves unit tests).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::keys;
use super::{MemoryStore, Store, StoreError, SyncStore};

/// What a reader (or a writer, before writing) saw of one entry: its write count and the
/// cache generation. `None`: absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    pub count: Option<String>,
    pub generation: Option<String>,
}

/// One entry as read: its value when it is valid under the current generation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryRead {
    pub value: Option<String>,
    pub seen: Seen,
}

/// The store side of the registry read cache. Entries are named by kind and id
/// (`keys::registry_entry`).
#[async_trait]
pub trait RegistryCacheStore: Send + Sync {
    /// The entries `(kind, id)`, in order (one round trip).
    async fn read_entries(&self, entries: &[(&str, &str)]) -> Result<Vec<EntryRead>, StoreError>;

    /// Stores `value` (read from the registry after `seen` was read) unless a write was
    /// counted since; true when stored. Starts the entry's TTL.
    async fn fill(&self, kind: &str, id: &str, seen: &Seen, value: &str, ttl_secs: u64) -> Result<bool, StoreError>;

    /// Counts a registry write of the entry (call it after the write succeeded). With
    /// `through` (what the writer saw before writing, and the value it wrote) the value is
    /// stored when no other write was counted since; otherwise the value is dropped.
    async fn written(
        &self,
        kind: &str,
        id: &str,
        through: Option<(&Seen, &str)>,
        ttl_secs: u64,
    ) -> Result<(), StoreError>;

    /// Voids every entry (a new random generation).
    async fn new_generation(&self) -> Result<(), StoreError>;
}

fn flag(b: bool) -> &'static str {
    if b {
        "1"
    } else {
        "0"
    }
}

const FILL: &str = "local n = redis.call('HGET', KEYS[1], 'n') \
     if (ARGV[1] == '1' and n == ARGV[2]) or (ARGV[1] == '0' and not n) then \
       redis.call('HSET', KEYS[1], 'v', ARGV[3], 'g', ARGV[4]) \
       redis.call('EXPIRE', KEYS[1], ARGV[5]) return 1 end return 0";

const WRITTEN: &str = "local n = redis.call('HGET', KEYS[1], 'n') \
     local same = (ARGV[1] == '1' and n == ARGV[2]) or (ARGV[1] == '0' and not n) \
     redis.call('HINCRBY', KEYS[1], 'n', 1) \
     if ARGV[3] == '1' and same then redis.call('HSET', KEYS[1], 'v', ARGV[4], 'g', ARGV[5]) \
     else redis.call('HDEL', KEYS[1], 'v', 'g') end \
     redis.call('EXPIRE', KEYS[1], ARGV[6]) return 1";

#[async_trait]
impl RegistryCacheStore for SyncStore {
    async fn read_entries(&self, entries: &[(&str, &str)]) -> Result<Vec<EntryRead>, StoreError> {
        let mut pipe = redis::pipe();
        pipe.cmd("GET").arg(keys::registry_cache_generation(self.keys()));
        for (kind, id) in entries {
            pipe.cmd("HMGET").arg(keys::registry_entry(self.keys(), kind, id)).arg("v").arg("g").arg("n");
        }
        type Fields = (Option<String>, Option<String>, Option<String>);
        let (generation, rows): (Option<String>, Vec<Fields>) = {
            let mut values: Vec<redis::Value> = pipe.query_async(&mut self.conn()).await?;
            if values.is_empty() {
                return Err(super::corrupt("registry cache: empty pipeline reply"));
            }
            let generation: Option<String> = redis::from_redis_value(values.remove(0)).map_err(super::corrupt)?;
            let rows = values
                .into_iter()
                .map(redis::from_redis_value)
                .collect::<Result<Vec<Fields>, _>>()
                .map_err(super::corrupt)?;
            (generation, rows)
        };
        Ok(rows
            .into_iter()
            .map(|(v, g, n)| {
                let valid = v.is_some() && g.as_deref().unwrap_or("") == generation.as_deref().unwrap_or("");
                EntryRead { value: v.filter(|_| valid), seen: Seen { count: n, generation: generation.clone() } }
            })
            .collect())
    }

    async fn fill(&self, kind: &str, id: &str, seen: &Seen, value: &str, ttl_secs: u64) -> Result<bool, StoreError> {
        static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| redis::Script::new(FILL));
        let mut inv = SCRIPT.key(keys::registry_entry(self.keys(), kind, id));
        inv.arg(flag(seen.count.is_some()))
            .arg(seen.count.as_deref().unwrap_or(""))
            .arg(value)
            .arg(seen.generation.as_deref().unwrap_or(""))
            .arg(ttl_secs.max(1));
        let done: i64 = inv.invoke_async(&mut self.conn()).await?;
        Ok(done == 1)
    }

    async fn written(
        &self,
        kind: &str,
        id: &str,
        through: Option<(&Seen, &str)>,
        ttl_secs: u64,
    ) -> Result<(), StoreError> {
        static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| redis::Script::new(WRITTEN));
        let mut inv = SCRIPT.key(keys::registry_entry(self.keys(), kind, id));
        let seen = through.map(|(s, _)| s);
        inv.arg(flag(seen.is_some_and(|s| s.count.is_some())))
            .arg(seen.and_then(|s| s.count.as_deref()).unwrap_or(""))
            .arg(flag(through.is_some()))
            .arg(through.map_or("", |(_, v)| v))
            .arg(seen.and_then(|s| s.generation.as_deref()).unwrap_or(""))
            .arg(ttl_secs.max(1));
        let _: i64 = inv.invoke_async(&mut self.conn()).await?;
        Ok(())
    }

    async fn new_generation(&self) -> Result<(), StoreError> {
        let _: () = redis::cmd("SET")
            .arg(keys::registry_cache_generation(self.keys()))
            .arg(crate::auth::tokens::random_token())
            .query_async(&mut self.conn())
            .await?;
        Ok(())
    }
}

/// An entry of the in-memory edge, as one JSON string.
#[derive(Debug, Default, Serialize, Deserialize)]
struct MemoryEntry {
    #[serde(default)]
    v: Option<String>,
    #[serde(default)]
    g: Option<String>,
    #[serde(default)]
    n: Option<u64>,
}

impl MemoryStore {
    async fn entry(&self, key: &str) -> Result<(Option<String>, MemoryEntry), StoreError> {
        let text = Store::get(self, key).await?;
        let entry = match &text {
            Some(t) => serde_json::from_str(t).map_err(|e| super::corrupt(format!("registry cache entry: {e}")))?,
            None => MemoryEntry::default(),
        };
        Ok((text, entry))
    }

    /// Applies `change` to the entry at `key` with compare-and-set, retrying on conflict.
    async fn update_entry(&self, key: &str, change: impl Fn(&mut MemoryEntry)) -> Result<(), StoreError> {
        loop {
            let (before, mut entry) = self.entry(key).await?;
            change(&mut entry);
            let after = serde_json::to_string(&entry).map_err(|e| super::corrupt(e.to_string()))?;
            if Store::set_if(self, key, before.as_deref(), &after).await? {
                return Ok(());
            }
        }
    }
}

fn count_text(n: Option<u64>) -> Option<String> {
    n.map(|n| n.to_string())
}

#[async_trait]
impl RegistryCacheStore for MemoryStore {
    async fn read_entries(&self, entries: &[(&str, &str)]) -> Result<Vec<EntryRead>, StoreError> {
        let generation = Store::get(self, &keys::registry_cache_generation(Store::keys(self))).await?;
        let mut out = Vec::with_capacity(entries.len());
        for (kind, id) in entries {
            let (_, e) = self.entry(&keys::registry_entry(Store::keys(self), kind, id)).await?;
            let valid = e.v.is_some() && e.g.as_deref().unwrap_or("") == generation.as_deref().unwrap_or("");
            out.push(EntryRead {
                value: e.v.filter(|_| valid),
                seen: Seen { count: count_text(e.n), generation: generation.clone() },
            });
        }
        Ok(out)
    }

    async fn fill(&self, kind: &str, id: &str, seen: &Seen, value: &str, _ttl_secs: u64) -> Result<bool, StoreError> {
        let key = keys::registry_entry(Store::keys(self), kind, id);
        let stored = std::sync::atomic::AtomicBool::new(false);
        self.update_entry(&key, |e| {
            let same = count_text(e.n) == seen.count;
            stored.store(same, std::sync::atomic::Ordering::Relaxed);
            if same {
                e.v = Some(value.to_owned());
                e.g = seen.generation.clone();
            }
        })
        .await?;
        Ok(stored.load(std::sync::atomic::Ordering::Relaxed))
    }

    async fn written(
        &self,
        kind: &str,
        id: &str,
        through: Option<(&Seen, &str)>,
        _ttl_secs: u64,
    ) -> Result<(), StoreError> {
        let key = keys::registry_entry(Store::keys(self), kind, id);
        self.update_entry(&key, |e| {
            let same = through.is_some_and(|(seen, _)| count_text(e.n) == seen.count);
            e.n = Some(e.n.unwrap_or(0) + 1);
            match through {
                Some((seen, value)) if same => {
                    e.v = Some(value.to_owned());
                    e.g = seen.generation.clone();
                }
                _ => {
                    e.v = None;
                    e.g = None;
                }
            }
        })
        .await
    }

    async fn new_generation(&self) -> Result<(), StoreError> {
        let key = keys::registry_cache_generation(Store::keys(self));
        Store::set(self, &key, Some(&crate::auth::tokens::random_token()), None).await
    }
}
