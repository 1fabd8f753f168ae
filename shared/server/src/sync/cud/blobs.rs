//! Blob uploads of client writes (docs/device-protocol.md §6.1, §6.4; docs/sync-engine.md §6.2).
//!
//! A multipart write carries file parts named `<field>-<object id>` for the attributes
//! listed in `blob_fields`. The sync function stores their bytes in the data bucket
//! before it answers (the adapter runs later, in the worker), under a key derived from the
//! write key so a device retry overwrites the same objects. The worker checks the object
//! is there and hands its description to the adapter's `store_blob` hook; without a hook
//! the attribute becomes the object's `s3://bucket/key` reference.

use rhosync_engine::params::Part;

use super::super::SyncError;
use super::CudOps;
use crate::adapters::UploadedBlob;
use crate::ports::jobs::{BlobRef, CudOp};
use crate::ports::BlobStore;

/// The file parts a write uses: for each create/update record and each blob field, the
/// part named `<field>-<id>` when present.
pub fn matching_parts<'a>(
    ops: &CudOps,
    uploads: &'a [Part],
    blob_fields: &[String],
) -> Vec<(CudOp, String, String, &'a Part)> {
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

/// Stores the parts in the data bucket under `blobs/<source>/<write key>/`.
pub async fn store(
    blobs: &dyn BlobStore,
    source: &str,
    write_key: &str,
    parts: &[(CudOp, String, String, &Part)],
) -> Result<Vec<BlobRef>, SyncError> {
    let mut refs = Vec::with_capacity(parts.len());
    for (op, object, field, part) in parts {
        let stored_key = format!("blobs/{source}/{write_key}/{}-{field}-{object}", op.as_str());
        blobs.put(&stored_key, part.bytes.clone(), part.content_type.as_deref()).await?;
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
pub async fn describe(blobs: &dyn BlobStore, blob: &BlobRef) -> Result<UploadedBlob, SyncError> {
    if blobs.head(&blob.stored_key).await?.is_none() {
        return Err(SyncError::Queue(format!("reading a stored blob: {} is not stored", blob.stored_key)));
    }
    Ok(UploadedBlob {
        filename: blob.filename.clone(),
        content_type: blob.content_type.clone(),
        stored_key: blob.stored_key.clone(),
        size: blob.size,
    })
}

/// The default attribute value for a stored blob (`s3://<bucket>/<key>` on S3).
pub fn reference(blobs: &dyn BlobStore, blob: &UploadedBlob) -> String {
    blobs.url(&blob.stored_key)
}
