//! The bulk worker's job (docs/bulk-data.md §3): refresh the selected sources through their
//! adapters, read each one's master document at one version (the snapshot) a chunk at a
//! time, write the SQLite file on local disk as the chunks come, zip and gzip it, upload
//! the three files and mark the record completed. Any failure marks the record failed with
//! the error; the next request starts a new build.
//!
//! Every step first checks that the record still belongs to this build: a build that was
//! replaced (restarted after [`super::request::BUILD_TIMEOUT_SECS`]) writes nothing more.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rhosync_engine::model::{BodyAt, ObjectRecord};
use rhosync_engine::values::{decode_body, Attrs};

use super::layout::{self, Schema, SourceRow};
use super::record::{BulkRecord, BulkState, FileNames, Progress, Snapshot};
use super::request::{self, partition_sources};
use super::writer::{self, FileWriter};
use super::BulkError;
use crate::config::SyncType;
use crate::ports::blobs::DEFAULT_CONTENT_TYPE;
use crate::store::keys::PartitionKeys;
use crate::sync::{refresh, sources, SourceCtx, SyncServices};

/// Objects handed to the writer per blocking call (and per progress update).
const CHUNK: usize = 5000;

/// Runs build `build` of record `name`. `Ok` also when the job had nothing to do (record
/// gone, or replaced by a newer build) or when it failed and marked the record so: the
/// record, not the queue, carries the outcome, and a redelivery would only build again.
pub async fn run(svc: &SyncServices, name: &str, build: &str) -> Result<(), BulkError> {
    let Some(mut record) = request::load(svc, name).await? else {
        tracing::info!(name, "bulk record gone; nothing to build");
        return Ok(());
    };
    if record.build != build || record.state != BulkState::InProgress {
        tracing::info!(name, build, "bulk build replaced or finished; skipped");
        return Ok(());
    }
    match build_file(svc, &mut record).await {
        Ok(()) => {
            record.state = BulkState::Completed;
            record.progress = Progress::Done;
            record.refresh_time = svc.clock.now_secs() + svc.app().bulk_sync_poll_interval;
            save_if_current(svc, &record).await?;
            tracing::info!(name, url = record.url.as_deref().unwrap_or(""), "bulk file built");
        }
        Err(err) => {
            tracing::warn!(name, error = %err, "bulk build failed");
            record.state = BulkState::Failed;
            record.progress = Progress::Failed;
            record.error = Some(err.to_string());
            save_if_current(svc, &record).await?;
        }
    }
    Ok(())
}

