//! The three SQS workers. Each accepts only its own job kinds; a message that lands on the
//! wrong queue fails loudly (and ends in the DLQ) rather than being dropped.

use async_trait::async_trait;

use super::{Job, JobError, JobHandler};
use crate::state::AppState;

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
    pub fn queue_url(self, state: &AppState) -> String {
        let env = &state.config.env;
        match self {
            Self::Adapter => env.adapter_queue_url.clone(),
            Self::Push => env.push_queue_url.clone(),
            Self::Bulk => env.bulk_queue_url.clone(),
        }
    }

    pub fn handler(self, state: AppState) -> Box<dyn JobHandler> {
        match self {
            Self::Adapter => Box::new(AdapterWorker { state }),
            Self::Push => Box::new(PushWorker { state }),
            Self::Bulk => Box::new(BulkWorker { state }),
        }
    }
}

/// Runs adapter refreshes and queued client writes.
pub struct AdapterWorker {
    #[allow(dead_code)]
    state: AppState,
}

#[async_trait]
impl JobHandler for AdapterWorker {
    fn name(&self) -> &'static str {
        WorkerName::Adapter.as_str()
    }

    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        match job {
            Job::Refresh { source, user, .. } | Job::Cud { source, user } => {
                tracing::info!(source, user, kind = job.kind(), "adapter job received");
                Ok(())
            }
            other => Err(JobError::WrongWorker(other.kind())),
        }
    }
}

/// Sends pings to devices.
pub struct PushWorker {
    #[allow(dead_code)]
    state: AppState,
}

#[async_trait]
impl JobHandler for PushWorker {
    fn name(&self) -> &'static str {
        WorkerName::Push.as_str()
    }

    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        match job {
            Job::Ping { users, .. } => {
                tracing::info!(users = users.len(), "ping job received");
                Ok(())
            }
            other => Err(JobError::WrongWorker(other.kind())),
        }
    }
}

/// Builds bulk-data files.
pub struct BulkWorker {
    #[allow(dead_code)]
    state: AppState,
}

#[async_trait]
impl JobHandler for BulkWorker {
    fn name(&self) -> &'static str {
        WorkerName::Bulk.as_str()
    }

    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        match job {
            Job::Bulk { name, .. } => {
                tracing::info!(name, "bulk job received");
                Ok(())
            }
            other => Err(JobError::WrongWorker(other.kind())),
        }
    }
}
