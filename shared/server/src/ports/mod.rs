//! Ports: the small traits the services reach the outside world through, each with an
//! in-memory implementation for tests, and the data that travels on the queues.
//!
//! * [`clock`] — "now" ([`Clock`]; [`SystemClock`], and [`ManualClock`] for tests);
//! * [`jobs`] — the job messages ([`JobMessage`], [`Job`]) and the queued client write
//!   ([`CudWrite`], [`BlobRef`], [`CudOp`]);
//! * [`queue`] — [`JobQueue`]: send a job to one of the three queues ([`MemoryJobQueue`]);
//! * [`queue_admin`] — [`QueueAdmin`]: queue depths, DLQ messages, replay and discard
//!   ([`MemoryQueueAdmin`]);
//! * [`blobs`] — [`BlobStore`]: objects in the data bucket ([`MemoryBlobStore`]).
//!
//! The real edges are in [`crate::edges`] (`sqs`, `s3`); the registry port, with its
//! DynamoDB and in-memory implementations, is [`crate::registry`]. Nothing here imports
//! the services (`sync`, `jobs`, `http`) or the edges, so every layer can depend on it.

pub mod blobs;
pub mod clock;
pub mod jobs;
pub mod queue;
pub mod queue_admin;

pub use blobs::{BlobError, BlobMeta, BlobStore, MemoryBlobStore};
pub use clock::{Clock, ManualClock, SystemClock};
pub use jobs::{BlobRef, CudOp, CudWrite, Job, JobMessage, Platform, PushDevice, PushNotice, RawAttrs};
pub use queue::{JobQueue, MemoryJobQueue, Queue, QueueError, MAX_RECEIVE_COUNT};
pub use queue_admin::{DeadLetter, MemoryQueueAdmin, QueueAdmin, QueueDepth};