/// Saves `record` unless another build took its place.
async fn save_if_current(svc: &SyncServices, record: &BulkRecord) -> Result<bool, BulkError> {
    match request::load(svc, &record.name).await? {
        Some(stored) if stored.build == record.build => {
            request::save(svc, record).await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

async fn progress(svc: &SyncServices, record: &mut BulkRecord, step: Progress) -> Result<(), BulkError> {
    record.progress = step;
    if save_if_current(svc, record).await? {
        Ok(())
    } else {
        Err(BulkError::File("the build was replaced by a newer one".into()))
    }
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BulkError> + Send + 'static,
) -> Result<T, BulkError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| BulkError::File(format!("writer thread: {e}")))?
}

/// The source's refresh as a query would run it (docs/bulk-data.md §3 step 1): only when
/// its poll interval has passed, so a recently refreshed master document is used as is.
async fn refresh_source(svc: &SyncServices, source: &SourceCtx, user: &str) -> Result<(), BulkError> {
    let pk = source.keys(svc, user);
    let poll = refresh::poll_interval(svc, source).await?;
    let now = svc.clock.now_secs();
    let rt = svc.store.hget(&pk.rs, "refresh_time").await?.and_then(|v| v.parse::<f64>().ok());
    let due = poll == 0 || (poll != -1 && rt.is_none_or(|rt| rt <= now as f64));
    if !due {
        return Ok(());
    }
    let prev = rt.map_or(now.to_string(), |rt| (rt as i64).to_string());
    let next = (now as i64 + poll.max(0)).to_string();
    svc.store.hset(&pk.rs, &[("prev_refresh_time", Some(prev)), ("refresh_time", Some(next))]).await?;
    let out = refresh::run(svc, source, user, None, poll, true).await?;
    for kind in ["login-error", "query-error"] {
        if let Some(error) = out.errors.get(kind) {
            let message = error.get("message").and_then(|m| m.as_str()).unwrap_or(kind).to_owned();
            return Err(BulkError::Adapter { name: source.config.name.clone(), message: format!("{kind}: {message}") });
        }
    }
    Ok(())
}

async fn build_file(svc: &SyncServices, record: &mut BulkRecord) -> Result<(), BulkError> {
    let all = partition_sources(svc, record.partition.as_str()).await?;
    let by_name: HashMap<&str, &SourceCtx> = all.iter().map(|s| (s.config.name.as_str(), s)).collect();
    // The record's lists, as they were when the build started (sources that left the
    // settings since are skipped).
    let partition: Vec<&SourceCtx> =
        record.partition_sources.iter().filter_map(|n| by_name.get(n.as_str()).copied()).collect();
    let selected: Vec<&SourceCtx> = record.sources.iter().filter_map(|n| by_name.get(n.as_str()).copied()).collect();
    let user = record.user.clone();
    let phase = std::time::Instant::now();
    for (i, source) in selected.iter().enumerate() {
        let step = Progress::Refreshing { source: source.config.name.clone(), n: i + 1, of: selected.len() };
        progress(svc, record, step).await?;
        refresh_source(svc, source, &user).await?;
    }

    let mut timings = vec![("refresh", phase.elapsed().as_secs_f64())];
    let mut busy = Busy::default();
    let phase = std::time::Instant::now();
    let now = svc.clock.now_secs();
    let names = FileNames::new(&record.name, now, &crate::auth::tokens::random_token());
    let dir = tempfile::tempdir()?;
    let data_path = dir.path().join("bulk.data");
    let path = data_path.clone();
    let mut file = blocking(move || FileWriter::create(&path)).await?;
    let views = sources::all(svc).await.map_err(|e| BulkError::File(format!("source settings: {e}")))?;
    let mut rows = Vec::with_capacity(partition.len());
    for (i, source) in partition.iter().enumerate() {
        let name = source.config.name.clone();
        let is_selected = record.sources.contains(&name);
        let pk = source.keys(svc, &user);
        let src: HashMap<String, String> = svc.store.hgetall(&pk.src).await?.into_iter().collect();
        let schema_text = src.get("schema").filter(|s| !s.is_empty()).cloned();
        let schema = schema_text.as_deref().and_then(Schema::parse);
        let refresh_time =
            svc.store.hget(&pk.rs, "refresh_time").await?.and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) as i64;
        let source_id = i as i64 + 1;
        if let Some(schema) = &schema {
            let (s, n) = (schema.clone(), name.clone());
            file = blocking(move || file.create_source_table(&n, &s).map(|()| file)).await?;
        }
        let mut counts: HashMap<String, u64> = HashMap::new();
        if let Some(sha1) = src.get("schema_sha1").filter(|s| !s.is_empty()) {
            record.schemas.insert(name.clone(), sha1.clone());
        }
        let size = if is_selected {
            // The snapshot is the partition's version now; the objects are then read a
            // chunk at a time as they were at that version (the change history holds the
            // bodies of objects changed since), so the worker never holds the whole md.
            let (head, _) = svc.store.read_bodies(&pk, &[]).await?;
            record
                .snapshots
                .insert(name.clone(), Snapshot { version: head.version, schema_sha1: src.get("schema_sha1").cloned() });
            let ids: Vec<String> = svc.store.index(&pk).await?.into_iter().map(|(id, _)| id).collect();
            let total = head.md_size;
            let mut written = 0u64;
            // The next chunk is read from the store while the writer thread inserts this
            // one: at most two chunks are held at a time.
            let mut chunks = ids.chunks(CHUNK);
            let mut pending = match chunks.next() {
                Some(first) => Some(timed(&mut busy.read, bodies_at(svc, &pk, &name, first, head.version)).await?),
                None => None,
            };
            while let Some(chunk) = pending.take() {
                written += chunk.len() as u64;
                let (s, n, mut c) = (schema.clone(), name.clone(), std::mem::take(&mut counts));
                let write = blocking(move || {
                    let started = std::time::Instant::now();
                    file.write_objects(source_id, &n, s.as_ref(), &chunk, &mut c)?;
                    Ok((file, c, started.elapsed().as_secs_f64()))
                });
                let read_next = async {
                    match chunks.next() {
                        Some(ids) => {
                            timed(&mut busy.read, bodies_at(svc, &pk, &name, ids, head.version)).await.map(Some)
                        }
                        None => Ok(None),
                    }
                };
                let (wrote, next) = tokio::join!(write, read_next);
                let (f, c, took) = wrote?;
                (file, counts) = (f, c);
                busy.insert += took;
                pending = next?;
                let step =
                    Progress::Writing { source: name.clone(), n: i + 1, of: partition.len(), written, objects: total };
                progress(svc, record, step).await?;
            }
            if written != total {
                return Err(BulkError::File(format!(
                    "source {name}: {written} objects read at version {}, the partition had {total}",
                    head.version
                )));
            }
            total
        } else {
            let (head, _) = svc.store.read_bodies(&pk, &[]).await?;
            head.md_size
        };
        if let Some(schema) = &schema {
            let (s, n) = (schema.clone(), name.clone());
            file = blocking(move || file.index_source_table(&n, &s).map(|()| file)).await?;
        }
        let sync_type = match (is_selected, source.config.sync_type) {
            (false, _) => "none",
            (true, SyncType::Incremental) => "incremental",
            (true, SyncType::BulkOnly) => "bulk_sync_only",
        };
        rows.push(SourceRow {
            source_id,
            name: name.clone(),
            sync_priority: source.config.priority,
            partition: record.partition.as_str().to_owned(),
            sync_type: sync_type.to_owned(),
            metadata: src.get("metadata").filter(|m| !m.is_empty()).cloned(),
            last_inserted_size: size as i64,
            backend_refresh_time: refresh_time,
            source_attribs: if schema.is_some() { String::new() } else { layout::source_attribs(&counts) },
            schema_version: schema.as_ref().and_then(|s| s.version.clone()),
            schema: schema_text,
            associations: sources::has_many(&views, &name),
            blob_attribs: schema.as_ref().map(Schema::blob_attribs).unwrap_or_default(),
        });
    }
    timings.push(("write", phase.elapsed().as_secs_f64()));
    timings.push(("read", busy.read));
    timings.push(("insert", busy.insert));
    let phase = std::time::Instant::now();
    let data = blocking(move || file.finish(&rows)).await?;
    timings.push(("index", phase.elapsed().as_secs_f64()));
    // The two variants are independent: written side by side.
    let phase = std::time::Instant::now();
    let (rzip, gzip) = (dir.path().join("bulk.data.rzip"), dir.path().join("bulk.data.gzip"));
    let (entry, d1, d2, z, g) = (names.entry.clone(), data.clone(), data.clone(), rzip.clone(), gzip.clone());
    let (zipped, gzipped) = tokio::join!(
        blocking(move || writer::write_rzip(&d1, &z, &entry)),
        blocking(move || writer::write_gzip(&d2, &g))
    );
    zipped?;
    gzipped?;
    timings.push(("compress", phase.elapsed().as_secs_f64()));
    progress(svc, record, Progress::Uploading).await?;
    let phase = std::time::Instant::now();
    upload(svc, &names.key, (data, rzip, gzip)).await?;
    timings.push(("upload", phase.elapsed().as_secs_f64()));
    record.timings = timings.into_iter().map(|(k, v)| (k.to_owned(), (v * 1000.0).round() / 1000.0)).collect();
    record.size = std::fs::metadata(&data_path).ok().map(|m| m.len());
    record.key = Some(names.key);
    record.url = Some(names.url);
    Ok(())
}

