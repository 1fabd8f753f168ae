//! The cached registry over the memory registry and the memory store: hits, misses,
//! invalidation on every write, the reset, the race rules and a failing cache.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;

use super::*;
use crate::registry::MemoryRegistry;
use crate::store::registry_cache::EntryRead;
use crate::store::{MemoryStore, StoreError};

struct World {
    inner: Arc<MemoryRegistry>,
    store: Arc<MemoryStore>,
    cached: Arc<CachedRegistry>,
}

fn world() -> World {
    let inner = Arc::new(MemoryRegistry::new());
    let store = Arc::new(MemoryStore::new("t"));
    let cached = Arc::new(CachedRegistry::new(inner.clone(), store.clone()));
    World { inner, store, cached }
}

fn user(login: &str, hash: &str) -> User {
    User { login: login.into(), password_hash: Some(hash.into()), email: None, admin: false }
}

fn client(id: &str, owner: &str) -> ClientRecord {
    ClientRecord { id: id.into(), user_id: owner.into(), app_id: "application".into(), ..ClientRecord::default() }
}

#[tokio::test]
async fn a_miss_reads_the_registry_and_the_next_read_is_a_hit() {
    let w = world();
    w.inner.put_user(&user("amy", "h1")).await.expect("call");
    assert_eq!(w.cached.user("amy").await.expect("call"), Some(user("amy", "h1")));
    // Changed behind the decorator's back: the cached value still answers (a hit).
    w.inner.put_user(&user("amy", "h2")).await.expect("call");
    assert_eq!(w.cached.user("amy").await.expect("call"), Some(user("amy", "h1")));
    // Unknown records are never cached: created behind its back, seen at once.
    assert_eq!(w.cached.user("bob").await.expect("call"), None);
    w.inner.put_user(&user("bob", "h")).await.expect("call");
    assert_eq!(w.cached.user("bob").await.expect("call"), Some(user("bob", "h")));
    assert_eq!(w.cached.token_user("nope").await.expect("call"), None);
    w.inner.set_user_token("bob", "nope").await.expect("call");
    assert_eq!(w.cached.token_user("nope").await.expect("call").as_deref(), Some("bob"));
}

#[tokio::test]
async fn writes_through_the_decorator_replace_or_drop_the_cached_value() {
    let w = world();
    w.cached.put_user(&user("amy", "h1")).await.expect("call");
    assert_eq!(w.cached.user("amy").await.expect("call"), Some(user("amy", "h1")));
    w.cached.put_admin(&user("amy", "h2")).await.expect("call");
    assert_eq!(w.cached.user("amy").await.expect("call"), Some(user("amy", "h2")));
    // Written through: answered from the cache even once the registry changes behind it.
    w.inner.put_user(&user("amy", "h3")).await.expect("call");
    assert_eq!(w.cached.user("amy").await.expect("call"), Some(user("amy", "h2")));

    w.cached.create_client(&client("c1", "amy")).await.expect("call");
    assert_eq!(w.cached.client("c1").await.expect("call"), Some(client("c1", "amy")));
    let mut moved = client("c1", "bob");
    moved.device.insert("device_pin".into(), "pin".into());
    w.cached.put_client_owned_by(&moved, Some("amy")).await.expect("call");
    assert_eq!(w.cached.client("c1").await.expect("call"), Some(moved.clone()));
    assert!(w.cached.forget_device_pin("c1", "pin").await.expect("call"));
    assert_eq!(w.cached.client("c1").await.expect("call"), Some(client("c1", "bob")));
    w.cached.put_client(&client("c1", "amy")).await.expect("call");
    assert_eq!(w.cached.client("c1").await.expect("call"), Some(client("c1", "amy")));
    w.cached.delete_client("c1").await.expect("call");
    assert_eq!(w.cached.client("c1").await.expect("call"), None);
}

