//! The `rest` adapter (placeholder until it is implemented).

use async_trait::async_trait;

use super::factory::AdapterDeps;
use super::{AdapterCtx, AdapterError, RawAttrs, RawObjects, SourceAdapter};
use crate::config::SourceConfig;

pub struct RestAdapter;

impl RestAdapter {
    pub fn new(_source: &SourceConfig, _deps: &AdapterDeps) -> Result<Self, AdapterError> {
        Ok(Self)
    }
}

#[async_trait]
impl SourceAdapter for RestAdapter {
    async fn query(&self, _ctx: &AdapterCtx, _params: Option<&serde_json::Value>) -> Result<RawObjects, AdapterError> {
        Err(AdapterError::Backend("the rest adapter is not implemented yet".into()))
    }

    async fn create(&self, _ctx: &AdapterCtx, _attrs: &mut RawAttrs) -> Result<Option<String>, AdapterError> {
        Err(AdapterError::Backend("the rest adapter is not implemented yet".into()))
    }

    async fn update(&self, _ctx: &AdapterCtx, _attrs: &RawAttrs) -> Result<(), AdapterError> {
        Err(AdapterError::Backend("the rest adapter is not implemented yet".into()))
    }

    async fn delete(&self, _ctx: &AdapterCtx, _attrs: &RawAttrs) -> Result<(), AdapterError> {
        Err(AdapterError::Backend("the rest adapter is not implemented yet".into()))
    }
}
