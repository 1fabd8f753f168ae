//! The `demo` adapter (placeholder until it is implemented).

use async_trait::async_trait;

use super::{AdapterCtx, AdapterError, RawAttrs, RawObjects, SourceAdapter};
use crate::config::SourceConfig;

pub struct DemoAdapter;

impl DemoAdapter {
    pub fn new(_source: &SourceConfig) -> Result<Self, AdapterError> {
        Ok(Self)
    }
}

#[async_trait]
impl SourceAdapter for DemoAdapter {
    async fn query(&self, _ctx: &AdapterCtx, _params: Option<&serde_json::Value>) -> Result<RawObjects, AdapterError> {
        Err(AdapterError::Backend("the demo adapter is not implemented yet".into()))
    }

    async fn create(&self, _ctx: &AdapterCtx, _attrs: &mut RawAttrs) -> Result<Option<String>, AdapterError> {
        Err(AdapterError::Backend("the demo adapter is not implemented yet".into()))
    }

    async fn update(&self, _ctx: &AdapterCtx, _attrs: &RawAttrs) -> Result<(), AdapterError> {
        Err(AdapterError::Backend("the demo adapter is not implemented yet".into()))
    }

    async fn delete(&self, _ctx: &AdapterCtx, _attrs: &RawAttrs) -> Result<(), AdapterError> {
        Err(AdapterError::Backend("the demo adapter is not implemented yet".into()))
    }
}
