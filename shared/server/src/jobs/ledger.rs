//! Remembers which jobs finished, so an SQS redelivery of a finished job does nothing.
//!
//! Entries expire after a day: SQS keeps a message at most 14 days but redelivers a handled
//! one only within its visibility window, so a day is ample.

use redis::AsyncCommands;

use crate::edges::{RedisEdge, RedisError};

const TTL_SECS: u64 = 86_400;

#[derive(Clone)]
pub struct JobLedger {
    redis: RedisEdge,
}

impl JobLedger {
    pub fn new(redis: RedisEdge) -> Self {
        Self { redis }
    }

    fn key(&self, job_id: &str) -> String {
        self.redis.keys.key(&format!("job:{job_id}"), "done")
    }

    pub async fn is_done(&self, job_id: &str) -> Result<bool, RedisError> {
        let mut conn = self.redis.conn();
        Ok(conn.exists(self.key(job_id)).await?)
    }

    pub async fn mark_done(&self, job_id: &str) -> Result<(), RedisError> {
        let mut conn = self.redis.conn();
        let _: () = conn.set_ex(self.key(job_id), 1, TTL_SECS).await?;
        Ok(())
    }
}
