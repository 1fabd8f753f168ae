//! The durable registry: users, API tokens, clients (devices) and source setting overrides
//! — what must survive a Redis flush (docs/README.md §3 "Where data lives"). [`Registry`] is the
//! port; [`DynamoRegistry`] is its DynamoDB edge (one table, `pk`/`sk` strings) and
//! [`MemoryRegistry`] its in-memory twin. [`CachedRegistry`] ([`cached`]) decorates either
//! with a Redis read cache of users, tokens and clients: what every function runs on.
//!
//! Next to it: [`login`] (password check with the legacy SHA-1 upgrade) and [`cache`] (the
//! few RhoConnect records that live in Redis and are lost on reset: counters, app server
//! URL, stats). The effective source settings (settings file + the overrides kept here)
//! are `crate::sync::sources`: they also read the sync engine's poll-interval key.

pub mod cache;
pub mod cached;
pub mod dynamo;
pub mod login;
pub mod memory;
pub mod password;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use cached::CachedRegistry;
pub use dynamo::DynamoRegistry;
pub use memory::MemoryRegistry;

/// The reserved admin login (docs/sync-engine.md §1.1).
pub const ADMIN_LOGIN: &str = "rhoadmin";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry: {0}")]
    Store(String),
    /// DynamoDB is unreachable, slow or throttling: answered 503.
    #[error("registry unavailable: {0}")]
    Unavailable(String),
    #[error("registry: corrupt record {0}")]
    Corrupt(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct User {
    pub login: String,
    /// PHC string (argon2) or a legacy `sha1$<salt>$<hex>`; `None` for users that only ever
    /// log in through an authenticate hook.
    pub password_hash: Option<String>,
    pub email: Option<String>,
    pub admin: bool,
}

/// A device install (docs/sync-engine.md §1.1 "Client").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ClientRecord {
    pub id: String,
    pub user_id: String,
    pub app_id: String,
    #[serde(default)]
    pub device: std::collections::BTreeMap<String, String>,
    pub last_sync: Option<String>,
}

/// Device fields a client record may carry (docs/device-protocol.md §4.1).
pub const DEVICE_FIELDS: [&str; 7] =
    ["device_type", "device_push_type", "device_pin", "device_port", "phone_id", "device_app_id", "device_app_version"];

#[async_trait]
pub trait Registry: Send + Sync {
    async fn user(&self, login: &str) -> Result<Option<User>, RegistryError>;
    /// Writes a user and lists it among the app's users.
    async fn put_user(&self, user: &User) -> Result<(), RegistryError>;
    /// Writes a user without listing it (the `rhoadmin` account).
    async fn put_admin(&self, user: &User) -> Result<(), RegistryError>;
    /// Creates `login` with no password unless it exists; true when it was created.
    async fn ensure_user(&self, login: &str) -> Result<bool, RegistryError>;
    async fn delete_user(&self, login: &str) -> Result<(), RegistryError>;
    async fn users(&self) -> Result<Vec<String>, RegistryError>;

    async fn client(&self, id: &str) -> Result<Option<ClientRecord>, RegistryError>;
    async fn put_client(&self, client: &ClientRecord) -> Result<(), RegistryError>;
    /// Stores a client under an id that was never used (clientcreate): nothing to replace.
    async fn create_client(&self, client: &ClientRecord) -> Result<(), RegistryError> {
        self.put_client(client).await
    }
    /// Rewrites a client whose stored owner the caller knows (`None`: not stored yet), so
    /// nothing is read first and the user's membership is only touched when the owner
    /// changes.
    async fn put_client_owned_by(
        &self,
        client: &ClientRecord,
        _stored_owner: Option<&str>,
    ) -> Result<(), RegistryError> {
        self.put_client(client).await
    }
    async fn delete_client(&self, id: &str) -> Result<(), RegistryError>;
    /// Drops a client's push address (`device_pin`) if it is still `pin`: the push service
    /// called it dead (docs/push.md §7). False when the client is gone or registered
    /// another address meanwhile (that one is kept). The default reads and rewrites the
    /// record; both edges do it in one conditional step.
    async fn forget_device_pin(&self, id: &str, pin: &str) -> Result<bool, RegistryError> {
        let Some(mut client) = self.client(id).await? else { return Ok(false) };
        if client.device.get("device_pin").map(String::as_str) != Some(pin) {
            return Ok(false);
        }
        client.device.remove("device_pin");
        let owner = client.user_id.clone();
        self.put_client_owned_by(&client, Some(&owner)).await?;
        Ok(true)
    }
    /// The clients of `ids` that exist, each once, in any order (the push worker reads a
    /// user's devices this way). The default reads them one by one.
    async fn clients(&self, ids: &[String]) -> Result<Vec<ClientRecord>, RegistryError> {
        let mut out = Vec::with_capacity(ids.len());
        let mut seen = std::collections::HashSet::new();
        for id in ids {
            if !seen.insert(id.as_str()) {
                continue;
            }
            if let Some(client) = self.client(id).await? {
                out.push(client);
            }
        }
        Ok(out)
    }
    async fn clients_of(&self, login: &str) -> Result<Vec<String>, RegistryError>;

    /// The login an API token belongs to.
    async fn token_user(&self, token: &str) -> Result<Option<String>, RegistryError>;
    /// The token of `login`, if it has one.
    async fn user_token(&self, login: &str) -> Result<Option<String>, RegistryError>;
    /// Gives `login` exactly this token, dropping its previous one.
    async fn set_user_token(&self, login: &str, token: &str) -> Result<(), RegistryError>;

    /// Creates an app user unless the login exists; false when it existed (nothing written).
    async fn create_user(&self, user: &User) -> Result<bool, RegistryError>;
    /// Removes one API token record (the owner's profile is left alone).
    async fn delete_token(&self, token: &str) -> Result<(), RegistryError>;
    /// Deletes every record: users, clients, tokens, source overrides (`system/reset`).
    async fn clear(&self) -> Result<(), RegistryError>;

    /// The setting overrides written through `PUT /rc/v1/sources/{id}`; `None` when the
    /// source was never registered here.
    async fn source_overrides(&self, name: &str) -> Result<Option<SourceOverrides>, RegistryError>;
    /// Replaces a source's overrides and registers the source (on-demand sources).
    async fn put_source_overrides(&self, name: &str, overrides: &SourceOverrides) -> Result<(), RegistryError>;
    /// Sources registered here (created on demand or overridden), any order.
    async fn registered_sources(&self) -> Result<Vec<String>, RegistryError>;
}

/// Source field → value, as written by the REST API (docs/rest-api.md §7.2).
pub type SourceOverrides = serde_json::Map<String, serde_json::Value>;
