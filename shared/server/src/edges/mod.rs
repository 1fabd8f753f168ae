//! Edges: the real systems behind the ports — Redis, DynamoDB, SQS, S3. Each is built once
//! per process (outside any handler) and tested against the real thing.

pub mod aws;
pub mod redis;

pub use self::aws::{AwsClients, AwsError};
pub use self::redis::{Keys, RedisEdge, RedisError};
