//! Adapter scratch documents (e.g. the bench adapters' `test_db_storage:application:<user>`,
//! docs/rest-api.md §13): JSON values under their RC7 names, readable and writable through
//! the store API.

use async_trait::async_trait;
use serde_json::Value;

use crate::adapters::{AdapterError, ScratchDocs};
use crate::store::keys;
use std::sync::Arc;

use crate::store::{Store, StoreError};

/// Scratch documents in the store.
#[derive(Clone)]
pub struct StoreScratch {
    store: Arc<dyn Store>,
}

impl StoreScratch {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// The document `name`.
    pub async fn read(&self, name: &str) -> Result<Option<Value>, StoreError> {
        let key = keys::scratch(self.store.keys(), name);
        match self.store.get(&key).await? {
            None => Ok(None),
            Some(text) => Ok(Some(serde_json::from_str(&text).unwrap_or(Value::String(text)))),
        }
    }

    /// Replaces (or, for `None`, deletes) the document `name`.
    pub async fn write(&self, name: &str, value: Option<&Value>) -> Result<(), StoreError> {
        let key = keys::scratch(self.store.keys(), name);
        let text = value.map(Value::to_string);
        self.store.set(&key, text.as_deref(), None).await
    }
}

#[async_trait]
impl ScratchDocs for StoreScratch {
    async fn get(&self, name: &str) -> Result<Option<Value>, AdapterError> {
        self.read(name).await.map_err(|e| AdapterError::Backend(e.to_string()))
    }

    async fn set(&self, name: &str, value: Value) -> Result<(), AdapterError> {
        self.write(name, Some(&value)).await.map_err(|e| AdapterError::Backend(e.to_string()))
    }

    async fn read_text(&self, name: &str) -> Result<Option<String>, AdapterError> {
        let key = keys::scratch(self.store.keys(), name);
        self.store.get(&key).await.map_err(|e| AdapterError::Backend(e.to_string()))
    }

    async fn read_versioned(&self, name: &str) -> Result<(Option<Value>, Option<String>), AdapterError> {
        let text = self.read_text(name).await?;
        let value = text.as_deref().map(|t| serde_json::from_str(t).unwrap_or(Value::String(t.to_owned())));
        Ok((value, text))
    }

    async fn replace_if(&self, name: &str, version: Option<&str>, value: Value) -> Result<bool, AdapterError> {
        let key = keys::scratch(self.store.keys(), name);
        self.store.set_if(&key, version, &value.to_string()).await.map_err(|e| AdapterError::Backend(e.to_string()))
    }
}
