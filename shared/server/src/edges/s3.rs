//! [`BlobStore`] on one S3 bucket (the data bucket of `template.yaml`).

use async_trait::async_trait;

use super::aws::AwsError;
use crate::ports::blobs::{BlobError, BlobMeta, BlobStore, DEFAULT_CONTENT_TYPE};

#[derive(Debug, Clone)]
pub struct S3BlobStore {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3BlobStore {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into() }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

fn failed<E>(
    action: &'static str,
    key: &str,
    err: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> BlobError
where
    E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static,
{
    if crate::edges::aws::is_outage(&err) {
        BlobError::outage(action, key, AwsError::sdk("s3", err))
    } else {
        BlobError::new(action, key, AwsError::sdk("s3", err))
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: Option<&str>) -> Result<(), BlobError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type.unwrap_or(DEFAULT_CONTENT_TYPE))
            .body(bytes.into())
            .send()
            .await
            .map_err(|e| failed("put", key, e))?;
        Ok(())
    }

    async fn put_file(&self, key: &str, path: &std::path::Path, content_type: Option<&str>) -> Result<(), BlobError> {
        let body =
            aws_sdk_s3::primitives::ByteStream::from_path(path).await.map_err(|e| BlobError::new("read", key, e))?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type.unwrap_or(DEFAULT_CONTENT_TYPE))
            .body(body)
            .send()
            .await
            .map_err(|e| failed("put", key, e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        let out = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(failed("get", key, e)),
        };
        let bytes = out.body.collect().await.map_err(|e| BlobError::outage("get", key, AwsError::sdk("s3", e)))?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    async fn head(&self, key: &str) -> Result<Option<BlobMeta>, BlobError> {
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => Ok(Some(BlobMeta {
                size: out.content_length.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                content_type: out.content_type,
            })),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_not_found()) => Ok(None),
            Err(e) => Err(failed("head", key, e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.client.delete_object().bucket(&self.bucket).key(key).send().await.map_err(|e| failed("delete", key, e))?;
        Ok(())
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, key)
    }
}
