//! The blob store port: named byte objects in the data bucket — uploaded blobs of client
//! writes, and client writes too large for a queue message. The S3 edge is
//! `crate::edges::s3`; [`MemoryBlobStore`] keeps the objects in a map.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

/// The content type of an object stored without one (what the AWS SDK sends for such a
/// body; the S3 edge sends it explicitly so every store answers the same).
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// What a stored object is, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    pub size: u64,
    pub content_type: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("blob store: {action} {key}: {message}")]
pub struct BlobError {
    pub action: &'static str,
    pub key: String,
    pub message: String,
    /// The store was unreachable, slow or throttling (answered 503), not the request's fault.
    pub outage: bool,
}

impl BlobError {
    pub fn new(action: &'static str, key: &str, message: impl std::fmt::Display) -> Self {
        Self { action, key: key.to_owned(), message: message.to_string(), outage: false }
    }

    /// A failure because the store is unreachable, slow or throttling.
    pub fn outage(action: &'static str, key: &str, message: impl std::fmt::Display) -> Self {
        Self { outage: true, ..Self::new(action, key, message) }
    }
}

/// Objects by key. Writing a key again replaces the object.
#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: Option<&str>) -> Result<(), BlobError>;
    /// Stores the contents of a local file (a bulk-data file, docs/bulk-data.md §3). The
    /// default reads it whole and calls [`BlobStore::put`]; the S3 edge streams it.
    async fn put_file(&self, key: &str, path: &std::path::Path, content_type: Option<&str>) -> Result<(), BlobError> {
        let bytes = tokio::fs::read(path).await.map_err(|e| BlobError::new("read", key, e))?;
        self.put(key, bytes, content_type).await
    }
    /// The object's bytes; `None` when nothing is stored under `key`.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError>;
    /// The object's size and type; `None` when nothing is stored under `key`.
    async fn head(&self, key: &str) -> Result<Option<BlobMeta>, BlobError>;
    /// Removes the object; removing a missing one is no error.
    async fn delete(&self, key: &str) -> Result<(), BlobError>;
    /// How an object is named outside the store (`s3://<bucket>/<key>` for S3): the value
    /// a blob attribute gets when the adapter does not store the blob itself.
    fn url(&self, key: &str) -> String;
}

/// An in-memory blob store.
#[derive(Debug, Default)]
pub struct MemoryBlobStore {
    objects: Mutex<HashMap<String, (Vec<u8>, String)>>,
}

impl MemoryBlobStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, (Vec<u8>, String)>> {
        // Every change is one insert or remove, so a poisoned map is still whole.
        self.objects.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The keys stored, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.lock().keys().cloned().collect();
        keys.sort();
        keys
    }
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: Option<&str>) -> Result<(), BlobError> {
        let content_type = content_type.unwrap_or(DEFAULT_CONTENT_TYPE).to_owned();
        self.lock().insert(key.to_owned(), (bytes, content_type));
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        Ok(self.lock().get(key).map(|(bytes, _)| bytes.clone()))
    }

    async fn head(&self, key: &str) -> Result<Option<BlobMeta>, BlobError> {
        Ok(self.lock().get(key).map(|(bytes, content_type)| BlobMeta {
            size: bytes.len() as u64,
            content_type: Some(content_type.clone()),
        }))
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.lock().remove(key);
        Ok(())
    }

    fn url(&self, key: &str) -> String {
        format!("memory://{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_puts_gets_heads_and_deletes() {
        let store = MemoryBlobStore::new();
        assert_eq!(store.get("a").await.expect("get"), None);
        assert_eq!(store.head("a").await.expect("head"), None);
        store.put("a", b"hello".to_vec(), Some("text/plain")).await.expect("put");
        store.put("b", vec![0, 1], None).await.expect("put");
        assert_eq!(store.get("a").await.expect("get").as_deref(), Some(&b"hello"[..]));
        assert_eq!(
            store.head("a").await.expect("head"),
            Some(BlobMeta { size: 5, content_type: Some("text/plain".into()) })
        );
        assert_eq!(
            store.head("b").await.expect("head").and_then(|m| m.content_type).as_deref(),
            Some(DEFAULT_CONTENT_TYPE)
        );
        store.put("a", b"bye".to_vec(), None).await.expect("replace");
        assert_eq!(store.head("a").await.expect("head").map(|m| m.size), Some(3));
        store.delete("a").await.expect("delete");
        store.delete("a").await.expect("deleting a missing object is fine");
        assert_eq!(store.keys(), ["b"]);
    }
}
