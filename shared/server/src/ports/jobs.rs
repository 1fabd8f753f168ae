//! What travels on the queues: the job messages and the client write they may carry.
//!
//! These are plain serialisable data shared by the producers (the sync and API functions)
//! and the workers; they live below both so that neither has to import the other. The
//! wire form is JSON, tagged by `kind` (`refresh`, `cud`, `ping`, `bulk`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One object's raw attributes, as a device or adapter sends them (values not yet normalised).
pub type RawAttrs = Map<String, Value>;

/// A job message body. `id` is the producer's idempotency key; without one the SQS message
/// id is used, which still dedupes redeliveries of the same message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(flatten)]
    pub job: Job,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Run a source's query for a user's partition (docs/sync-engine.md §4.4).
    Refresh {
        source: String,
        user: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        query: Option<Value>,
    },
    /// Apply one accepted client write of a source (docs/sync-engine.md §6, docs/jobs.md §4). The message
    /// id is the write's idempotency key. `write` carries the operations; a write too big
    /// for an SQS message is stored in the blob store and `write_ref` names the object instead.
    Cud {
        source: String,
        user: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        write: Option<Box<CudWrite>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        write_ref: Option<String>,
    },
    /// Notify users' devices (docs/rest-api.md §6.7, docs/jobs.md §5). Never carries the API token.
    Ping {
        users: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// Sources the devices should sync; empty = all.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        sources: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        badge: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sound: Option<String>,
        /// Always a string, `""` when absent (docs/rest-api.md §6.7).
        #[serde(default)]
        vibrate: String,
        /// `api`, `push_notify` or `job` (docs/jobs.md §5).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        origin: Option<String>,
    },
    /// One slice of a ping's devices, queued by the push worker for itself when a ping
    /// reaches more devices than one job sends (docs/push.md §5). `ping` is the key of the
    /// ping job: with each device's address it names the device's delivery in the ledger,
    /// so no device hears twice of one ping.
    PushChunk { ping: String, notice: PushNotice, devices: Vec<PushDevice> },
    /// Build a bulk-data file (docs/jobs.md §6).
    Bulk {
        name: String,
        #[serde(default)]
        sources: Vec<String>,
    },
}

impl JobMessage {
    /// A message with a fresh random id: a producer that has no natural idempotency key
    /// still gets redeliveries of the same send deduplicated.
    pub fn with_fresh_id(job: Job) -> Self {
        Self { id: Some(crate::auth::tokens::random_token()), job }
    }
}

impl Job {
    /// A silent ping of `users` asking their devices to sync `sources` (docs/jobs.md §5; the
    /// automatic ping after backend pushes uses origin `push_notify`).
    pub fn ping(users: Vec<String>, sources: Vec<String>, origin: &str) -> Self {
        Self::Ping {
            users,
            message: None,
            sources,
            badge: None,
            sound: None,
            vibrate: String::new(),
            origin: Some(origin.to_owned()),
        }
    }

    /// The notice a ping job carries (`None` for other jobs).
    pub fn notice(&self) -> Option<PushNotice> {
        match self {
            Self::Ping { message, sources, badge, sound, vibrate, .. } => Some(PushNotice {
                message: message.clone(),
                sources: sources.clone(),
                badge: badge.clone(),
                sound: sound.clone(),
                vibrate: vibrate.clone(),
            }),
            Self::PushChunk { notice, .. } => Some(notice.clone()),
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Refresh { .. } => "refresh",
            Self::Cud { .. } => "cud",
            Self::Ping { .. } => "ping",
            Self::PushChunk { .. } => "push_chunk",
            Self::Bulk { .. } => "bulk",
        }
    }
}

/// What a ping tells each device (docs/push.md §3): the request's parameters without the
/// users (and never the API token).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PushNotice {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Sources to sync; empty = none named.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sound: Option<String>,
    /// Always a string, `""` when absent.
    #[serde(default)]
    pub vibrate: String,
}

/// Which push service reaches a device (docs/push.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Apns,
    Fcm,
    Rps,
    Webhook,
}

impl Platform {
    pub const ALL: [Platform; 4] = [Self::Apns, Self::Fcm, Self::Rps, Self::Webhook];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Apns => "apns",
            Self::Fcm => "fcm",
            Self::Rps => "rps",
            Self::Webhook => "webhook",
        }
    }
}

/// One registered device a ping goes to: its client and what it registered
/// (docs/push.md §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushDevice {
    pub client_id: String,
    pub platform: Platform,
    /// The push address (`device_pin`).
    pub pin: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phone_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub port: String,
}

/// The three client write operations, in processing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CudOp {
    Create,
    Update,
    Delete,
}

impl CudOp {
    pub const ALL: [CudOp; 3] = [Self::Create, Self::Update, Self::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

/// One accepted client request, as queued for the adapter worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CudWrite {
    /// The idempotency key (also the job id).
    pub key: String,
    pub source: String,
    /// The user owning the client (the partition and the adapter's acting user).
    pub login: String,
    pub client_id: String,
    /// When it was accepted, in ms since the epoch: batches run oldest first.
    pub accepted_ms: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create: Vec<(String, RawAttrs)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub update: Vec<(String, RawAttrs)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delete: Vec<(String, RawAttrs)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blobs: Vec<BlobRef>,
}

impl CudWrite {
    pub fn records(&self, op: CudOp) -> &[(String, RawAttrs)] {
        match op {
            CudOp::Create => &self.create,
            CudOp::Update => &self.update,
            CudOp::Delete => &self.delete,
        }
    }

    pub(crate) fn records_mut(&mut self, op: CudOp) -> &mut Vec<(String, RawAttrs)> {
        match op {
            CudOp::Create => &mut self.create,
            CudOp::Update => &mut self.update,
            CudOp::Delete => &mut self.delete,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_messages_round_trip_with_and_without_id() {
        let m: JobMessage =
            serde_json::from_str(r#"{"kind":"refresh","source":"Product","user":"demo"}"#).expect("parses");
        assert_eq!(m.id, None);
        assert_eq!(m.job, Job::Refresh { source: "Product".into(), user: "demo".into(), query: None });
        let m: JobMessage = serde_json::from_str(r#"{"id":"j1","kind":"ping","users":["a"]}"#).expect("parses");
        assert_eq!(m.id.as_deref(), Some("j1"));
        assert!(serde_json::from_str::<JobMessage>(r#"{"kind":"nope"}"#).is_err());
    }
}
