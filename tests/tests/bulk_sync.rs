//! Bulk sync through the whole local stack (docs/bulk-data.md): devices over real HTTP, the
//! bulk worker on the local bulk queue, the file in the emulator's bucket, downloaded from
//! the sync host as Rhodes does it (`<url>.rzip`, resumed with `Range`), then the
//! incremental sync that follows it.
//!
//! `infra/test -p rhosync-e2e -E 'binary(bulk_sync)'`

mod sync_support;

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rhosync_e2e::{eventually, start_runner, TestEnv};
use rhosync_server::edges::S3BlobStore;
use rhosync_server::ports::{BlobError, BlobMeta, BlobStore, ManualClock};
use serde_json::{json, Value};
use sync_support::{Device, Reply, World};
use tokio::sync::{mpsc, Mutex};

const SETTINGS: &str = "\
:development:
  :device_auth: open
  :bulk_sync_poll_interval: 3600
:sources:
  Product:
    adapter: mock
    poll_interval: 300
    priority: 1
  Customer:
    adapter: mock
    poll_interval: 300
    priority: 2
  AppMock:
    adapter: mock
    partition_type: app
    poll_interval: 300
";

/// The S3 blob store, able to hold the job just before its first upload: by then every
/// snapshot has been read, so a change made while it waits is one made while the job runs.
struct PausingBlobs {
    inner: S3BlobStore,
    armed: AtomicBool,
    reached: mpsc::UnboundedSender<()>,
    resume: Mutex<mpsc::UnboundedReceiver<()>>,
}

#[async_trait]
impl BlobStore for PausingBlobs {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: Option<&str>) -> Result<(), BlobError> {
        self.inner.put(key, bytes, content_type).await
    }
    async fn put_file(&self, key: &str, path: &Path, content_type: Option<&str>) -> Result<(), BlobError> {
        if self.armed.swap(false, Ordering::SeqCst) {
            let _ = self.reached.send(());
            let _ = self.resume.lock().await.recv().await;
        }
        self.inner.put_file(key, path, content_type).await
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        self.inner.get(key).await
    }
    async fn head(&self, key: &str) -> Result<Option<BlobMeta>, BlobError> {
        self.inner.head(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.inner.delete(key).await
    }
    fn url(&self, key: &str) -> String {
        self.inner.url(key)
    }
}

struct Pause {
    blobs: Arc<PausingBlobs>,
    reached: mpsc::UnboundedReceiver<()>,
    resume: mpsc::UnboundedSender<()>,
}

async fn world(label: &str) -> (World, Pause) {
    let mut env = TestEnv::new(label, SETTINGS).await;
    let clock = ManualClock::new();
    let (reached_tx, reached) = mpsc::unbounded_channel();
    let (resume, resume_rx) = mpsc::unbounded_channel();
    let blobs = Arc::new(PausingBlobs {
        inner: S3BlobStore::new(env.state.aws.s3.clone(), env.provisioned.bucket.clone()),
        armed: AtomicBool::new(false),
        reached: reached_tx,
        resume: Mutex::new(resume_rx),
    });
    env.state = env.state.clone().with_clock(Arc::new(clock.clone())).with_blobs(blobs.clone());
    let runner = start_runner(&env, 1).await;
    (World { env, runner, clock, http: reqwest::Client::new() }, Pause { blobs, reached, resume })
}

impl Device {
    async fn bulk_data(&mut self, body: Value) -> Reply {
        let req = self
            .http
            .post(format!("{}/rc/v1/app/bulk_data", self.base))
            .header("X-RhoConnect-CLIENT-ID", self.client_id.clone())
            .header("Content-Type", "application/json")
            .body(body.to_string());
        self.send(req).await
    }

    /// The legacy form Rhodes sends.
    async fn bulk_data_legacy(&mut self, query: &str) -> Reply {
        let req = self.http.get(format!("{}/application/bulk_data?client_id={}&{query}", self.base, self.client_id));
        self.send(req).await
    }

    /// Asks until the answer is a URL; the URL.
    async fn bulk_url(&mut self, query: &str) -> String {
        for _ in 0..200 {
            let r = self.bulk_data_legacy(query).await;
            assert_eq!(r.status, 200, "{}", r.text);
            assert_eq!(r.header("content-type").as_deref(), Some("application/json"));
            match r.json()["result"].as_str() {
                Some("wait") => tokio::time::sleep(Duration::from_millis(100)).await,
                Some("url") => return r.json()["url"].as_str().unwrap_or_default().to_owned(),
                other => panic!("unexpected answer {other:?}: {}", r.text),
            }
        }
        panic!("the bulk file was not built in time");
    }

