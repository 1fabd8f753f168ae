//! Bulk data over in-memory edges of every port (docs/bulk-data.md): the request's answers,
//! the job, and the file it uploads — opened with rusqlite and checked table by table,
//! column by column, index by index and row by row against docs/bulk-data.md §4; the
//! `.rzip` entry name (§5) and the client state seeded from the snapshot (§8).
//!
//! `cargo test -p rhosync-server --test bulk_file`

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use rhosync_engine::values::normalize_objects;
use rhosync_server::adapters::deps::AdapterDeps;
use rhosync_server::bulk::{self, BulkAnswer, BulkRecord, BulkRequest, BulkState, Progress};
use rhosync_server::config::Settings;
use rhosync_server::ports::{BlobStore, Job, ManualClock, MemoryBlobStore, MemoryJobQueue, Queue};
use rhosync_server::registry::memory::MemoryRegistry;
use rhosync_server::registry::{Registry, User};
use rhosync_server::store::MemoryStore;
use rhosync_server::sync::{clients, refresh, Ports, SyncServices};
use rusqlite::Connection;
use serde_json::json;

/// Product: a property bag; Item: a fixed schema, bulk only, belonging to Product;
/// Customer: in the partition but not selected; Shared: the app partition; Broken: its
/// backend document is not an object map (a query error).
const SETTINGS: &str = r#"
:development:
  :bulk_sync_poll_interval: 600
:sources:
  Product:
    adapter: mock
    poll_interval: -1
    priority: 1
  Item:
    adapter: mock
    poll_interval: -1
    priority: 2
    sync_type: bulk_sync_only
    belongs_to:
      - product_id: Product
  Customer:
    adapter: mock
    poll_interval: -1
    priority: 3
  Shared:
    adapter: mock
    partition_type: app
    poll_interval: -1
  Broken:
    adapter: mock
    partition_type: app
    poll_interval: 0
    priority: 9
"#;

const ITEM_SCHEMA: &str = r#"{"version":"2.1","property":{"name":"string","qty":"integer","photo":"blob","thumb":"blob,overwrite"},"index":{"by_item_name":"name"},"unique_index":{"by_item_qty":"qty,name"}}"#;

struct Fakes {
    svc: SyncServices,
    queue: Arc<MemoryJobQueue>,
    blobs: Arc<MemoryBlobStore>,
    clock: ManualClock,
}

fn services() -> Fakes {
    let settings = Arc::new(Settings::parse(SETTINGS, "development").expect("settings"));
    let clock = ManualClock::new();
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let queue = Arc::new(MemoryJobQueue::new());
    let blobs = Arc::new(MemoryBlobStore::new());
    let ports = Ports {
        store: Arc::new(MemoryStore::with_clock("t", Arc::new(clock.clone()))),
        registry: registry.clone(),
        queue: queue.clone(),
        blobs: blobs.clone(),
    };
    let deps =
        AdapterDeps { http: reqwest::Client::new(), registry, app: Arc::new(settings.app.clone()), app_server: None };
    let mut svc = SyncServices::new(ports, settings, &deps);
    svc.clock = Arc::new(clock.clone());
    Fakes { svc, queue, blobs, clock }
}

impl Fakes {
    async fn client(&self, login: &str) -> String {
        let user = User { login: login.to_owned(), ..User::default() };
        self.svc.registry().put_user(&user).await.expect("user");
        clients::create(&self.svc, login, &serde_json::Map::new()).await.expect("client").id
    }

    async fn fill(&self, source: &str, login: &str, objects: serde_json::Value) {
        let ctx = self.svc.source(source).await.expect("source").expect("configured");
        let pk = ctx.keys(&self.svc, login);
        refresh::replace_md(&self.svc, &pk, &normalize_objects(&objects).expect("objects")).await.expect("md");
    }

    async fn ask(&self, login: &str, client: &str, partition: &str, sources: Option<&[&str]>) -> BulkAnswer {
        let request = BulkRequest {
            partition: Some(partition.to_owned()),
            sources: sources.map(|s| s.iter().map(|n| n.to_string()).collect()),
        };
        bulk::request::answer(&self.svc, login, client, &request).await.expect("answer")
    }

