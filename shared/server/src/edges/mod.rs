//! Edges: the real systems behind the ports — Redis, DynamoDB (`crate::registry::dynamo`),
//! SQS ([`sqs`], the job queue), S3 ([`s3`], the blob store). Each is built once
//! per process (outside any handler) and tested against the real thing.

pub mod aws;
pub mod redis;
pub mod redis_conn;
pub mod s3;
pub mod sqs;
pub mod sqs_admin;

pub use self::aws::{AwsClients, AwsError};
pub use self::redis::{ConnectOptions, Keys, RedisConn, RedisEdge, RedisError};
pub use self::s3::S3BlobStore;
pub use self::sqs::{QueueUrls, SqsJobQueue};
pub use self::sqs_admin::SqsQueueAdmin;
