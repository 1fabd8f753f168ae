//! [`CachedRegistry`]: the [`Registry`] port over the real registry, with the reads that
//! every request makes served from Redis (docs/registry.md §3). The registry stays the
//! truth; the cache only saves DynamoDB calls on the hot paths (the admin token check of
//! every REST call, device logins, clientregister, the session check).
//!
//! # What is cached
//!
//! | kind | id | value | filled by |
//! |---|---|---|---|
//! | `u` | login | the user record | [`Registry::user`], user creation, user writes |
//! | `ut` | login | the user's API token | [`Registry::user_token`] |
//! | `t` | token (its SHA-256 in the key) | the login owning it | [`Registry::token_user`] |
//! | `c` | client id | the client record | [`Registry::client`], clientcreate |
//! | `s` | source name | its setting overrides, or that it has none | [`Registry::source_overrides`] |
//!
//! Only positive answers are cached: "no such user / token / client" always asks the
//! registry, so a record created elsewhere is seen at once. Source overrides are the
//! exception: "none" is what almost every source has, each instance asks again every few
//! seconds (`crate::sync::effective`), and they are only ever written through
//! [`Registry::put_source_overrides`], which drops the entry. Every entry has a TTL
//! ([`ENTRY_TTL_SECS`]): it bounds the stale window a registry change made outside this
//! decorator (by hand, by another tool) could leave. Listings (`users`, `clients_of`,
//! `clients`, `registered_sources`) are not cached.
//!
//! # Why races are safe
//!
//! Each entry carries a write count `n` beside its value (`crate::store::registry_cache`).
//! A reader that misses notes `n`, reads the registry, then fills the entry only if `n`
//! is unchanged (one script). A writer writes the registry first and then, in one script,
//! increments `n` and drops the value — or stores the value it wrote, when `n` was still
//! what it saw before writing (no other write came in between). So:
//!
//! * a reader that read the registry before a write cannot fill after that write's
//!   script: the count moved on (the fill is refused), and if the fill came first, the
//!   script drops it. Two instances rotating a token while others use it leave no entry
//!   naming the old token;
//! * of concurrent writers, the last script to run stores its value only if no other
//!   write was counted since it looked, which means every other registry write came
//!   before its own: its value is the registry's. Otherwise it drops the value.
//!
//! Between a registry write and its script a reader may still see the old value, as it
//! would have read the registry a moment earlier; once the write's call returns, nobody
//! does. [`Registry::clear`] (`system/reset`) replaces the cache generation after the
//! registry is cleared: values are stored with the generation their reader saw first,
//! and only a value of the current generation is a hit, so even a fill racing the reset
//! is void.
//!
//! # When Redis fails
//!
//! A failed cache read is a miss (the registry answers) and a failed fill is ignored. A
//! failed write script is retried once and then reported as
//! [`RegistryError::Unavailable`] (503): the registry write is done, but the caller must
//! not believe the old value is gone from the cache when it may not be. Fills after the
//! creation of a new record are the exception: no old value of it can be cached, so their
//! failure is only logged.

use std::sync::Arc;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{ClientRecord, Registry, RegistryError, SourceOverrides, User};
use crate::store::registry_cache::{RegistryCacheStore, Seen};

/// Lifetime of a cached entry (refreshed by each fill and write).
pub const ENTRY_TTL_SECS: u64 = 3600;

/// The kinds of entry (see the table above).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    User,
    UserToken,
    Token,
    Client,
    Source,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::User => "u",
            Self::UserToken => "ut",
            Self::Token => "t",
            Self::Client => "c",
            Self::Source => "s",
        }
    }
}

/// The registry with its hot reads cached in Redis.
pub struct CachedRegistry {
    inner: Arc<dyn Registry>,
    cache: Arc<dyn RegistryCacheStore>,
    ttl_secs: u64,
}

fn unavailable(what: &str, err: impl std::fmt::Display) -> RegistryError {
    RegistryError::Unavailable(format!("registry cache: {what}: {err}"))
}

impl CachedRegistry {
    pub fn new(inner: Arc<dyn Registry>, cache: Arc<dyn RegistryCacheStore>) -> Self {
        Self { inner, cache, ttl_secs: ENTRY_TTL_SECS }
    }

    /// The registry this decorator caches.
    pub fn inner(&self) -> &dyn Registry {
        &*self.inner
    }

    /// The entry as read: its value (a hit) and what was seen; `None` when Redis failed.
    async fn look(&self, kind: Kind, id: &str) -> Option<(Option<String>, Seen)> {
        match self.cache.read_entries(&[(kind.as_str(), id)]).await {
            Ok(mut rows) if !rows.is_empty() => {
                let row = rows.swap_remove(0);
                Some((row.value, row.seen))
            }
            Ok(_) => None,
            Err(err) => {
                tracing::warn!(error = %err, "registry cache read failed: asking the registry");
                None
            }
        }
    }