    /// Runs every queued bulk job, as the worker would.
    async fn run_jobs(&self) -> usize {
        let jobs = self.queue.take(Queue::Bulk);
        for message in &jobs {
            let Job::Bulk { name, .. } = &message.job else { panic!("not a bulk job: {message:?}") };
            bulk::job::run(&self.svc, name, message.id.as_deref().unwrap_or_default()).await.expect("job");
        }
        jobs.len()
    }

    async fn record(&self, name: &str) -> BulkRecord {
        bulk::request::load(&self.svc, name).await.expect("load").expect("a record")
    }

    async fn blob(&self, key: &str) -> Vec<u8> {
        self.blobs.get(key).await.expect("get").unwrap_or_else(|| panic!("no object {key}"))
    }
}

type Column = (String, String, Option<String>, i64);

fn columns(db: &Connection, table: &str) -> Vec<Column> {
    let mut stmt = db.prepare(&format!("PRAGMA table_info(\"{table}\")")).expect("pragma");
    stmt.query_map([], |r| Ok((r.get(1)?, r.get(2)?, r.get(4)?, r.get(5)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("columns")
}

fn col(name: &str, ty: &str, default: Option<&str>) -> Column {
    (name.to_owned(), ty.to_owned(), default.map(str::to_owned), 0)
}

fn names(db: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = db.prepare(sql).expect("sql");
    stmt.query_map([], |r| r.get(0)).expect("rows").collect::<Result<_, _>>().expect("names")
}

#[tokio::test]
async fn the_file_has_exactly_the_layout_and_the_snapshot_data() {
    let f = services();
    let client = f.client("amy").await;
    // Every attribute kind a backend sends: text, numbers and booleans (stored as text),
    // empty, unicode, JSON text, a blob URL, a multi-line value.
    f.fill(
        "Product",
        "amy",
        json!({
            "1": {"name": "Ünïcode ✓", "price": 42, "on_sale": true, "note": "", "json": "{\"a\":[1,2]}",
                  "image_uri-rhoblob": "https://cdn.example/p1.png", "text": "line 1\nline 2"},
            "2": {"name": "Plain", "price": 1.5},
        }),
    )
    .await;
    f.fill(
        "Item",
        "amy",
        json!({
            "i1": {"name": "bolt", "qty": "10", "photo": "https://cdn.example/i1.png", "extra": "dropped"},
            "i2": {"name": "nut"},
        }),
    )
    .await;
    let item = f.svc.source("Item").await.expect("source").expect("configured");
    let item_pk = item.keys(&f.svc, "amy");
    f.svc
        .store
        .hset(&item_pk.src, &[("schema", Some(ITEM_SCHEMA.into())), ("schema_sha1", Some("sha-2.1".into()))])
        .await
        .expect("schema");
    f.fill("Customer", "amy", json!({"c1": {"name": "not selected"}})).await;

    // Empty and unknown selections: nothing to do, nothing written.
    assert_eq!(f.ask("amy", &client, "user", Some(&["Shared"])).await, BulkAnswer::Nop);
    assert_eq!(f.ask("amy", &client, "nonsense", None).await, BulkAnswer::Nop);
    assert!(f.queue.messages(Queue::Bulk).is_empty());

    assert_eq!(f.ask("amy", &client, "user", Some(&["Item", "Product"])).await, BulkAnswer::Wait);
    assert_eq!(f.ask("amy", &client, "user", Some(&["Item", "Product"])).await, BulkAnswer::Wait);
    let record = f.record("application/amy/amy").await;
    assert_eq!((record.state, &record.progress), (BulkState::InProgress, &Progress::Queued));
    assert_eq!(record.sources, ["Product", "Item"], "the selection in priority order");
    assert_eq!(record.partition_sources, ["Product", "Item", "Customer"]);
    assert_eq!(f.run_jobs().await, 1, "one build for both requests");
    let record = f.record("application/amy/amy").await;
    assert_eq!((record.state, &record.progress, &record.error), (BulkState::Completed, &Progress::Done, &None));

    let BulkAnswer::Url(url) = f.ask("amy", &client, "user", Some(&["Item", "Product"])).await else { panic!("a URL") };
    assert!(url.starts_with("/data/application/amy/amy_") && url.ends_with(".data"), "{url}");
    let key = record.key.clone().expect("key");
    assert_eq!(format!("/{key}"), url);
    let data = f.blob(&key).await;

    // .rzip: one entry, named as the URL's last segment, holding the database.
    let rzip = f.blob(&format!("{key}.rzip")).await;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(rzip)).expect("zip");
    assert_eq!(archive.len(), 1);
    let mut entry = archive.by_index(0).expect("entry");
    assert_eq!(entry.name(), url.rsplit('/').next().expect("segment"));
    let mut unzipped = Vec::new();
    entry.read_to_end(&mut unzipped).expect("unzip");
    assert_eq!(unzipped, data);
    let mut gunzipped = Vec::new();
    flate2::read::GzDecoder::new(&f.blob(&format!("{key}.gzip")).await[..])
        .read_to_end(&mut gunzipped)
        .expect("gunzip");
    assert_eq!(gunzipped, data);

    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("amy.data");
    std::fs::write(&path, &data).expect("write");
    let db = Connection::open(&path).expect("sqlite");

    assert_eq!(
        names(&db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"),
        ["Item", "changed_values", "client_info", "object_values", "sources"]
    );
    assert_eq!(
        columns(&db, "client_info"),
        [
            col("client_id", "VARCHAR(255)", Some("NULL")),
            col("session", "VARCHAR(255)", Some("NULL")),
            col("token", "VARCHAR(255)", Some("NULL")),
            col("token_sent", "BIGINT", Some("0")),
            col("reset", "BIGINT", Some("0")),
            col("port", "VARCHAR(10)", Some("NULL")),
            col("last_sync_success", "VARCHAR(100)", Some("NULL")),
        ]
    );
    assert_eq!(
        columns(&db, "object_values"),
        [
            col("source_id", "BIGINT", Some("NULL")),
            col("attrib", "varchar(255)", Some("NULL")),
            col("object", "varchar(255)", Some("NULL")),
            col("value", "varchar", Some("NULL")),
        ]
    );
    assert_eq!(
        columns(&db, "changed_values"),
        [
            col("source_id", "BIGINT", Some("NULL")),
            col("attrib", "varchar(255)", Some("NULL")),
            col("object", "varchar(255)", Some("NULL")),
            col("value", "varchar", Some("NULL")),
            col("attrib_type", "varchar(255)", Some("NULL")),
            col("update_type", "varchar(255)", Some("NULL")),
            col("sent", "BIGINT", Some("0")),
        ]
    );
    let mut source_id = col("source_id", "BIGINT", None);
    source_id.3 = 1;
    assert_eq!(
        columns(&db, "sources"),
        [
            source_id,
            col("name", "VARCHAR(255)", Some("NULL")),
            col("token", "BIGINT", Some("NULL")),
            col("sync_priority", "BIGINT", None),
            col("partition", "VARCHAR(255)", None),
            col("sync_type", "VARCHAR(255)", None),
            col("metadata", "varchar", Some("NULL")),
            col("last_updated", "BIGINT", Some("0")),
            col("last_inserted_size", "BIGINT", Some("0")),
            col("last_deleted_size", "BIGINT", Some("0")),
            col("last_sync_duration", "BIGINT", Some("0")),
            col("last_sync_success", "BIGINT", Some("0")),
            col("backend_refresh_time", "BIGINT", Some("0")),
            col("source_attribs", "varchar", Some("NULL")),
            col("schema", "varchar", Some("NULL")),
            col("schema_version", "varchar", Some("NULL")),
            col("associations", "varchar", Some("NULL")),
            col("blob_attribs", "varchar", Some("NULL")),
        ]
    );
    let mut object = col("object", "varchar(255)", None);
    object.3 = 1;
    assert_eq!(
        columns(&db, "Item"),
        [
            object,
            col("name", "varchar", Some("NULL")),
            col("qty", "varchar", Some("NULL")),
            col("photo", "varchar", Some("NULL")),
            col("thumb", "varchar", Some("NULL")),
        ]
    );

    // Indexes: the three of object_values and the schema's two (no triggers).
    let index_sql = names(&db, "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name");
    assert_eq!(
        index_sql,
        [
            r#"CREATE INDEX "by_item_name" on "Item" ("name")"#,
            r#"CREATE UNIQUE INDEX "by_item_qty" on "Item" ("qty", "name")"#,
            r#"CREATE INDEX by_src_id on object_values ("source_id")"#,
            r#"CREATE UNIQUE INDEX by_src_object on object_values ("object", "attrib", "source_id")"#,
            r#"CREATE INDEX by_src_value on object_values ("attrib", "source_id", "value")"#,
        ]
    );
    assert!(names(&db, "SELECT name FROM sqlite_master WHERE type = 'trigger'").is_empty());

    // sources rows: ids 1.. in priority order; the unselected Customer is `none`.
    let mut stmt = db.prepare("SELECT * FROM sources ORDER BY source_id").expect("sql");
    let rows: Vec<Vec<rusqlite::types::Value>> = stmt
        .query_map([], |r| (0..18).map(|i| r.get(i)).collect())
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("sources");
    use rusqlite::types::Value::{Integer as I, Null, Text as T};
    let t = |s: &str| T(s.to_owned());
    assert_eq!(
        rows,
        [
            vec![
                I(1),
                t("Product"),
                Null,
                I(1),
                t("user"),
                t("incremental"),
                Null,
                I(0),
                I(2),
                I(0),
                I(0),
                I(0),
                I(0),
                t("image_uri-rhoblob,1,json,1,name,2,note,1,on_sale,1,price,2,text,1"),
                Null,
                Null,
                t("Item,product_id"),
                t(""),
            ],
            vec![
                I(2),
                t("Item"),
                Null,
                I(2),
                t("user"),
                t("bulk_sync_only"),
                Null,
                I(0),
                I(2),
                I(0),
                I(0),
                I(0),
                I(0),
                t(""),
                t(ITEM_SCHEMA),
                t("2.1"),
                Null,
                t("photo,0,thumb,1"),
            ],
            vec![
                I(3),
                t("Customer"),
                Null,
                I(3),
                t("user"),
                t("none"),
                Null,
                I(0),
                I(1),
                I(0),
                I(0),
                I(0),
                I(0),
                t(""),
                Null,
                Null,
                Null,
                t(""),
            ],
        ]
    );

    // Data: every Product attribute as one object_values row; Item rows with schema columns.
    let mut stmt =
        db.prepare("SELECT source_id, object, attrib, value FROM object_values ORDER BY object, attrib").expect("sql");
    let values: Vec<(i64, String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("values");
    let expected: Vec<(i64, String, String, String)> = [
        ("1", "image_uri-rhoblob", "https://cdn.example/p1.png"),
        ("1", "json", "{\"a\":[1,2]}"),
        ("1", "name", "Ünïcode ✓"),
        ("1", "note", ""),
        ("1", "on_sale", "true"),
        ("1", "price", "42"),
        ("1", "text", "line 1\nline 2"),
        ("2", "name", "Plain"),
        ("2", "price", "1.5"),
    ]
    .iter()
    .map(|(o, a, v)| (1, o.to_string(), a.to_string(), v.to_string()))
    .collect();
    assert_eq!(values, expected);
    let mut stmt = db.prepare("SELECT object, name, qty, photo, thumb FROM Item ORDER BY object").expect("sql");
    type ItemRow = (String, Option<String>, Option<String>, Option<String>, Option<String>);
    let items: Vec<ItemRow> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("items");
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        items,
        [
            ("i1".to_owned(), s("bolt"), s("10"), s("https://cdn.example/i1.png"), None),
            ("i2".to_owned(), s("nut"), None, None, None),
        ]
    );
    for table in ["client_info", "changed_values"] {
        assert_eq!(names(&db, &format!("SELECT count(*) || '' FROM {table}")), ["0"], "{table} is left empty");
    }

    // The client's state of Product is the snapshot; Item (bulk only) is not seeded.
    let product = f.svc.source("Product").await.expect("source").expect("configured");
    let pk = product.keys(&f.svc, "amy");
    let (head, _) = f.svc.store.read_bodies(&pk, &[]).await.expect("head");
    let st: BTreeMap<String, String> =
        f.svc.store.hgetall(&pk.client(&client).st).await.expect("st").into_iter().collect();
    assert_eq!(st.get("base"), Some(&head.version.to_string()));
    assert_eq!(record.snapshots.get("Product").map(|s| s.version), Some(head.version));
    assert!(f.svc.store.hgetall(&item_pk.client(&client).st).await.expect("st").is_empty());
}

#[tokio::test]
async fn a_failing_adapter_marks_the_build_failed_and_the_next_request_starts_over() {
    let f = services();
    let client = f.client("bob").await;
    // Broken's backend document is not an object map: its query fails.
    let ctx = f.svc.source("Broken").await.expect("source").expect("configured");
    let scratch = ctx.adapter_ctx(&f.svc, "bob").scratch;
    scratch.set("test_db_storage:application:__shared__", json!("not a map")).await.expect("backend");
    assert_eq!(f.ask("bob", &client, "app", Some(&["Broken"])).await, BulkAnswer::Wait);
    f.run_jobs().await;
    let record = f.record("application/application").await;
    assert_eq!((record.state, &record.progress), (BulkState::Failed, &Progress::Failed));
    assert!(record.error.as_deref().unwrap_or_default().contains("query-error"), "{:?}", record.error);
    assert!(f.blobs.keys().is_empty(), "no file was uploaded");
    // The next request starts a new build, which succeeds once the backend is fixed.
    scratch.set("test_db_storage:application:__shared__", json!({"1": {"a": "b"}})).await.expect("backend");
    assert_eq!(f.ask("bob", &client, "app", Some(&["Broken"])).await, BulkAnswer::Wait);
    let rebuilt = f.record("application/application").await;
    assert_ne!(rebuilt.build, record.build);
    f.run_jobs().await;
    assert!(matches!(f.ask("bob", &client, "app", Some(&["Broken"])).await, BulkAnswer::Url(u) if !u.is_empty()));
}

#[tokio::test]
async fn expiry_and_a_lost_job_start_new_builds() {
    let f = services();
    let client = f.client("cy").await;
    assert_eq!(f.ask("cy", &client, "user", None).await, BulkAnswer::Wait);
    let lost = f.queue.take(Queue::Bulk);
    assert_eq!(lost.len(), 1);
    // Nobody runs the job: devices wait until the restart limit, then a new build starts.
    f.clock.advance_secs(bulk::request::BUILD_TIMEOUT_SECS - 1);
    assert_eq!(f.ask("cy", &client, "user", None).await, BulkAnswer::Wait);
    assert!(f.queue.messages(Queue::Bulk).is_empty());
    f.clock.advance_secs(1);
    assert_eq!(f.ask("cy", &client, "user", None).await, BulkAnswer::Wait);
    assert_eq!(f.run_jobs().await, 1);
    // The lost job, delivered late, belongs to a replaced build and writes nothing.
    let Job::Bulk { name, .. } = &lost[0].job else { panic!("bulk") };
    bulk::job::run(&f.svc, name, lost[0].id.as_deref().unwrap_or_default()).await.expect("late job");
    assert!(matches!(f.ask("cy", &client, "user", None).await, BulkAnswer::Url(_)));
    // bulk_sync_poll_interval (600 s) later the file has expired: a new build.
    f.clock.advance_secs(600);
    assert_eq!(f.ask("cy", &client, "user", None).await, BulkAnswer::Wait);
    assert_eq!(f.run_jobs().await, 1);
    assert!(matches!(f.ask("cy", &client, "user", None).await, BulkAnswer::Url(_)));
    // A file removed from the bucket (lifecycle rule) also starts a new build.
    let key = f.record("application/cy/cy").await.key.expect("key");
    f.blobs.delete(&format!("{key}.rzip")).await.expect("delete");
    assert_eq!(f.ask("cy", &client, "user", None).await, BulkAnswer::Wait);
}

#[tokio::test]
async fn a_missing_partition_is_refused_and_writes_nothing() {
    let f = services();
    let client = f.client("dee").await;
    let request = BulkRequest { partition: None, sources: None };
    let err = bulk::request::answer(&f.svc, "dee", &client, &request).await.expect_err("refused");
    assert_eq!(err.to_string(), "bulk_data needs a partition parameter (user or app)");
    assert!(f.queue.messages(Queue::Bulk).is_empty());
    assert!(bulk::request::load(&f.svc, "application/dee/dee").await.expect("load").is_none());
}

/// A partition of several chunks (the job reads 5000 objects at a time, the next chunk
/// while the previous one is inserted): every object and attribute arrives exactly once,
/// and the record carries the phases' timings. The build time against its floor is the
/// `bulk` scenario of `infra/bench` (docs/bulk-data.md §11).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_of_several_chunks_is_written_whole() {
    let objects = 12_345;
    let f = services();
    let client = f.client("big").await;
    let mut data = serde_json::Map::new();
    for i in 0..objects {
        let attrs: serde_json::Map<String, serde_json::Value> =
            (0..10).map(|a| (format!("attr{a}"), json!(format!("value {i} {a}")))).collect();
        data.insert(format!("obj{i:08}"), serde_json::Value::Object(attrs));
    }
    f.fill("Product", "big", serde_json::Value::Object(data)).await;
    assert_eq!(f.ask("big", &client, "user", Some(&["Product"])).await, BulkAnswer::Wait);
    f.run_jobs().await;
    let record = f.record("application/big/big").await;
    assert_eq!(record.state, BulkState::Completed, "{:?}", record.error);
    for phase in ["refresh", "write", "read", "insert", "index", "compress", "upload"] {
        assert!(record.timings.contains_key(phase), "no {phase} in {:?}", record.timings);
    }
    let key = record.key.clone().expect("key");
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("big.data");
    std::fs::write(&path, f.blob(&key).await).expect("write");
    assert_eq!(record.size, Some(std::fs::metadata(&path).expect("size").len()));
    let db = Connection::open(&path).expect("open");
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).expect(sql) };
    assert_eq!(count("SELECT count(*) FROM object_values"), objects as i64 * 10);
    assert_eq!(count("SELECT count(DISTINCT object) FROM object_values"), objects as i64);
    assert_eq!(count("SELECT count(*) FROM object_values WHERE value = 'value 12344 9' AND attrib = 'attr9'"), 1);
    let attribs: String =
        db.query_row("SELECT source_attribs FROM sources WHERE name = 'Product'", [], |r| r.get(0)).expect("row");
    let expected: Vec<String> = (0..10).map(|a| format!("attr{a},{objects}")).collect();
    assert_eq!(attribs, expected.join(","));
    assert_eq!(count("PRAGMA freelist_count"), 0, "no free pages left in the file");
}

