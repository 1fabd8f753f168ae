//! A fake APNs provider API (docs/push.md §6.1): `POST /3/device/<token>` answered `200`
//! with an `apns-id`, or with the status a [`Script`] gives the token and APNs' JSON
//! `reason` for it. Serve it over TLS ([`crate::Tls`]): the push worker speaks HTTP/2 with
//! prior knowledge to APNs. The provider token is not checked here; tests verify it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::{Answer, Recorded, Reply, Script};

/// The path prefix of a notification.
pub const DEVICE_PATH: &str = "/3/device/";

/// The device token a request is for.
pub fn token_of(r: &Recorded) -> Option<String> {
    let rest = r.path.strip_prefix(DEVICE_PATH)?;
    Some(rest.split('?').next().unwrap_or(rest).to_owned())
}

/// APNs' `reason` for a refusal status.
pub fn reason(status: u16) -> &'static str {
    match status {
        400 => "BadDeviceToken",
        403 => "ExpiredProviderToken",
        410 => "Unregistered",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        _ => "InternalServerError",
    }
}

/// The answer APNs gives with `status`; `n` numbers the `apns-id`.
pub fn answer(status: u16, n: u64) -> Answer {
    let id = vec![("apns-id", format!("00000000-0000-4000-8000-{n:012x}"))];
    if status == 200 {
        return (200, id, String::new());
    }
    let mut headers = id;
    headers.push(("content-type", "application/json".to_owned()));
    let body = if status == 410 {
        format!(r#"{{"reason":"{}","timestamp":1700000000000}}"#, reason(status))
    } else {
        format!(r#"{{"reason":"{}"}}"#, reason(status))
    };
    (status, headers, body)
}

/// The fake's reply: `200` unless `script` says otherwise for the token.
pub fn reply(script: Arc<Script>) -> Reply {
    let counter = AtomicU64::new(0);
    Arc::new(move |r: &Recorded| {
        let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
        let status = token_of(r).and_then(|t| script.status_for(&t)).unwrap_or(200);
        answer(status, n)
    })
}