/// Seconds the two sides of the write phase were busy (they overlap, docs/bulk-data.md §9).
#[derive(Default)]
struct Busy {
    /// Reading chunks from the store and decoding them.
    read: f64,
    /// Inserting rows on the writer thread.
    insert: f64,
}

/// Awaits `work`, adding the seconds it took to `total`.
async fn timed<T>(total: &mut f64, work: impl std::future::Future<Output = T>) -> T {
    let started = std::time::Instant::now();
    let out = work.await;
    *total += started.elapsed().as_secs_f64();
    out
}

/// The bodies of `ids` as they were at `version`, decoded (absent ones left out). Fails
/// when the history no longer reaches back to `version` (pruned while the job ran).
async fn bodies_at(
    svc: &SyncServices,
    pk: &PartitionKeys,
    source: &str,
    ids: &[String],
    version: u64,
) -> Result<Vec<(String, Attrs)>, BulkError> {
    let (head, records) = svc.store.records(pk, ids).await?;
    let none = ObjectRecord::default();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match records.get(id).unwrap_or(&none).body_at(version, head.horizon) {
            BodyAt::Known(None) => {}
            BodyAt::Known(Some(body)) => {
                let attrs = decode_body(body).map_err(|e| BulkError::File(format!("source {source}: {e}")))?;
                out.push((id.clone(), attrs));
            }
            BodyAt::Unknown => {
                return Err(BulkError::File(format!(
                    "source {source}: the change history was pruned past version {version} while the file was written"
                )))
            }
        }
    }
    Ok(out)
}

/// Uploads the gzip, the database, then the zip: "files exist" is the last two
/// (docs/bulk-data.md §5), so a half-done upload is never handed out.
async fn upload(
    svc: &SyncServices,
    key: &str,
    (data, rzip, gzip): (PathBuf, PathBuf, PathBuf),
) -> Result<(), BulkError> {
    let files: [(String, &Path); 3] =
        [(format!("{key}.gzip"), &gzip), (key.to_owned(), &data), (format!("{key}.rzip"), &rzip)];
    for (k, path) in files {
        svc.blobs().put_file(&k, path, Some(DEFAULT_CONTENT_TYPE)).await?;
    }
    Ok(())
}
