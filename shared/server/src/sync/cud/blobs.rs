//! Blob uploads of client writes (sync-protocol.md §7.1, §10; sync-engine.md §8.2).
//!
//! A multipart write carries file parts named `<field>-<object id>` for the attributes
//! listed in `blob_fields`. The sync function stores their bytes in the data bucket
//! before it answers (the adapter runs later, in the worker), under a key derived from the
//! write key so a device retry overwrites the same objects. The worker checks the object
//! is there and hands its description to the adapter's `store_blob` hook; without a hook
//! the attribute becomes the object's `s3://bucket/key` reference.

use rhosync_engine::params::Part;
use serde::{Deserialize, Serialize};

use super::super::SyncError;
use super::CudOps;
use crate::adapters::validate::CudOp;
use crate::adapters::UploadedBlob;
use crate::AppState;

/// A stored blob of a write: which record and attribute it belongs to, and where it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlobRef {
    pub op: CudOp,
    /// The object id (temporary id for creates).
    pub object: String,
    pub field: String,
    pub stored_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    pub size: u64,
}

/// The file parts a write uses: for each create/update record and each blob field, the
/// part named `<field>-<id>` when present.
pub fn matching_parts<'a>(ops: &CudOps, uploads: &'a [Part], blob_fields: &[String]) -> Vec<(CudOp, String, String, &'a Part)> {
    let mut out = Vec::new();
    for (op, records) in [(CudOp::Create, &ops.create), (CudOp::Update, &ops.update)] {
        for (id, _) in records {
            for field in blob_fields {
                let name = format!("{field}-{id}");
                if let Some(part) = uploads.iter().find(|p| p.name == name) {
                    out.push((op, id.clone(), field.clone(), part));
                }
            }
        }
    }
    out
}

fn aws_err(what: &str, e: impl std::fmt::Display) -> SyncError {
    SyncError::Queue(format!("{what}: {e}"))
}

/// Stores the parts in the data bucket under `blobs/<source>/<write key>/`.
pub async fn store(
    state: &AppState,
    source: &str,
    write_key: &str,
    parts: &[(CudOp, String, String, &Part)],
) -> Result<Vec<BlobRef>, SyncError> {
    let mut refs = Vec::with_capacity(parts.len());
    for (op, object, field, part) in parts {
        let stored_key = format!("blobs/{source}/{write_key}/{}-{field}-{object}", op.as_str());
        let mut put = state
            .aws
            .s3
            .put_object()
            .bucket(&state.config.env.bucket)
            .key(&stored_key)
            .body(part.bytes.clone().into());
        if let Some(ct) = &part.content_type {
            put = put.content_type(ct);
        }
        put.send().await.map_err(|e| aws_err("storing a blob", crate::edges::AwsError::sdk("s3", e)))?;
        refs.push(BlobRef {
            op: *op,
            object: object.clone(),
            field: field.clone(),
            stored_key,
            filename: part.filename.clone(),
            content_type: part.content_type.clone(),
            size: part.bytes.len() as u64,
        });
    }
    Ok(refs)
}

/// The blob as the adapter hook sees it, after checking the bytes are still stored. A
/// failure here is infrastructure (retried, then dead-lettered), not an adapter answer.
pub async fn describe(state: &AppState, blob: &BlobRef) -> Result<UploadedBlob, SyncError> {
    state
        .aws
        .s3
        .head_object()
        .bucket(&state.config.env.bucket)
        .key(&blob.stored_key)
        .send()
        .await
        .map_err(|e| aws_err("reading a stored blob", crate::edges::AwsError::sdk("s3", e)))?;
    Ok(UploadedBlob {
        filename: blob.filename.clone(),
        content_type: blob.content_type.clone(),
        stored_key: blob.stored_key.clone(),
        size: blob.size,
    })
}

/// The default attribute value for a stored blob.
pub fn reference(state: &AppState, blob: &UploadedBlob) -> String {
    format!("s3://{}/{}", state.config.env.bucket, blob.stored_key)
}
