//! The three SQS workers. Each accepts only its own job kinds; a message that lands on the
//! wrong queue fails loudly (and ends in the DLQ) rather than being dropped.
//!
//! The adapter worker runs queued refreshes and client writes (`sync::refresh`,
//! `sync::cud`); the push worker sends pings (`crate::push`); the bulk worker builds
//! bulk-data files (`crate::bulk::job`).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::{JobError, JobHandler, JobItem};
use crate::bulk;
use crate::config::Env;
use crate::edges::sqs::QueueUrls;
use crate::ports::jobs::{CudWrite, Job};
use crate::ports::Queue;
use crate::push::{PushPorts, PushService};
use crate::sync::cud;
use crate::sync::cud::apply::PendingWrite;
use crate::sync::{self, SyncError, SyncServices};

/// Which worker a queue feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkerName {
    Adapter,
    Push,
    Bulk,
}

impl WorkerName {
    pub const ALL: [WorkerName; 3] = [Self::Adapter, Self::Push, Self::Bulk];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Adapter => "adapter-worker",
            Self::Push => "push-worker",
            Self::Bulk => "bulk-worker",
        }
    }

    /// The queue this worker consumes.
    pub fn queue(self) -> Queue {
        match self {
            Self::Adapter => Queue::Adapter,
            Self::Push => Queue::Push,
            Self::Bulk => Queue::Bulk,
        }
    }

    /// The URL of [`WorkerName::queue`] in this deployment.
    pub fn queue_url(self, env: &Env) -> String {
        QueueUrls::from_env(env).url(self.queue()).to_owned()
    }

    /// The worker's job handler over the sync services.
    pub fn handler(self, svc: SyncServices) -> Box<dyn JobHandler> {
        match self {
            Self::Adapter => Box::new(AdapterWorker { svc }),
            Self::Push => Box::new(PushWorker::new(svc)),
            Self::Bulk => Box::new(BulkWorker { svc }),
        }
    }
}

/// Runs queued refreshes and applies queued client writes (docs/sync-engine.md §4.4, §6.3).
pub struct AdapterWorker {
    svc: SyncServices,
}

impl AdapterWorker {
    async fn refresh(&self, source: &str, user: &str, query: Option<&serde_json::Value>) -> Result<(), JobError> {
        // Adapter failures are recorded as the source's errors for devices, and the md is
        // left as it was; only infrastructure failures make the job fail (and retry).
        sync::refresh(&self.svc, source, user, query).await.map_err(|e| JobError::Failed(e.to_string()))
    }

    async fn write_of(&self, job: &Job) -> Result<Option<CudWrite>, JobError> {
        let Job::Cud { write, write_ref, .. } = job else { return Ok(None) };
        if let Some(write) = write {
            return Ok(Some((**write).clone()));
        }
        match write_ref {
            Some(object) => {
                cud::load_stored(self.svc.blobs(), object).await.map(Some).map_err(|e| JobError::Failed(e.to_string()))
            }
            None => Ok(None),
        }
    }
}

#[async_trait]
impl JobHandler for AdapterWorker {
    fn name(&self) -> &'static str {
        WorkerName::Adapter.as_str()
    }

    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        let item = JobItem { key: String::new(), job: job.clone(), receive_count: 1 };
        self.handle_batch(std::slice::from_ref(&item)).await.pop().unwrap_or(Ok(()))
    }

    /// Refreshes run one by one; client writes are grouped by source and each group is
    /// applied as one batch (docs/sync-engine.md §6.3: all entries together, oldest first).
    async fn handle_batch(&self, items: &[JobItem]) -> Vec<Result<(), JobError>> {
        let mut results: Vec<Result<(), JobError>> = Vec::with_capacity(items.len());
        let mut by_source: HashMap<String, Vec<(usize, PendingWrite)>> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            results.push(Ok(()));
            match &item.job {
                Job::Refresh { source, user, query } => results[i] = self.refresh(source, user, query.as_ref()).await,
                Job::Cud { source, .. } => match self.write_of(&item.job).await {
                    Ok(Some(write)) => by_source
                        .entry(source.clone())
                        .or_default()
                        .push((i, PendingWrite { write, last_attempt: item.is_last_attempt() })),
                    Ok(None) => tracing::warn!(source, "CUD job without a write; nothing to do"),
                    Err(err) => results[i] = Err(err),
                },
                other => results[i] = Err(JobError::WrongWorker(other.kind())),
            }
        }
        for (name, group) in by_source {
            let (indices, writes): (Vec<usize>, Vec<PendingWrite>) = group.into_iter().unzip();
            let outcomes = match self.svc.source(&name).await {
                Ok(Some(source)) => cud::apply::apply_batch(&self.svc, &source, writes).await,
                // The source left the settings after the write was accepted: fail loudly.
                Ok(None) => writes.iter().map(|_| Err(SyncError::UnknownSource)).collect(),
                Err(err) => {
                    let message = err.to_string();
                    writes.iter().map(|_| Err(SyncError::Internal(message.clone()))).collect()
                }
            };
            for (i, outcome) in indices.into_iter().zip(outcomes) {
                results[i] = outcome.map_err(|e| JobError::Failed(e.to_string()));
            }
        }
        // A worker invocation may be the last for a while: its adapter timings go now.
        self.svc.stats.flush(&*self.svc.store).await;
        results
    }
}