#[tokio::test]
async fn rotation_and_deletion_take_effect_at_once() {
    let w = world();
    w.cached.put_admin(&User { admin: true, ..user("rhoadmin", "h") }).await.expect("call");
    w.cached.set_user_token("rhoadmin", "t1").await.expect("call");
    assert_eq!(w.cached.token_user("t1").await.expect("call").as_deref(), Some("rhoadmin"));
    assert_eq!(w.cached.user_token("rhoadmin").await.expect("call").as_deref(), Some("t1"));
    w.cached.set_user_token("rhoadmin", "t2").await.expect("call");
    assert_eq!(w.cached.token_user("t1").await.expect("call"), None, "the old token is gone at once");
    assert_eq!(w.cached.token_user("t2").await.expect("call").as_deref(), Some("rhoadmin"));
    assert_eq!(w.cached.user_token("rhoadmin").await.expect("call").as_deref(), Some("t2"));
    w.cached.delete_token("t2").await.expect("call");
    assert_eq!(w.cached.token_user("t2").await.expect("call"), None);

    w.cached.put_user(&user("amy", "h")).await.expect("call");
    w.cached.set_user_token("amy", "ta").await.expect("call");
    w.cached.create_client(&client("c9", "amy")).await.expect("call");
    for _ in 0..2 {
        assert!(w.cached.user("amy").await.expect("call").is_some());
        assert!(w.cached.token_user("ta").await.expect("call").is_some());
        assert!(w.cached.client("c9").await.expect("call").is_some());
    }
    w.cached.delete_user("amy").await.expect("call");
    assert_eq!(w.cached.user("amy").await.expect("call"), None);
    assert_eq!(w.cached.token_user("ta").await.expect("call"), None);
    assert_eq!(w.cached.client("c9").await.expect("call"), None);
    assert!(w.cached.ensure_user("amy").await.expect("call"), "the deleted user is created anew");
}

#[tokio::test]
async fn source_overrides_and_their_absence_are_cached_until_written() {
    let w = world();
    assert_eq!(w.cached.source_overrides("P").await.expect("call"), None);
    let mut o = SourceOverrides::new();
    o.insert("poll_interval".into(), serde_json::json!(5));
    w.inner.put_source_overrides("P", &o).await.expect("call");
    assert_eq!(w.cached.source_overrides("P").await.expect("call"), None, "a cached absence");
    w.cached.put_source_overrides("P", &o).await.expect("call");
    assert_eq!(w.cached.source_overrides("P").await.expect("call"), Some(o));
    w.cached.clear().await.expect("call");
    assert_eq!(w.cached.source_overrides("P").await.expect("call"), None);
}

#[tokio::test]
async fn ensure_user_asks_the_registry_only_on_a_miss() {
    let w = world();
    assert!(w.cached.ensure_user("amy").await.expect("call"));
    assert_eq!(w.cached.user("amy").await.expect("call"), Some(User { login: "amy".into(), ..User::default() }));
    // Deleted behind its back: the cached user still exists for ensure_user (a hit).
    w.inner.delete_user("amy").await.expect("call");
    assert!(!w.cached.ensure_user("amy").await.expect("call"));
    // A user that existed before the cache knew it: read once, then hits.
    w.inner.put_user(&user("bob", "h")).await.expect("call");
    assert!(!w.cached.ensure_user("bob").await.expect("call"));
    w.inner.put_user(&user("bob", "h2")).await.expect("call");
    assert_eq!(w.cached.user("bob").await.expect("call"), Some(user("bob", "h")));
    assert!(w.cached.create_user(&user("cy", "h")).await.expect("call"));
    assert!(!w.cached.create_user(&user("cy", "other")).await.expect("call"));
    assert_eq!(w.cached.user("cy").await.expect("call"), Some(user("cy", "h")));
}

#[tokio::test]
async fn a_reset_drops_every_entry() {
    let w = world();
    w.cached.put_user(&user("amy", "h")).await.expect("call");
    w.cached.set_user_token("amy", "ta").await.expect("call");
    assert!(w.cached.token_user("ta").await.expect("call").is_some());
    w.cached.clear().await.expect("call");
    // Recreated behind the cache's back: the pre-reset values are not served.
    w.inner.put_user(&user("amy", "new")).await.expect("call");
    assert_eq!(w.cached.user("amy").await.expect("call"), Some(user("amy", "new")));
    assert_eq!(w.cached.token_user("ta").await.expect("call"), None);
}

