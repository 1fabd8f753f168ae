//! The source adapter port: how the engine reaches a backend (docs/adapters.md §1).
//!
//! One async, object-safe trait with RhoConnect's methods. Values come back raw
//! (`serde_json`); the engine normalises them (strings, reserved attributes dropped), so
//! adapters need not. Built-in kinds are chosen per source by the settings file's
//! `adapter:` key; see [`AdapterKind`](crate::config::AdapterKind).

pub mod app_server;
pub mod bench;
pub mod demo;
pub mod deps;
pub mod factory;
pub mod http_backend;
pub mod plugin;
pub mod rest;
pub mod scratch_cas;
pub mod validate;

use std::sync::Arc;

use async_trait::async_trait;
use rhosync_engine::values::{normalize_bodies, BodyMap};
use serde_json::{Map, Value};

use crate::config::SourceConfig;

/// Raw objects from an adapter: id → attribute map (values not yet normalised).
pub type RawObjects = Map<String, Value>;
/// One object's raw attributes (defined with the queued writes that carry them).
pub use crate::ports::jobs::RawAttrs;

/// Every adapter failure carries the message devices will see.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdapterError {
    /// Login to the backend failed (`login-error`).
    #[error("{0}")]
    Login(String),
    /// The backend did not answer in time.
    #[error("{0}")]
    Timeout(String),
    /// The backend refused or failed the call.
    #[error("{0}")]
    Backend(String),
    /// The conflict/validation hook refused a write.
    #[error("{0}")]
    Conflict(String),
}

impl AdapterError {
    pub fn message(&self) -> &str {
        match self {
            Self::Login(m) | Self::Timeout(m) | Self::Backend(m) | Self::Conflict(m) => m,
        }
    }
}

/// Documents an adapter may keep for itself in the cache (RC7 adapters' scratch data,
/// e.g. the bench's `test_db_storage:application:<user>`), addressed by RC7 document name.
#[async_trait]
pub trait ScratchDocs: Send + Sync {
    async fn get(&self, name: &str) -> Result<Option<Value>, AdapterError>;
    async fn set(&self, name: &str, value: Value) -> Result<(), AdapterError>;

    /// The document's JSON text (`None`: absent), for a reader that parses it itself; the
    /// default prints [`ScratchDocs::get`]'s value, the store's edge hands over what it holds.
    async fn read_text(&self, name: &str) -> Result<Option<String>, AdapterError> {
        Ok(self.get(name).await?.map(|v| v.to_string()))
    }

    /// The document and its version (an opaque text) for [`ScratchDocs::replace_if`].
    async fn read_versioned(&self, name: &str) -> Result<(Option<Value>, Option<String>), AdapterError> {
        let value = self.get(name).await?;
        let version = value.as_ref().map(Value::to_string);
        Ok((value, version))
    }

    /// Replaces the document only if it is still at `version` (`None`: absent); `false` when
    /// another writer got in first, so a read-change-write of the whole document loses
    /// nothing under simultaneous writers. The default is not atomic (for in-memory fakes);
    /// the store's edge is.
    async fn replace_if(&self, name: &str, version: Option<&str>, value: Value) -> Result<bool, AdapterError> {
        let (_, current) = self.read_versioned(name).await?;
        if current.as_deref() != version {
            return Ok(false);
        }
        self.set(name, value).await.map(|()| true)
    }
}

/// What an adapter call knows about its caller.
#[derive(Clone)]
pub struct AdapterCtx {
    /// The user the call acts for (for app partitions, whoever triggered it).
    pub login: String,
    /// The partition key of the documents being synced (`__shared__` for app sources).
    pub partition: String,
    pub source: Arc<SourceConfig>,
    pub scratch: Arc<dyn ScratchDocs>,
    /// Set for each client write: a key unique to that record of that accepted write,
    /// equal on every retry of it. HTTP adapters send it as `Idempotency-Key`, so a
    /// backend that honours the header applies a write once even when a worker crash
    /// makes us call twice (see `sync::cud`).
    pub idempotency_key: Option<String>,
}

/// An uploaded blob handed to [`SourceAdapter::store_blob`].
#[derive(Debug, Clone)]
pub struct UploadedBlob {
    pub filename: Option<String>,
    pub content_type: Option<String>,
    /// Where the bytes were persisted before the write was queued (an S3 key).
    pub stored_key: String,
    pub size: u64,
}

