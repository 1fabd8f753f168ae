//! Unit tests of the query and write services over in-memory edges of every port: the
//! store (`MemoryStore`, pinned to the Redis edge by `store_contract.rs`), the registry, the
//! job queue, the blob store and a manual clock. No Redis, no emulator, no HTTP: what is
//! tested is the use case itself — `sync::query::serve` (one device query) and
//! `sync::cud::submit` with the adapter worker's `apply_batch` (client writes).
//!
//! `cargo test -p rhosync-server --test sync_services`

use std::sync::Arc;

use rhosync_engine::page::Page;
use rhosync_engine::params::Params;
use rhosync_server::adapters::deps::AdapterDeps;
use rhosync_server::auth::session::{Session, APP_NAME};
use rhosync_server::config::Settings;
use rhosync_server::ports::{Clock, Job, ManualClock, MemoryBlobStore, MemoryJobQueue, Queue};
use rhosync_server::registry::memory::MemoryRegistry;
use rhosync_server::registry::{Registry, User};
use rhosync_server::store::MemoryStore;
use rhosync_server::sync::cud::apply::{apply_batch, PendingWrite};
use rhosync_server::sync::cud::{self, CudOps};
use rhosync_server::sync::{clients, query, sessions, Ports, SyncError, SyncServices};
use serde_json::{json, Value};

const SETTINGS: &str = "\
:development:
  :poll_interval_default: 300
:sources:
  Product:
    adapter: demo
    cud_queue: true
  Inline:
    adapter: demo
";

struct Fakes {
    svc: SyncServices,
    queue: Arc<MemoryJobQueue>,
    clock: ManualClock,
}

fn services() -> Fakes {
    let settings = Arc::new(Settings::parse(SETTINGS, "development").expect("settings"));
    let clock = ManualClock::new();
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let queue = Arc::new(MemoryJobQueue::new());
    let ports = Ports {
        store: Arc::new(MemoryStore::with_clock("t", Arc::new(clock.clone()))),
        registry: registry.clone(),
        queue: queue.clone(),
        blobs: Arc::new(MemoryBlobStore::new()),
    };
    let deps =
        AdapterDeps { http: reqwest::Client::new(), registry, app: Arc::new(settings.app.clone()), app_server: None };
    let mut svc = SyncServices::new(ports, settings, &deps);
    svc.clock = Arc::new(clock.clone());
    Fakes { svc, queue, clock }
}

impl Fakes {
    /// A user with a session and a client, as login + clientcreate leave them.
    async fn device(&self, login: &str) -> (Session, String) {
        let user = User { login: login.to_owned(), ..User::default() };
        self.svc.registry().put_user(&user).await.expect("user");
        let micros = self.clock.now_micros();
        let session = Session {
            login: login.to_owned(),
            app: APP_NAME.to_owned(),
            issued_at: micros / 1_000_000,
            issued_micros: micros,
        };
        let client = clients::create(&self.svc, login, &serde_json::Map::new()).await.expect("client");
        (session, client.id)
    }

    /// Pages until the token is empty, acknowledging each; the pages.
    async fn sync_all(&self, session: &Session, client: &str, source: &str) -> Vec<Page> {
        let mut pages = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..20 {
            let page = self.query(session, client, source, token.as_deref()).await;
            let next = page.token.clone();
            pages.push(page);
            if next.is_empty() {
                return pages;
            }
            token = Some(next);
        }
        panic!("the sync of {source} did not end");
    }

    async fn query(&self, session: &Session, client: &str, source: &str, token: Option<&str>) -> Page {
        let mut params = Params::new();
        params.insert("p_size".into(), json!("2"));
        if let Some(t) = token {
            params.insert("token".into(), json!(t));
        }
        query::serve(&self.svc, session, source, client, &params).await.expect("query")
    }
}