#[tokio::test]
async fn a_fill_from_before_a_write_or_a_reset_is_refused() {
    let w = world();
    let cache: &dyn RegistryCacheStore = &*w.store;
    // A reader misses and notes what it saw; a write lands; the reader's late fill is refused.
    let seen = cache.read_entries(&[("t", "tok")]).await.expect("call").remove(0).seen;
    cache.written("t", "tok", None, 60).await.expect("call");
    assert!(!cache.fill("t", "tok", &seen, "\"old\"", 60).await.expect("call"));
    assert_eq!(cache.read_entries(&[("t", "tok")]).await.expect("call")[0].value, None);
    // A fill before the write's script is dropped by it.
    let seen = cache.read_entries(&[("t", "tok")]).await.expect("call").remove(0).seen;
    assert!(cache.fill("t", "tok", &seen, "\"old\"", 60).await.expect("call"));
    cache.written("t", "tok", None, 60).await.expect("call");
    assert_eq!(cache.read_entries(&[("t", "tok")]).await.expect("call")[0].value, None);
    // Two writers: the one that saw another's write in between drops instead of storing.
    let seen_a = cache.read_entries(&[("u", "amy")]).await.expect("call").remove(0).seen;
    let seen_b = cache.read_entries(&[("u", "amy")]).await.expect("call").remove(0).seen;
    cache.written("u", "amy", Some((&seen_b, "\"b\"")), 60).await.expect("call");
    cache.written("u", "amy", Some((&seen_a, "\"a\"")), 60).await.expect("call");
    assert_eq!(cache.read_entries(&[("u", "amy")]).await.expect("call")[0].value, None);
    // A fill read before a reset is void after it, even if it lands later.
    let seen = cache.read_entries(&[("c", "c1")]).await.expect("call").remove(0).seen;
    cache.new_generation().await.expect("call");
    assert!(cache.fill("c", "c1", &seen, "{}", 60).await.expect("call"));
    assert_eq!(cache.read_entries(&[("c", "c1")]).await.expect("call")[0].value, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_rotations_and_uses_leave_nothing_stale() {
    for round in 0..20 {
        let w = world();
        w.cached.put_admin(&User { admin: true, ..user("rhoadmin", "h") }).await.expect("call");
        w.cached.set_user_token("rhoadmin", "t0").await.expect("call");
        let mut tasks = Vec::new();
        for i in 0..8 {
            let cached = w.cached.clone();
            tasks.push(tokio::spawn(async move {
                if i % 2 == 0 {
                    cached.set_user_token("rhoadmin", &format!("t{}", i / 2 + 1)).await.map(drop)
                } else {
                    cached.token_user("t0").await.map(drop)
                }
            }));
        }
        for t in tasks {
            t.await.expect("call").expect("call");
        }
        let now = w.inner.user_token("rhoadmin").await.expect("call").expect("call");
        for i in 0..5 {
            let token = format!("t{i}");
            let truth = w.inner.token_user(&token).await.expect("call");
            assert_eq!(w.cached.token_user(&token).await.expect("call"), truth, "round {round}: {token}");
        }
        assert_eq!(w.cached.user_token("rhoadmin").await.expect("call"), Some(now), "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_simultaneous_first_logins_create_the_user_once() {
    let w = world();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let cached = w.cached.clone();
            tokio::spawn(async move { cached.ensure_user("amy").await })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        created += usize::from(t.await.expect("call").expect("call"));
    }
    assert_eq!(created, 1);
    assert_eq!(w.cached.user("amy").await.expect("call"), w.inner.user("amy").await.expect("call"));
    assert_eq!(w.inner.users().await.expect("call"), vec!["amy".to_owned()]);
}

/// A cache whose Redis is down.
#[derive(Default)]
struct Down {
    calls: AtomicUsize,
}

fn down() -> StoreError {
    StoreError::Corrupt("redis down".into())
}

#[async_trait]
impl RegistryCacheStore for Down {
    async fn read_entries(&self, _: &[(&str, &str)]) -> Result<Vec<EntryRead>, StoreError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Err(down())
    }
    async fn fill(&self, _: &str, _: &str, _: &Seen, _: &str, _: u64) -> Result<bool, StoreError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Err(down())
    }
    async fn written(&self, _: &str, _: &str, _: Option<(&Seen, &str)>, _: u64) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Err(down())
    }
    async fn new_generation(&self) -> Result<(), StoreError> {
        Err(down())
    }
}

#[tokio::test]
async fn with_redis_down_reads_fall_back_to_the_registry_and_writes_say_so() {
    let inner = Arc::new(MemoryRegistry::new());
    let cache = Arc::new(Down::default());
    let cached = CachedRegistry::new(inner.clone(), cache.clone());
    inner.put_user(&user("amy", "h")).await.expect("call");
    inner.set_user_token("amy", "ta").await.expect("call");
    assert_eq!(cached.user("amy").await.expect("call"), Some(user("amy", "h")));
    assert_eq!(cached.token_user("ta").await.expect("call").as_deref(), Some("amy"));
    assert!(cached.ensure_user("bob").await.expect("call"), "a new user is created even so");
    assert!(cache.calls.load(Ordering::Relaxed) > 0);
    // The registry write is done, but the caller hears the cache may still hold the old value.
    let err = cached.set_user_token("amy", "tb").await.expect_err("fails");
    assert!(matches!(err, RegistryError::Unavailable(_)), "{err}");
    assert_eq!(inner.token_user("tb").await.expect("call").as_deref(), Some("amy"));
    assert!(matches!(cached.clear().await, Err(RegistryError::Unavailable(_))));
}