    /// Cache first; on a miss `load` from the registry and fill (positive answers only).
    async fn read<T, F>(&self, kind: Kind, id: &str, load: F) -> Result<Option<T>, RegistryError>
    where
        T: Serialize + DeserializeOwned,
        F: std::future::Future<Output = Result<Option<T>, RegistryError>>,
    {
        let seen = match self.look(kind, id).await {
            Some((Some(text), seen)) => match serde_json::from_str(&text) {
                Ok(value) => return Ok(Some(value)),
                Err(_) => Some(seen),
            },
            Some((None, seen)) => Some(seen),
            None => None,
        };
        let loaded = load.await?;
        if let (Some(value), Some(seen)) = (&loaded, seen) {
            self.fill(kind, id, &seen, value).await;
        }
        Ok(loaded)
    }

    async fn fill<T: Serialize>(&self, kind: Kind, id: &str, seen: &Seen, value: &T) {
        let Ok(text) = serde_json::to_string(value) else { return };
        if let Err(err) = self.cache.fill(kind.as_str(), id, seen, &text, self.ttl_secs).await {
            tracing::warn!(error = %err, "registry cache fill failed");
        }
    }

    /// What a writer sees before writing (for a write-through); `None` when Redis failed.
    async fn before_write(&self, kind: Kind, id: &str) -> Option<Seen> {
        self.look(kind, id).await.map(|(_, seen)| seen)
    }

    /// Counts a registry write of the entry: stores `value` when `seen` (read before the
    /// write) is still current, else drops the cached value. Retried once.
    async fn written<T: Serialize>(
        &self,
        kind: Kind,
        id: &str,
        through: Option<(&Seen, &T)>,
    ) -> Result<(), RegistryError> {
        let text = through.and_then(|(_, v)| serde_json::to_string(v).ok());
        let through = match (through, &text) {
            (Some((seen, _)), Some(text)) => Some((seen, text.as_str())),
            _ => None,
        };
        let mut last = None;
        for _ in 0..2 {
            match self.cache.written(kind.as_str(), id, through, self.ttl_secs).await {
                Ok(()) => return Ok(()),
                Err(err) => last = Some(err),
            }
        }
        Err(unavailable("dropping a changed record", last.map(|e| e.to_string()).unwrap_or_default()))
    }

    /// Drops the cached value of an entry after a registry write.
    async fn invalidate(&self, kind: Kind, id: &str) -> Result<(), RegistryError> {
        self.written::<()>(kind, id, None).await
    }

    /// Stores a freshly created record (no old value of it can be cached: a failure is
    /// only logged).
    async fn created<T: Serialize>(&self, kind: Kind, id: &str, seen: Option<Seen>, value: &T) {
        let result = match &seen {
            Some(seen) => self.written(kind, id, Some((seen, value))).await,
            None => self.invalidate(kind, id).await,
        };
        if let Err(err) = result {
            tracing::warn!(error = %err, "registry cache: storing a new record failed");
        }
    }

    /// A user write: the profile after it is `user` (tokens and memberships aside).
    async fn user_written(&self, user: &User, seen: Option<Seen>) -> Result<(), RegistryError> {
        match &seen {
            Some(seen) => self.written(Kind::User, &user.login, Some((seen, user))).await,
            None => self.invalidate(Kind::User, &user.login).await,
        }
    }
}

#[async_trait]
impl Registry for CachedRegistry {
    async fn user(&self, login: &str) -> Result<Option<User>, RegistryError> {
        self.read(Kind::User, login, self.inner.user(login)).await
    }

    async fn put_user(&self, user: &User) -> Result<(), RegistryError> {
        let seen = self.before_write(Kind::User, &user.login).await;
        self.inner.put_user(user).await?;
        self.user_written(user, seen).await
    }

    async fn put_admin(&self, user: &User) -> Result<(), RegistryError> {
        let seen = self.before_write(Kind::User, &user.login).await;
        self.inner.put_admin(user).await?;
        self.user_written(user, seen).await
    }

    /// A cached user exists: nothing to ask. Otherwise one conditional create; when the
    /// user existed after all, its record is read once so the next login hits.
    async fn ensure_user(&self, login: &str) -> Result<bool, RegistryError> {
        let seen = match self.look(Kind::User, login).await {
            Some((Some(text), _)) if serde_json::from_str::<User>(&text).is_ok() => return Ok(false),
            Some((_, seen)) => Some(seen),
            None => None,
        };
        if self.inner.ensure_user(login).await? {
            let user = User { login: login.to_owned(), ..User::default() };
            self.created(Kind::User, login, seen, &user).await;
            return Ok(true);
        }
        if let (Some(user), Some(seen)) = (self.inner.user(login).await?, seen) {
            self.fill(Kind::User, login, &seen, &user).await;
        }
        Ok(false)
    }

