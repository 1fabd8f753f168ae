//! The bulk record of one partition file (docs/bulk-data.md §2, §6): its name, where it is
//! kept, its life cycle and the job's progress; and the file's names (object keys, URL, zip
//! entry).
//!
//! The record lives in the sync cache, not the registry: it names partition versions
//! ([`Snapshot`]) that only mean something next to the cache's master documents, so when the
//! cache is flushed the record must go with them (a new request then builds a new file).

use std::collections::BTreeMap;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};

use crate::edges::Keys;

/// The two partitions a device asks for (docs/bulk-data.md §2.1). Any value other than
/// `user` names the app-wide file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BulkPartition {
    User,
    App,
}

impl BulkPartition {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::App => "app",
        }
    }
}

/// The record's name: `application/<login>/<login>` (user) or `application/application`
/// (app), as RhoConnect names it.
pub fn record_name(partition: BulkPartition, login: &str) -> String {
    match partition {
        BulkPartition::User => format!("application/{login}/{login}"),
        BulkPartition::App => "application/application".to_owned(),
    }
}

/// The cache key of a record (tag `bulk:<name>`, braces escaped like every tag).
pub fn record_key(keys: &Keys, name: &str) -> String {
    let tag = name.replace('{', "%7B").replace('}', "%7D");
    keys.key(&format!("bulk:{tag}"), "rec")
}

/// Where the record is in its life (docs/bulk-data.md §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BulkState {
    /// A job is queued or running.
    InProgress,
    /// The file is uploaded; devices get its URL until `refresh_time`.
    Completed,
    /// The job failed (`error` says why); the next request starts a new build.
    Failed,
}

/// What the job is doing, for the console (docs/bulk-data.md §9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Progress {
    Queued,
    /// Refreshing selected source `n` of `of` through its adapter.
    Refreshing {
        source: String,
        n: usize,
        of: usize,
    },
    /// Writing source `n` of `of`: `written` of its `objects` objects.
    Writing {
        source: String,
        n: usize,
        of: usize,
        written: u64,
        objects: u64,
    },
    Uploading,
    Done,
    Failed,
}

/// The partition version a selected source's data was read at: the file holds exactly that
/// version, so a device seeded with it syncs only later changes (docs/bulk-data.md §8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_sha1: Option<String>,
}

/// One bulk record, stored as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkRecord {
    pub name: String,
    /// Identifies one build: a job whose id is not the record's belongs to a build that was
    /// replaced, and writes nothing.
    pub build: String,
    pub state: BulkState,
    /// The requesting user (the adapters' acting user; the partition owner for `user`).
    pub user: String,
    pub partition: BulkPartition,
    /// The selected sources, in priority order.
    pub sources: Vec<String>,
    /// Every source of the partition, in priority order.
    pub partition_sources: Vec<String>,
    /// When the build was started (unix seconds).
    pub started_at: u64,
    /// Until when a completed file is handed out (unix seconds).
    pub refresh_time: u64,
    /// The object key of the `.data` file (the variants add `.rzip`, `.gzip`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The URL devices get (`/data/…`, escaped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Selected source → the version its data was read at.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub snapshots: BTreeMap<String, Snapshot>,
    /// Partition source → the hash of the schema the file was written with (sources with a
    /// schema). A source whose schema hash is now another one makes the file stale
    /// (docs/bulk-data.md §2.3).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub schemas: BTreeMap<String, String>,
    pub progress: Progress,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Bytes of the `.data` file, once written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Seconds the completed build spent refreshing, writing rows (`write`; within it the
    /// overlapping busy times `read` and `insert`), indexing, compressing and uploading.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub timings: BTreeMap<String, f64>,
}

/// The object-key prefix of every bulk file (the CloudFront `/data/*` behaviour and the
/// lifecycle rule of `template.yaml` match it).
pub const DATA_PREFIX: &str = "data/";

/// Characters escaped in a file URL segment: everything but unreserved ones.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// The names of one build's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileNames {
    /// Object key of the database: `data/<record name>_<secs>_<random>.data`.
    pub key: String,
    /// `/data/…` with each path segment escaped.
    pub url: String,
    /// The zip entry: the URL's last segment.
    pub entry: String,
}

impl FileNames {
    /// `random` makes the name unguessable (the files are served without a session).
    pub fn new(record_name: &str, secs: u64, random: &str) -> FileNames {
        let relative = format!("{record_name}_{secs}_{random}.data");
        let escaped: Vec<String> = relative.split('/').map(|s| utf8_percent_encode(s, SEGMENT).to_string()).collect();
        let entry = escaped.last().cloned().unwrap_or_default();
        FileNames { key: format!("{DATA_PREFIX}{relative}"), url: format!("/data/{}", escaped.join("/")), entry }
    }
}

/// The object key a `/data/…` request path names (segments unescaped), if it is one.
pub fn key_of_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/data/")?;
    let decoded = percent_encoding::percent_decode_str(rest).decode_utf8().ok()?;
    if decoded.is_empty() || decoded.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return None;
    }
    Some(format!("{DATA_PREFIX}{decoded}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_per_segment_and_round_trip() {
        assert_eq!(record_name(BulkPartition::User, "amy"), "application/amy/amy");
        assert_eq!(record_name(BulkPartition::App, "amy"), "application/application");
        let names = FileNames::new("application/a b/a b", 1383223800, "0f");
        assert_eq!(names.key, "data/application/a b/a b_1383223800_0f.data");
        assert_eq!(names.url, "/data/application/a%20b/a%20b_1383223800_0f.data");
        assert_eq!(names.entry, "a%20b_1383223800_0f.data");
        assert_eq!(key_of_path(&format!("{}.rzip", names.url)).as_deref(), Some(&*format!("{}.rzip", names.key)));
        assert_eq!(key_of_path("/data/../x"), None);
        assert_eq!(key_of_path("/other"), None);
    }

    #[test]
    fn record_round_trips_as_json() {
        let record = BulkRecord {
            name: "application/amy/amy".into(),
            build: "b1".into(),
            state: BulkState::InProgress,
            user: "amy".into(),
            partition: BulkPartition::User,
            sources: vec!["Product".into()],
            partition_sources: vec!["Product".into(), "Customer".into()],
            started_at: 10,
            refresh_time: 3610,
            key: None,
            url: None,
            snapshots: BTreeMap::new(),
            schemas: BTreeMap::from([("Item".into(), "9f".into())]),
            progress: Progress::Writing { source: "Product".into(), n: 1, of: 2, written: 5, objects: 9 },
            error: None,
            size: None,
            timings: BTreeMap::new(),
        };
        let text = serde_json::to_string(&record).expect("encodes");
        assert!(text.contains(r#""progress":{"step":"writing","source":"Product""#), "{text}");
        assert_eq!(serde_json::from_str::<BulkRecord>(&text).expect("decodes"), record);
    }
}