/// Sends pings to devices (docs/push.md): ping jobs and the chunk jobs large pings are
/// split into, through [`crate::push::PushService`].
pub struct PushWorker {
    svc: SyncServices,
    push: Arc<PushService>,
}

impl PushWorker {
    /// The worker with the real push edges, configured from the settings and environment.
    pub fn new(svc: SyncServices) -> Self {
        let push = Arc::new(crate::push::real_service(&svc.settings));
        Self { svc, push }
    }

    /// The worker over another push service (tests: in-memory senders).
    pub fn with_service(svc: SyncServices, push: Arc<PushService>) -> Self {
        Self { svc, push }
    }

    async fn run(&self, key: &str, job: &Job) -> Result<(), JobError> {
        let ports = PushPorts { registry: self.svc.registry(), store: &*self.svc.store, queue: self.svc.queue() };
        let (result, id, users, message) = match job {
            Job::Ping { users, message, .. } => {
                let notice = job.notice().unwrap_or_default();
                (self.push.ping(&ports, key, users, &notice).await, key, users.as_slice(), message.as_deref())
            }
            Job::PushChunk { ping, notice, devices } => (
                self.push.deliver(&ports, ping, notice, devices).await,
                ping.as_str(),
                &[][..],
                notice.message.as_deref(),
            ),
            other => return Err(JobError::WrongWorker(other.kind())),
        };
        let tally = result.map_err(|e| JobError::Failed(e.to_string()))?;
        // The console's last pings (docs/jobs.md §7); a chunk job reports its own slice.
        let at = self.svc.clock.now_secs();
        let entry = super::history::PingResult::new(id, at, users, message, &tally);
        if let Err(err) = super::history::record_ping(&*self.svc.store, &entry).await {
            tracing::warn!(job = key, error = %err, "recording the ping's result");
        }
        Ok(())
    }
}

#[async_trait]
impl JobHandler for PushWorker {
    fn name(&self) -> &'static str {
        WorkerName::Push.as_str()
    }

    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        // Without a delivery key the job stands for itself.
        let key = format!("unkeyed:{}", crate::auth::tokens::random_token());
        self.run(&key, job).await
    }

    async fn handle_batch(&self, items: &[JobItem]) -> Vec<Result<(), JobError>> {
        let runs = items.iter().map(|item| self.run(&item.key, &item.job));
        futures::future::join_all(runs).await
    }
}

/// Builds bulk-data files (docs/bulk-data.md §3, `crate::bulk::job`). The message id is the
/// build id of the record the job builds.
pub struct BulkWorker {
    svc: SyncServices,
}

#[async_trait]
impl JobHandler for BulkWorker {
    fn name(&self) -> &'static str {
        WorkerName::Bulk.as_str()
    }

    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        let item = JobItem { key: String::new(), job: job.clone(), receive_count: 1 };
        self.handle_batch(std::slice::from_ref(&item)).await.pop().unwrap_or(Ok(()))
    }

    async fn handle_batch(&self, items: &[JobItem]) -> Vec<Result<(), JobError>> {
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            results.push(match &item.job {
                // A failed build is recorded on its record and returns Ok; only a record that
                // cannot be read or written fails the job (and retries).
                Job::Bulk { name, .. } => {
                    bulk::job::run(&self.svc, name, &item.key).await.map_err(|e| JobError::Failed(e.to_string()))
                }
                other => Err(JobError::WrongWorker(other.kind())),
            });
        }
        self.svc.stats.flush(&*self.svc.store).await;
        results
    }
}