#[tokio::test]
async fn a_paged_initial_sync_acknowledged_page_by_page_then_in_step() {
    let f = services();
    let (session, client) = f.device("ann").await;
    let pages = f.sync_all(&session, &client, "Product").await;
    assert_eq!(pages.len(), 4, "three pages of at most two objects, then the empty one: {pages:?}");
    let mut seen: Vec<String> = Vec::new();
    for page in &pages {
        assert_eq!(page.total_count, 5, "the demo catalogue");
        assert!(page.count() <= 2, "p_size 2: {page:?}");
        seen.extend(page.insert.keys().cloned());
    }
    seen.sort();
    assert_eq!(seen, ["1", "2", "3", "4", "5"], "every object once");
    // In step: without a token (the probe's path) and again after time passes within the
    // poll interval, an empty page with the total.
    let page = f.query(&session, &client, "Product", None).await;
    assert_eq!((page.count(), page.token.as_str(), page.total_count), (0, "", 5));
    f.clock.advance_secs(10);
    let page = f.query(&session, &client, "Product", None).await;
    assert_eq!((page.count(), page.token.as_str()), (0, ""));
}

#[tokio::test]
async fn an_unacknowledged_page_is_resent_for_a_stale_token_and_undone_without_one() {
    let f = services();
    let (session, client) = f.device("bob").await;
    let first = f.query(&session, &client, "Product", None).await;
    let second = f.query(&session, &client, "Product", Some(&first.token)).await;
    assert_ne!(first.token, second.token);
    // The first token again: the stored second page, as it was.
    let again = f.query(&session, &client, "Product", Some(&first.token)).await;
    assert_eq!((again.token.as_str(), again.insert.clone()), (second.token.as_str(), second.insert.clone()));
    // No token while a page built just now is pending: taken for a simultaneous request's
    // (docs/sync-engine.md §5.7), answered with an empty page and left alone.
    let quiet = f.query(&session, &client, "Product", None).await;
    assert_eq!((quiet.count(), quiet.token.as_str(), quiet.total_count), (0, "", 5));
    let again = f.query(&session, &client, "Product", Some(&first.token)).await;
    assert_eq!(again.token, second.token, "the page is still pending");
    // No token while an older page is pending: the page is undone and its objects come again.
    f.clock.advance_secs(3);
    let reset = f.query(&session, &client, "Product", None).await;
    assert_eq!(reset.insert, second.insert, "the undone page's objects are sent again");
    assert_ne!(reset.token, second.token);
}

#[tokio::test]
async fn refusals_unknown_client_unknown_source_and_a_deleted_user() {
    let f = services();
    let (session, client) = f.device("cyd").await;
    let params = Params::new();
    let err = query::serve(&f.svc, &session, "Product", "no-such-client", &params).await.expect_err("unknown client");
    assert!(matches!(err, SyncError::UnknownClient), "{err:?}");
    let page = f.query(&session, &client, "Nope", None).await;
    assert_eq!(page.source_error["query-error"]["message"], json!("Source 'Nope' is not configured on this server"));
    // What the REST API's user deletion does: the registry record, then the sessions.
    f.svc.registry().delete_user("cyd").await.expect("delete");
    sessions::user_deleted(&f.svc, "cyd").await.expect("void sessions");
    let err = query::serve(&f.svc, &session, "Product", &client, &params).await.expect_err("deleted user");
    assert!(matches!(err, SyncError::NotAuthenticated), "{err:?}");
}

fn create(id: &str, name: &str) -> CudOps {
    let mut attrs = serde_json::Map::new();
    attrs.insert("name".into(), Value::String(name.into()));
    CudOps { create: vec![(id.to_owned(), attrs)], ..CudOps::default() }
}

