//! Bulk data (docs/bulk-data.md): a partition's initial data as one SQLite file.
//!
//! A service over the ports [`crate::sync::SyncServices`] carries (store, queue, blob store,
//! clock) and the sync services it reuses (refresh through the adapters, source settings):
//!
//! * [`request`] — the device's `bulk_data` request: selection, the `nop` / `wait` / `url`
//!   answers, starting (and restarting) builds, seeding the client's sync state (§2, §8);
//! * [`job`] — the bulk worker's job: refresh, snapshot, write, upload, complete (§3);
//! * [`record`] — the bulk record, its life cycle and progress, and the file names (§2, §5);
//! * [`layout`] — the SQLite layout as SQL text and row values (pure, §4);
//! * [`writer`] — writing the database and its `.rzip` / `.gzip` variants on local disk;
//! * [`serve`] — answering a `/data/…` download with `Range` support (§6).

pub mod job;
pub mod layout;
pub mod record;
pub mod request;
pub mod serve;
pub mod writer;

pub use record::{BulkPartition, BulkRecord, BulkState, Progress};
pub use request::{BulkAnswer, BulkRequest};

use crate::ports::{BlobError, QueueError};
use crate::store::StoreError;
use crate::sync::SyncError;

/// Errors of bulk data; mapped to HTTP once, in `crate::http`.
#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    /// The request names no partition (docs/bulk-data.md §2.1).
    #[error("bulk_data needs a partition parameter (user or app)")]
    MissingPartition,
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// A record in the cache that does not decode.
    #[error("bulk record {0}: {1}")]
    Record(String, String),
    /// An adapter failed while the job refreshed its source.
    #[error("source {name}: {message}")]
    Adapter { name: String, message: String },
    /// Writing the file on local disk failed.
    #[error("bulk file: {0}")]
    File(String),
}