/// A backend wrapped for sync. Only `query` and the three writes are required.
#[async_trait]
pub trait SourceAdapter: Send + Sync {
    /// The partition key for `login` (user partitions; override to group users).
    fn partition_name(&self, login: &str) -> String {
        login.to_owned()
    }

    async fn login(&self, _ctx: &AdapterCtx) -> Result<(), AdapterError> {
        Ok(())
    }

    async fn logoff(&self, _ctx: &AdapterCtx) -> Result<(), AdapterError> {
        Ok(())
    }

    /// UI metadata as JSON text.
    async fn metadata(&self, _ctx: &AdapterCtx) -> Result<Option<String>, AdapterError> {
        Ok(None)
    }

    /// Schema as JSON text with a mandatory `version` key.
    async fn schema(&self, _ctx: &AdapterCtx) -> Result<Option<String>, AdapterError> {
        Ok(None)
    }

    /// The complete object set of the partition; `params` is the request's `query`.
    async fn query(&self, ctx: &AdapterCtx, params: Option<&Value>) -> Result<RawObjects, AdapterError>;

    /// [`SourceAdapter::query`]'s objects as the canonical bodies a refresh stores. The
    /// default normalises `query`'s answer; an adapter that receives its objects as JSON text
    /// overrides it to write the bodies straight from the text
    /// ([`bodies_from_json`](rhosync_engine::values::bodies_from_json)), never building a JSON
    /// tree of a large source.
    async fn query_bodies(&self, ctx: &AdapterCtx, params: Option<&Value>) -> Result<BodyMap, AdapterError> {
        let raw = self.query(ctx, params).await?;
        normalize_bodies(&Value::Object(raw)).map_err(|e| AdapterError::Backend(e.to_string()))
    }

    async fn search(&self, _ctx: &AdapterCtx, _params: Option<&Value>) -> Result<RawObjects, AdapterError> {
        Ok(RawObjects::new())
    }

    /// Creates an object; returns its backend id (None: the backend gave none). May modify
    /// `attrs`; the modified attributes are what gets stored.
    async fn create(&self, ctx: &AdapterCtx, attrs: &mut RawAttrs) -> Result<Option<String>, AdapterError>;

    /// `attrs` holds the changed attributes plus `"id"`.
    async fn update(&self, ctx: &AdapterCtx, attrs: &RawAttrs) -> Result<(), AdapterError>;

    /// `attrs` holds what the device had plus `"id"`.
    async fn delete(&self, ctx: &AdapterCtx, attrs: &RawAttrs) -> Result<(), AdapterError>;

    /// The conflict/validation hook (docs/sync-engine.md §6.5): sees one operation of a whole
    /// CUD batch and marks records to fail or skip. The default marks nothing; the
    /// built-in `find_duplicates_on_update` validator runs besides it when the source
    /// enables it, and the adapter's marks win where both mark a record.
    async fn validate(
        &self,
        _ctx: &AdapterCtx,
        _op: validate::CudOp,
        _entries: &[validate::CudEntry<'_>],
    ) -> Result<validate::ValidationMarks, AdapterError> {
        Ok(validate::ValidationMarks::new())
    }

    /// The attribute value to store for an uploaded blob; `None` keeps the default (a
    /// reference to the stored bytes).
    async fn store_blob(
        &self,
        _ctx: &AdapterCtx,
        _attrs: &mut RawAttrs,
        _field: &str,
        _blob: &UploadedBlob,
    ) -> Result<Option<String>, AdapterError> {
        Ok(None)
    }
}

/// The outcome of the application's authenticate hook (docs/adapters.md §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Log in as the given login (which may differ from the one typed: renaming).
    Allow(String),
    /// Refused: 401 `Unable to authenticate '<login>'`.
    Deny,
    /// Refused with the hook's own message (401).
    LoginError(String),
    /// The hook failed (500 with the message).
    Error(String),
}

/// Decides device logins: local users, open, or a plugin backend's authenticate callback.
#[async_trait]
pub trait Authenticator: Send + Sync {
    async fn authenticate(&self, login: &str, password: &str, params: &Map<String, Value>) -> AuthOutcome;
}
