//! The port each push service is reached through: [`PushSender`] sends one notice to one
//! device and says how it went. The real edges are [`super::apns`], [`super::fcm`] and
//! [`super::rps`]; [`MemorySender`] records what it was given and answers as told.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use crate::ports::{PushDevice, PushNotice};

/// How one send went (docs/push.md §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The service took the notification.
    Sent,
    /// Nothing was sent and nothing will be: the platform is not configured
    /// (RhoConnect's "ping is ignored").
    Ignored(String),
    /// The service says the address is dead: it is removed from the registry.
    Dead(String),
    /// A passing refusal (429, 5xx, a connection failure): try again later, not before
    /// `after` when the service said so.
    Retry { after: Option<Duration>, reason: String },
    /// A refusal that will not change by retrying (bad request, missing settings): logged.
    Failed(String),
}

#[async_trait]
pub trait PushSender: Send + Sync {
    async fn send(&self, device: &PushDevice, notice: &PushNotice) -> SendOutcome;
}

/// Reads a `Retry-After` header given in seconds (the HTTP-date form is read as absent).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// An outcome for an HTTP status that is neither success nor a platform's own case:
/// 429 and 5xx pass, anything else is a failure with `message`.
pub fn by_status(status: u16, headers: &reqwest::header::HeaderMap, message: String) -> SendOutcome {
    if status == 429 || status >= 500 {
        SendOutcome::Retry { after: retry_after(headers), reason: message }
    } else {
        SendOutcome::Failed(message)
    }
}

/// Records every send; answers with the scripted outcomes in order, then `Sent`.
#[derive(Debug, Default)]
pub struct MemorySender {
    inner: Mutex<MemoryInner>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    sent: Vec<(PushDevice, PushNotice)>,
    script: VecDeque<(String, SendOutcome)>,
}

impl MemorySender {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, MemoryInner> {
        // Every change is one push or pop: a panicking thread leaves nothing half-done.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next send to `pin` answers `outcome`.
    pub fn answer(&self, pin: &str, outcome: SendOutcome) {
        self.lock().script.push_back((pin.to_owned(), outcome));
    }

    /// Every send so far, oldest first.
    pub fn sent(&self) -> Vec<(PushDevice, PushNotice)> {
        self.lock().sent.clone()
    }

    /// The pins sent to, oldest first.
    pub fn pins(&self) -> Vec<String> {
        self.lock().sent.iter().map(|(d, _)| d.pin.clone()).collect()
    }
}

#[async_trait]
impl PushSender for MemorySender {
    async fn send(&self, device: &PushDevice, notice: &PushNotice) -> SendOutcome {
        let mut inner = self.lock();
        inner.sent.push((device.clone(), notice.clone()));
        match inner.script.iter().position(|(pin, _)| pin == &device.pin) {
            Some(at) => inner.script.remove(at).map(|(_, o)| o).unwrap_or(SendOutcome::Sent),
            None => SendOutcome::Sent,
        }
    }
}
