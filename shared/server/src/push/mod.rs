//! Push ("ping", docs/push.md): telling users' devices to sync.
//!
//! * [`service`] — the ping job: users → clients → devices, de-duplicated ([`resolve`]),
//!   sent through one [`sender::PushSender`] per platform, each delivery recorded once
//!   in the job ledger, large pings split into chunk jobs;
//! * [`payload`] — what each platform is sent, as pure functions;
//! * the edges: [`apns`] (HTTP/2, provider token), [`fcm`] (HTTP v1, OAuth2 from a
//!   service-account key), [`rps`] (RhoConnect Push Service and the plain webhook);
//!   [`sender::MemorySender`] is the in-memory one;
//! * [`config`] — the push settings and their environment overrides; [`secrets`] — reading
//!   keys from files or AWS Secrets Manager; [`metrics`] — per-job counts as logs and EMF.
//!
//! Producers (the REST ping route, backend pushes to `push_notify` sources) only queue
//! [`crate::ports::Job::Ping`]; the push worker (`crate::jobs::workers`) runs this service.

pub mod apns;
pub mod config;
pub mod fcm;
pub mod metrics;
pub mod payload;
pub mod resolve;
pub mod rps;
pub mod secrets;
pub mod sender;
pub mod service;

use std::sync::Arc;

pub use config::PushSettings;
pub use metrics::{Counts, Tally};
pub use sender::{MemorySender, PushSender, SendOutcome};
pub use service::{PushError, PushPorts, PushService, Senders};

impl Senders {
    /// The real edges for `settings`, reading keys through `keys`.
    pub fn real(settings: &PushSettings, keys: Arc<dyn secrets::KeyReader>) -> Self {
        Self {
            apns: Arc::new(apns::ApnsSender::new(settings.apns.clone(), keys.clone())),
            fcm: Arc::new(fcm::FcmSender::new(settings.fcm.clone(), keys)),
            rps: Arc::new(rps::RpsSender::new(settings.push_server.clone())),
            webhook: Arc::new(rps::WebhookSender::new(settings.webhook.clone())),
        }
    }
}

/// The push settings of a process: the settings file's environment section, file names
/// relative to the settings file (`RHOSYNC_SETTINGS`), and the process environment.
pub fn settings_from_process(settings: &crate::config::Settings) -> PushSettings {
    let path = std::env::var_os("RHOSYNC_SETTINGS").map(std::path::PathBuf::from);
    let dir = path.as_deref().and_then(std::path::Path::parent);
    PushSettings::from_settings(settings.environment_section(), dir, |key| std::env::var(key).ok())
}

/// The service with the real edges, for the push worker.
pub fn real_service(settings: &crate::config::Settings) -> PushService {
    let push = settings_from_process(settings);
    let senders = Senders::real(&push, Arc::new(secrets::Keys::new()));
    PushService::new(push, senders)
}
