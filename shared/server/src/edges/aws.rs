//! The AWS edges: SQS, DynamoDB and S3 clients built once from `aws-config`.
//!
//! Nothing here knows which endpoint answers: `AWS_ENDPOINT_URL` points the SDK at moto or
//! LocalStack locally and is absent in Lambda. S3 uses path-style addressing whenever an
//! endpoint is set, because emulators do not serve virtual-host buckets.
//!
//! Every client counts its calls ([`CallCounter`], an SDK interceptor): per service into
//! process-wide atomics ([`process_calls`]) and, inside [`counting_calls`], into the
//! current request's counts as well (docs/registry.md §4).
//!
//! [`provision`] creates the resources `template.yaml` declares (queues with their DLQs, the
//! registry table, the data bucket) under a name prefix, for the local stack and for tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::ports::queue::MAX_RECEIVE_COUNT;

#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("{service}: {message}")]
    Call { service: &'static str, message: String },
}

/// The call failed because the service is unreachable, slow or overloaded — not because of
/// what was asked: no connection, a timeout, a broken response, throttling or a 5xx. Such
/// failures answer 503 (the caller may retry); the others are the caller's or ours.
/// A 5xx counts by its status too: a gateway's HTML error page has no error code.
pub fn is_outage<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) if service.raw().status().is_server_error() => true,
        SdkError::ServiceError(service) => matches!(
            service.err().code(),
            Some(
                "ThrottlingException"
                    | "Throttling"
                    | "ProvisionedThroughputExceededException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
                    | "InternalFailure"
                    | "InternalError"
                    | "ServiceUnavailable"
                    | "SlowDown"
                    | "RequestThrottled"
            )
        ),
        _ => false,
    }
}

impl AwsError {
    pub fn call(service: &'static str, err: impl std::fmt::Display) -> Self {
        // The SDK's Display is terse ("service error"); the Debug form carries the code.
        Self::Call { service, message: err.to_string() }
    }

    pub fn sdk<E: std::error::Error>(service: &'static str, err: E) -> Self {
        let mut message = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self::Call { service, message }
    }
}

/// The three AWS clients every function may use; clones are cheap.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub sqs: aws_sdk_sqs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
}

impl AwsClients {
    /// The clients with the request timeout ([`crate::config::Timeouts`]'s default).
    pub async fn from_env() -> Self {
        Self::from_env_with(Duration::from_millis(crate::config::Timeouts::default().aws_ms)).await
    }

    /// The clients with `timeout` for each call, its retries included: connecting gives up
    /// after at most 1 s and an attempt after `timeout`, with one retry when time is left,
    /// so an unreachable service fails the request within `timeout` (503), not after the
    /// SDK's default of minutes. S3 carries files, so its calls may take 10 times as long
    /// (connecting still gives up after 1 s).
    pub async fn from_env_with(timeout: Duration) -> Self {
        Self::build(timeout, None).await
    }

    /// [`AwsClients::from_env_with`] against `endpoint` (an emulator) instead of the one the
    /// environment names: tests that stop and start their own emulator.
    pub async fn with_endpoint(endpoint: &str, timeout: Duration) -> Self {
        Self::build(timeout, Some(endpoint)).await
    }

    async fn build(timeout: Duration, endpoint: Option<&str>) -> Self {
        let connect = timeout.min(Duration::from_secs(1));
        let timeouts = |scale: u32| {
            TimeoutConfig::builder()
                .connect_timeout(connect)
                .operation_attempt_timeout(timeout * scale)
                .operation_timeout(timeout * scale)
                .build()
        };
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(timeouts(1))
            .retry_config(RetryConfig::standard().with_max_attempts(2));
        if let Some(url) = endpoint {
            loader = loader.endpoint_url(url);
        }
        let shared = loader.load().await;
        let emulated = endpoint.is_some() || std::env::var_os("AWS_ENDPOINT_URL").is_some();
        let s3_config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(emulated)
            .timeout_config(timeouts(10))
            .interceptor(CallCounter(AwsService::S3))
            .build();
        let sqs_config = aws_sdk_sqs::config::Builder::from(&shared).interceptor(CallCounter(AwsService::Sqs)).build();
        let dynamodb_config =
            aws_sdk_dynamodb::config::Builder::from(&shared).interceptor(CallCounter(AwsService::DynamoDb)).build();
        Self {
            sqs: aws_sdk_sqs::Client::from_conf(sqs_config),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb_config),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
        }
    }
}