#[tokio::test]
async fn an_inline_write_is_applied_before_the_answer_and_linked_in_the_next_page() {
    let f = services();
    let (session, client) = f.device("dan").await;
    let source = f.svc.source("Inline").await.expect("source").expect("configured");
    cud::submit(&f.svc, &source, "dan", &client, create("tmp-1", "Phone"), &[], &[]).await.expect("write");
    assert!(f.queue.messages(Queue::Adapter).is_empty(), "nothing queued for an inline source");
    // The creating device gets the link (it has the object); another device of the user
    // gets the object.
    let page = f.query(&session, &client, "Inline", None).await;
    let real = page.links.get("tmp-1").cloned().expect("link to the created object");
    assert!(!page.insert.contains_key(&real), "the creator is not sent its own object: {page:?}");
    assert_eq!(page.total_count, 6);
    let other = clients::create(&f.svc, "dan", &serde_json::Map::new()).await.expect("second client");
    let pages = f.sync_all(&session, &other.id, "Inline").await;
    assert!(pages.iter().any(|p| p.insert.get(&real).is_some_and(|o| body_name(o) == "Phone")), "{pages:?}");
}

#[tokio::test]
async fn a_queued_write_is_durable_on_the_queue_and_applied_once_by_the_worker() {
    let f = services();
    let (session, client) = f.device("eve").await;
    f.sync_all(&session, &client, "Product").await;
    let source = f.svc.source("Product").await.expect("source").expect("configured");
    cud::submit(&f.svc, &source, "eve", &client, create("tmp-9", "Tablet"), &[], &[]).await.expect("write");
    let jobs = f.queue.take(Queue::Adapter);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let write = match &jobs[0].job {
        Job::Cud { write: Some(write), .. } => (**write).clone(),
        other => panic!("not a write: {other:?}"),
    };
    // Not applied until the worker runs: the device is still in step.
    let page = f.query(&session, &client, "Product", None).await;
    assert_eq!((page.count(), page.links.len(), page.total_count), (0, 0, 5));
    // The worker applies it; a redelivery of the same message changes nothing more.
    for _ in 0..2 {
        let outcomes =
            apply_batch(&f.svc, &source, vec![PendingWrite { write: write.clone(), last_attempt: false }]).await;
        assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    }
    let pages = f.sync_all(&session, &client, "Product").await;
    let links: Vec<_> = pages.iter().flat_map(|p| p.links.iter()).collect();
    assert_eq!(links.len(), 1, "one link: {pages:?}");
    let (temp, real) = links[0];
    assert_eq!(temp, "tmp-9");
    assert_eq!(pages.last().map(|p| p.total_count), Some(6), "created once, not twice");
    let other = clients::create(&f.svc, "eve", &serde_json::Map::new()).await.expect("second client");
    let pages = f.sync_all(&session, &other.id, "Product").await;
    let names: Vec<_> = pages.iter().flat_map(|p| p.insert.values()).filter(|o| body_name(o) == "Tablet").collect();
    assert_eq!(names.len(), 1, "another device gets the object once: {pages:?}");
    assert!(pages.iter().any(|p| p.insert.contains_key(real)));
}

#[tokio::test]
async fn a_write_the_queue_refuses_fails_and_a_retry_succeeds() {
    let f = services();
    let (_session, client) = f.device("fay").await;
    let source = f.svc.source("Product").await.expect("source").expect("configured");
    f.queue.fail_with("queue down");
    let err =
        cud::submit(&f.svc, &source, "fay", &client, create("tmp-2", "Watch"), &[], &[]).await.expect_err("refused");
    assert!(matches!(err, SyncError::Queue(_)), "{err:?}");
    assert!(f.queue.messages(Queue::Adapter).is_empty());
    f.queue.recover();
    cud::submit(&f.svc, &source, "fay", &client, create("tmp-2", "Watch"), &[], &[]).await.expect("retried");
    assert_eq!(f.queue.messages(Queue::Adapter).len(), 1);
}

/// The `name` attribute of a page body (every page body must decode).
fn body_name(body: &str) -> String {
    let attrs = rhosync_engine::values::decode_body(body).expect("a page body is canonical JSON");
    attrs.get("name").cloned().unwrap_or_default()
}