/// A schema change of a partition source expires the file (docs/bulk-data.md §2.3): the
/// record keeps the schema hashes it was written with, and a request that finds another
/// hash now starts a new build.
#[tokio::test]
async fn a_schema_change_expires_the_file() {
    let f = services();
    let client = f.client("eve").await;
    f.fill("Item", "eve", json!({"i1": {"name": "bolt"}})).await;
    let item = f.svc.source("Item").await.expect("source").expect("configured");
    let pk = item.keys(&f.svc, "eve");
    let set_schema = |sha1: Option<&'static str>| {
        let fields = [("schema", sha1.map(|_| ITEM_SCHEMA.to_owned())), ("schema_sha1", sha1.map(str::to_owned))];
        let (store, src) = (f.svc.store.clone(), pk.src.clone());
        async move { store.hset(&src, &fields).await.expect("schema") }
    };
    set_schema(Some("sha-1")).await;
    assert_eq!(f.ask("eve", &client, "user", None).await, BulkAnswer::Wait);
    f.run_jobs().await;
    let record = f.record("application/eve/eve").await;
    assert_eq!(record.schemas.get("Item").map(String::as_str), Some("sha-1"));
    assert!(matches!(f.ask("eve", &client, "user", None).await, BulkAnswer::Url(u) if !u.is_empty()));
    assert!(f.queue.messages(Queue::Bulk).is_empty());

    // The adapter reports another schema: the file is stale, a new build starts.
    set_schema(Some("sha-2")).await;
    assert_eq!(f.ask("eve", &client, "user", None).await, BulkAnswer::Wait);
    let rebuilt = f.record("application/eve/eve").await;
    assert_ne!(rebuilt.build, record.build);
    assert_eq!(f.run_jobs().await, 1);
    assert_eq!(f.record("application/eve/eve").await.schemas.get("Item").map(String::as_str), Some("sha-2"));
    assert!(matches!(f.ask("eve", &client, "user", None).await, BulkAnswer::Url(_)));

    // A schema dropped counts as a change too.
    set_schema(None).await;
    assert_eq!(f.ask("eve", &client, "user", None).await, BulkAnswer::Wait);
    assert_eq!(f.run_jobs().await, 1);
    assert!(f.record("application/eve/eve").await.schemas.is_empty());
    assert!(matches!(f.ask("eve", &client, "user", None).await, BulkAnswer::Url(_)));
}
