//! Reading the push services' keys (docs/push.md §8): from a file beside the settings, or
//! from AWS Secrets Manager when the deployment names a secret. Each sender reads its key
//! on its first send and keeps it for the life of the process (one cold start); a read
//! that failed is tried again on the next send.

use async_trait::async_trait;
use tokio::sync::OnceCell;

use super::config::KeySource;

/// What `template.yaml` creates the key secrets with.
pub const PLACEHOLDER: &str = "not-configured";

#[async_trait]
pub trait KeyReader: Send + Sync {
    /// The key's text, or why it could not be read.
    async fn read(&self, source: &KeySource) -> Result<String, String>;
}

/// Files, and Secrets Manager through the SDK's default configuration (the client is
/// built on the first secret read).
#[derive(Debug, Default)]
pub struct Keys {
    secrets: OnceCell<aws_sdk_secretsmanager::Client>,
}

impl Keys {
    pub fn new() -> Self {
        Self::default()
    }

    async fn client(&self) -> &aws_sdk_secretsmanager::Client {
        self.secrets
            .get_or_init(|| async {
                let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
                aws_sdk_secretsmanager::Client::from_conf(crate::edges::aws::counted_secrets_config(&shared))
            })
            .await
    }
}

#[async_trait]
impl KeyReader for Keys {
    async fn read(&self, source: &KeySource) -> Result<String, String> {
        match source {
            KeySource::File(path) => tokio::fs::read_to_string(path)
                .await
                .map_err(|e| format!("cannot read key file {}: {e}", path.display())),
            KeySource::Secret(id) => {
                let out = self
                    .client()
                    .await
                    .get_secret_value()
                    .secret_id(id)
                    .send()
                    .await
                    .map_err(|e| crate::edges::AwsError::sdk("secretsmanager", e).to_string())?;
                match out.secret_string() {
                    None => Err(format!("secret {id} has no text value")),
                    Some(PLACEHOLDER) => {
                        Err(format!("secret {id} holds no key yet: put the key in it (docs/push.md §8)"))
                    }
                    Some(text) => Ok(text.to_owned()),
                }
            }
        }
    }
}