/// The Secrets Manager client's configuration, its calls counted (built where secrets
/// are read, `crate::push::secrets`).
pub fn counted_secrets_config(shared: &aws_config::SdkConfig) -> aws_sdk_secretsmanager::Config {
    aws_sdk_secretsmanager::config::Builder::from(shared).interceptor(CallCounter(AwsService::SecretsManager)).build()
}

/// The AWS services whose calls are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsService {
    DynamoDb,
    Sqs,
    S3,
    SecretsManager,
}

impl AwsService {
    pub const ALL: [AwsService; 4] = [Self::DynamoDb, Self::Sqs, Self::S3, Self::SecretsManager];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::DynamoDb => "dynamodb",
            Self::Sqs => "sqs",
            Self::S3 => "s3",
            Self::SecretsManager => "secretsmanager",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Calls per service, counted with relaxed atomic adds.
#[derive(Debug, Default)]
pub struct CallCounts([AtomicU64; 4]);

impl CallCounts {
    pub const fn new() -> Self {
        Self([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)])
    }

    fn add(&self, service: AwsService) {
        self.0[service.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts as they are now.
    pub fn snapshot(&self) -> AwsCalls {
        AwsCalls(std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed)))
    }
}

/// Calls per service, in [`AwsService::ALL`] order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AwsCalls(pub [u64; 4]);

impl AwsCalls {
    pub fn of(&self, service: AwsService) -> u64 {
        self.0[service.index()]
    }

    /// `dynamodb=1,sqs=0,s3=0,secretsmanager=0`.
    pub fn header_value(&self) -> String {
        AwsService::ALL.iter().map(|s| format!("{}={}", s.as_str(), self.of(*s))).collect::<Vec<_>>().join(",")
    }

    /// Reads [`AwsCalls::header_value`] back (unknown names ignored).
    pub fn parse(text: &str) -> Option<Self> {
        let mut out = Self::default();
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=')?;
            let value: u64 = value.trim().parse().ok()?;
            if let Some(service) = AwsService::ALL.iter().find(|s| s.as_str() == name.trim()) {
                out.0[service.index()] = value;
            }
        }
        Some(out)
    }
}

static PROCESS_CALLS: CallCounts = CallCounts::new();

tokio::task_local! {
    static REQUEST_CALLS: std::sync::Arc<CallCounts>;
}

/// Every AWS call this process made so far, per service.
pub fn process_calls() -> AwsCalls {
    PROCESS_CALLS.snapshot()
}

/// Runs `work` and also counts the AWS calls made while it runs — on its own task:
/// calls made by tasks it spawns are not counted here (only in [`process_calls`]).
pub async fn counting_calls<F: std::future::Future>(work: F) -> (F::Output, AwsCalls) {
    let counts = std::sync::Arc::new(CallCounts::new());
    let output = REQUEST_CALLS.scope(counts.clone(), work).await;
    (output, counts.snapshot())
}

/// The SDK interceptor that counts each operation once (before its first attempt, so
/// retries are not counted again).
#[derive(Debug, Clone, Copy)]
pub struct CallCounter(pub AwsService);

impl aws_sdk_dynamodb::config::Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "rhosync-call-counter"
    }

    fn read_before_execution(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        PROCESS_CALLS.add(self.0);
        let _ = REQUEST_CALLS.try_with(|counts| counts.add(self.0));
        Ok(())
    }
}

/// Names and URLs of one provisioned stack.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub table: String,
    pub bucket: String,
    pub adapter_queue_url: String,
    pub push_queue_url: String,
    pub bulk_queue_url: String,
    pub adapter_dlq_url: String,
    pub push_dlq_url: String,
    pub bulk_dlq_url: String,
}