    async fn delete_user(&self, login: &str) -> Result<(), RegistryError> {
        let token = self.user_token(login).await?;
        let clients = self.inner.clients_of(login).await?;
        self.inner.delete_user(login).await?;
        self.invalidate(Kind::User, login).await?;
        self.invalidate(Kind::UserToken, login).await?;
        if let Some(token) = token {
            self.invalidate(Kind::Token, &token).await?;
        }
        for id in clients {
            self.invalidate(Kind::Client, &id).await?;
        }
        Ok(())
    }

    async fn users(&self) -> Result<Vec<String>, RegistryError> {
        self.inner.users().await
    }

    async fn client(&self, id: &str) -> Result<Option<ClientRecord>, RegistryError> {
        self.read(Kind::Client, id, self.inner.client(id)).await
    }

    async fn put_client(&self, client: &ClientRecord) -> Result<(), RegistryError> {
        self.inner.put_client(client).await?;
        self.invalidate(Kind::Client, &client.id).await
    }

    async fn create_client(&self, client: &ClientRecord) -> Result<(), RegistryError> {
        // A fresh random id: nobody can have seen or written it, so no read comes first.
        self.inner.create_client(client).await?;
        self.created(Kind::Client, &client.id, Some(Seen::default()), client).await;
        Ok(())
    }

    async fn put_client_owned_by(
        &self,
        client: &ClientRecord,
        stored_owner: Option<&str>,
    ) -> Result<(), RegistryError> {
        self.inner.put_client_owned_by(client, stored_owner).await?;
        self.invalidate(Kind::Client, &client.id).await
    }

    async fn delete_client(&self, id: &str) -> Result<(), RegistryError> {
        self.inner.delete_client(id).await?;
        self.invalidate(Kind::Client, id).await
    }

    async fn forget_device_pin(&self, id: &str, pin: &str) -> Result<bool, RegistryError> {
        let changed = self.inner.forget_device_pin(id, pin).await?;
        if changed {
            self.invalidate(Kind::Client, id).await?;
        }
        Ok(changed)
    }

    async fn clients(&self, ids: &[String]) -> Result<Vec<ClientRecord>, RegistryError> {
        self.inner.clients(ids).await
    }

    async fn clients_of(&self, login: &str) -> Result<Vec<String>, RegistryError> {
        self.inner.clients_of(login).await
    }

    async fn token_user(&self, token: &str) -> Result<Option<String>, RegistryError> {
        self.read(Kind::Token, token, self.inner.token_user(token)).await
    }

    async fn user_token(&self, login: &str) -> Result<Option<String>, RegistryError> {
        self.read(Kind::UserToken, login, self.inner.user_token(login)).await
    }

    async fn set_user_token(&self, login: &str, token: &str) -> Result<(), RegistryError> {
        let old = self.user_token(login).await?;
        self.inner.set_user_token(login, token).await?;
        if let Some(old) = old.filter(|old| old != token) {
            self.invalidate(Kind::Token, &old).await?;
        }
        self.invalidate(Kind::Token, token).await?;
        self.invalidate(Kind::UserToken, login).await
    }

    async fn create_user(&self, user: &User) -> Result<bool, RegistryError> {
        let seen = self.before_write(Kind::User, &user.login).await;
        if !self.inner.create_user(user).await? {
            return Ok(false);
        }
        self.created(Kind::User, &user.login, seen, user).await;
        Ok(true)
    }

    async fn delete_token(&self, token: &str) -> Result<(), RegistryError> {
        self.inner.delete_token(token).await?;
        self.invalidate(Kind::Token, token).await
    }

    async fn clear(&self) -> Result<(), RegistryError> {
        self.inner.clear().await?;
        let mut last = None;
        for _ in 0..2 {
            match self.cache.new_generation().await {
                Ok(()) => return Ok(()),
                Err(err) => last = Some(err),
            }
        }
        Err(unavailable("voiding every entry", last.map(|e| e.to_string()).unwrap_or_default()))
    }

    async fn source_overrides(&self, name: &str) -> Result<Option<SourceOverrides>, RegistryError> {
        // "No overrides" is cached too (as JSON null): see the module docs.
        let load = async { self.inner.source_overrides(name).await.map(Some) };
        Ok(self.read::<Option<SourceOverrides>, _>(Kind::Source, name, load).await?.flatten())
    }

    async fn put_source_overrides(&self, name: &str, overrides: &SourceOverrides) -> Result<(), RegistryError> {
        self.inner.put_source_overrides(name, overrides).await?;
        self.invalidate(Kind::Source, name).await
    }

    async fn registered_sources(&self) -> Result<Vec<String>, RegistryError> {
        self.inner.registered_sources().await
    }
}

#[cfg(test)]
#[path = "cached_tests.rs"]
mod tests;