    /// `GET <base><path>` with an optional `Range`; status, headers, bytes.
    async fn download(&mut self, path: &str, range: Option<&str>) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(r) = range {
            req = req.header("Range", r);
        }
        if let Some(c) = &self.cookie {
            req = req.header("Cookie", c.clone());
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default())
    }
}

async fn record(w: &World, path: &str) -> (u16, Value) {
    let (status, body) = w.admin("GET", path, None).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// The `(object, attrib, value)` rows of one source in a downloaded database.
fn object_values(data: &[u8], source: &str) -> Vec<(String, String, String)> {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("bulk.data");
    std::fs::write(&path, data).unwrap_or_else(|e| panic!("{e}"));
    let db = rusqlite::Connection::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut stmt = db
        .prepare(
            "SELECT object, attrib, value FROM object_values JOIN sources USING (source_id) \
             WHERE sources.name = ?1 ORDER BY object, attrib",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let rows = stmt
        .query_map([source], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap_or_else(|e| panic!("{e}"))
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("{e}"));
    rows
}

fn row(o: &str, a: &str, v: &str) -> (String, String, String) {
    (o.to_owned(), a.to_owned(), v.to_owned())
}

#[tokio::test]
async fn wait_url_download_with_range_then_only_later_changes() {
    let (w, mut pause) = world("bulkflow").await;
    w.set_backend("ann", json!({"1": {"name": "one"}, "2": {"name": "two"}})).await;
    let mut d = w.device("ann").await;
    pause.blobs.armed.store(true, Ordering::SeqCst);

    let r = d.bulk_data(json!({"partition": "user", "sources": ["Product"]})).await;
    assert_eq!((r.status, r.json()), (200, json!({"result": "wait"})), "{}", r.text);
    assert_eq!(r.header("content-type").as_deref(), Some("application/json"));
    // The job has read its snapshot and holds before uploading: a device still waits, the
    // console sees it uploading, and a backend change lands now.
    tokio::time::timeout(Duration::from_secs(20), pause.reached.recv()).await.ok().flatten().expect("job paused");
    assert_eq!(d.bulk_data_legacy("partition=user&sources=Product").await.json()["result"], "wait");
    let (status, rec) = record(&w, "/rc/v1/bulk_data/users/ann").await;
    assert_eq!(
        (status, rec["state"].as_str(), rec["progress"]["step"].as_str()),
        (200, Some("in_progress"), Some("uploading"))
    );
    let (status, body) = w
        .admin(
            "POST",
            "/app/v1/Product/push_objects",
            Some(json!({"user_id": "ann", "objects": {"1": {"name": "one, changed"}, "3": {"name": "three"}}})),
        )
        .await;
    assert_eq!((status, body.as_str()), (200, "done"));
    let _ = pause.resume.send(());

    let url = d.bulk_url("partition=user&sources=Product").await;
    assert!(url.starts_with("/data/application/ann/ann_") && url.ends_with(".data"), "{url}");
    let (status, rec) = record(&w, "/rc/v1/bulk_data/users/ann").await;
    assert_eq!(
        (status, rec["state"].as_str(), rec["progress"]["step"].as_str()),
        (200, Some("completed"), Some("done"))
    );
    assert_eq!(rec["url"].as_str(), Some(url.as_str()));

    // Rhodes: <url>.rzip from the sync host, resumed with a Range request.
    let rzip_path = format!("{url}.rzip");
    let (status, headers, whole) = d.download(&rzip_path, None).await;
    assert_eq!(status, 200);
    assert_eq!(headers.get("content-type").and_then(|v| v.to_str().ok()), Some("application/octet-stream"));
    assert!(whole.len() > 100);
    let (status, headers, head) = d.download(&rzip_path, Some("bytes=0-99")).await;
    assert_eq!((status, head.len()), (206, 100));
    let expected_range = format!("bytes 0-99/{}", whole.len());
    assert_eq!(headers.get("content-range").and_then(|v| v.to_str().ok()), Some(expected_range.as_str()));
    let (status, _, tail) = d.download(&rzip_path, Some("bytes=100-")).await;
    assert_eq!(status, 206);
    let resumed = [head, tail].concat();
    assert_eq!(resumed, whole);
    let (status, _, _) = d.download(&format!("{url}.nope"), None).await;
    assert_eq!(status, 404);

    // Unzip: one entry named as the URL's last segment; the snapshot as the job read it.
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(resumed)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(archive.len(), 1);
    let mut entry = archive.by_index(0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(Some(entry.name()), url.rsplit('/').next());
    let mut data = Vec::new();
    entry.read_to_end(&mut data).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(object_values(&data, "Product"), [row("1", "name", "one"), row("2", "name", "two")]);
    let (_, _, raw) = d.download(&url, None).await;
    assert_eq!(raw, data, "the .data file is the database itself");

    // The incremental sync after it brings only the change made while the job ran.
    let pages = d.sync_all("Product", 100).await;
    assert_eq!(pages[0].insert_ids(), ["1", "3"], "{}", pages[0].text);
    assert_eq!(pages[0].command()["insert"]["1"], json!({"name": "one, changed"}));
    let later = d.sync_all("Product", 100).await;
    assert_eq!((later.len(), later[0].count()), (1, 0), "in step: {}", later[0].text);

    // Another client of the same user gets the same file at once, and its own seeded state.
    let mut d2 = w.device("ann").await;
    assert_eq!(d2.bulk_url("partition=user").await, url, "one file per partition until it expires");
    assert_eq!(d2.sync_all("Product", 100).await[0].insert_ids(), ["1", "3"]);
}

#[tokio::test]
async fn nop_refusals_and_a_failing_job_through_the_stack() {
    let (w, _pause) = world("bulkedge").await;
    let mut d = w.device("bo").await;

    // Nothing selected in the partition: nop.
    for body in [json!({"partition": "app", "sources": ["Product"]}), json!({"partition": "user", "sources": ["Nope"]})]
    {
        let r = d.bulk_data(body).await;
        assert_eq!((r.status, r.json()), (200, json!({"result": "nop"})));
    }
    // Missing partition, unknown client, no session: refused, nothing written.
    let r = d.bulk_data(json!({"sources": ["Product"]})).await;
    assert_eq!((r.status, r.text.as_str()), (500, "bulk_data needs a partition parameter (user or app)"));
    let mut stranger = Device { client_id: "0".repeat(32), ..d.clone_session() };
    let r = stranger.bulk_data(json!({"partition": "user"})).await;
    assert_eq!((r.status, r.text.as_str()), (500, "Unknown client"));
    let mut anonymous = Device { cookie: None, ..d.clone_session() };
    let r = anonymous.bulk_data_legacy("partition=user").await;
    assert_eq!((r.status, r.text.as_str()), (401, "Not authenticated"));
    assert!(r.header("warning").is_some(), "legacy route");
    assert_eq!(record(&w, "/rc/v1/bulk_data/users/bo").await.0, 404, "no record was written");
    rhosync_e2e::settle_queue(&w.env, &w.env.provisioned.bulk_queue_url, Duration::from_secs(5)).await;

    // A query error in the job: the record ends failed with the error.
    w.set_backend("__shared__", json!("not an object map")).await;
    assert_eq!(d.bulk_data(json!({"partition": "app"})).await.json()["result"], "wait");
    let failed = eventually(Duration::from_secs(20), || async {
        let (_, rec) = record(&w, "/rc/v1/bulk_data/app").await;
        (rec["state"] == "failed").then_some(rec)
    })
    .await
    .expect("the build fails");
    assert_eq!(failed["progress"]["step"], "failed");
    assert!(failed["error"].as_str().unwrap_or_default().contains("query-error"), "{failed}");
    // A later request starts a new build, which succeeds once the backend answers.
    w.set_backend("__shared__", json!({"s": {"name": "shared"}})).await;
    w.force_refresh("bo", "AppMock").await;
    let url = d.bulk_url("partition=app").await;
    assert!(url.starts_with("/data/application/application_"), "{url}");
    let (_, rec) = record(&w, "/rc/v1/bulk_data/app").await;
    assert_ne!(rec["build"], failed["build"]);
    assert_eq!(d.sync_all("AppMock", 100).await[0].count(), 0, "the file holds everything");
}

impl Device {
    /// Another device with this one's session and client.
    fn clone_session(&self) -> Device {
        Device {
            http: self.http.clone(),
            base: self.base.clone(),
            cookie: self.cookie.clone(),
            client_id: self.client_id.clone(),
        }
    }
}