impl Provisioned {
    /// Shell `export` lines, as `rhosync-local provision` prints them.
    pub fn export_lines(&self) -> String {
        format!(
            "export RHOSYNC_TABLE={}\nexport RHOSYNC_BUCKET={}\nexport RHOSYNC_ADAPTER_QUEUE_URL={}\nexport RHOSYNC_PUSH_QUEUE_URL={}\nexport RHOSYNC_BULK_QUEUE_URL={}\n",
            self.table, self.bucket, self.adapter_queue_url, self.push_queue_url, self.bulk_queue_url
        ) + &format!(
            "export RHOSYNC_ADAPTER_DLQ_URL={}\nexport RHOSYNC_PUSH_DLQ_URL={}\nexport RHOSYNC_BULK_DLQ_URL={}\n",
            self.adapter_dlq_url, self.push_dlq_url, self.bulk_dlq_url
        )
    }
}

/// Queue visibility timeout in seconds, as in the template.
pub const VISIBILITY_TIMEOUT_SECS: u32 = 30;

/// Creates (idempotently) the table, bucket and queues under `prefix`.
pub async fn provision(aws: &AwsClients, prefix: &str) -> Result<Provisioned, AwsError> {
    let table = format!("{prefix}-registry");
    let bucket = format!("{prefix}-data");
    create_table(aws, &table).await?;
    create_bucket(aws, &bucket).await?;
    let (adapter_queue_url, adapter_dlq_url) = create_queue_with_dlq(aws, &format!("{prefix}-adapter")).await?;
    let (push_queue_url, push_dlq_url) = create_queue_with_dlq(aws, &format!("{prefix}-push")).await?;
    let (bulk_queue_url, bulk_dlq_url) = create_queue_with_dlq(aws, &format!("{prefix}-bulk")).await?;
    Ok(Provisioned {
        table,
        bucket,
        adapter_queue_url,
        push_queue_url,
        bulk_queue_url,
        adapter_dlq_url,
        push_dlq_url,
        bulk_dlq_url,
    })
}

async fn create_table(aws: &AwsClients, name: &str) -> Result<(), AwsError> {
    if aws.dynamodb.describe_table().table_name(name).send().await.is_ok() {
        return Ok(());
    }
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| AwsError::call("dynamodb", e))
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder().attribute_name(n).key_type(t).build().map_err(|e| AwsError::call("dynamodb", e))
    };
    aws.dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk")?)
        .attribute_definitions(attr("sk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .send()
        .await
        .map_err(|e| AwsError::sdk("dynamodb", e))?;
    Ok(())
}

async fn create_bucket(aws: &AwsClients, name: &str) -> Result<(), AwsError> {
    if aws.s3.head_bucket().bucket(name).send().await.is_ok() {
        return Ok(());
    }
    aws.s3.create_bucket().bucket(name).send().await.map_err(|e| AwsError::sdk("s3", e))?;
    Ok(())
}

/// The queue's URL and its DLQ's.
async fn create_queue_with_dlq(aws: &AwsClients, name: &str) -> Result<(String, String), AwsError> {
    let dlq_url = create_queue(aws, &format!("{name}-dlq"), None).await?;
    let dlq_arn = aws
        .sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| AwsError::sdk("sqs", e))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| AwsError::call("sqs", format!("no ARN for {name}-dlq")))?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": MAX_RECEIVE_COUNT.to_string(),
    })
    .to_string();
    Ok((create_queue(aws, name, Some(redrive)).await?, dlq_url))
}

async fn create_queue(aws: &AwsClients, name: &str, redrive: Option<String>) -> Result<String, AwsError> {
    let mut req = aws
        .sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::VisibilityTimeout, VISIBILITY_TIMEOUT_SECS.to_string());
    if let Some(policy) = redrive {
        req = req.attributes(QueueAttributeName::RedrivePolicy, policy);
    }
    let out = req.send().await.map_err(|e| AwsError::sdk("sqs", e))?;
    out.queue_url.ok_or_else(|| AwsError::call("sqs", format!("no URL for queue {name}")))
}
