//! A fake FCM HTTP v1 (docs/push.md §6.2): the OAuth2 token endpoint at [`TOKEN_PATH`]
//! (any grant is answered with one fixed access token) and
//! `POST /v1/projects/<project>/messages:send`, answered `200` with a message name, or with
//! the status a [`Script`] gives the message's registration token and FCM's error body.
//! The access token and the assertion are not checked here; tests verify them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::{Answer, Recorded, Reply, Script};

/// Where the fake's token endpoint is (the service-account key's `token_uri` path).
pub const TOKEN_PATH: &str = "/token";

/// The registration token of a `messages:send` request.
pub fn token_of(r: &Recorded) -> Option<String> {
    if !r.path.ends_with("/messages:send") {
        return None;
    }
    let body: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
    body.get("message")?.get("token")?.as_str().map(str::to_owned)
}

/// FCM's error `status` for a refusal status.
pub fn error_status(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    }
}

fn json(status: u16, body: String) -> Answer {
    (status, vec![("content-type", "application/json".to_owned())], body)
}

/// The fake's reply: the token endpoint hands out `access_token`; sends succeed unless
/// `script` says otherwise for the registration token (`404` is FCM's `UNREGISTERED`).
pub fn reply(script: Arc<Script>, access_token: &str) -> Reply {
    let token_reply = format!(r#"{{"access_token":"{access_token}","expires_in":3600,"token_type":"Bearer"}}"#);
    let counter = AtomicU64::new(0);
    Arc::new(move |r: &Recorded| {
        if r.path == TOKEN_PATH {
            return json(200, token_reply.clone());
        }
        let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
        match token_of(r).and_then(|t| script.status_for(&t)) {
            None | Some(200) => json(200, format!(r#"{{"name":"projects/fake/messages/{n}"}}"#)),
            Some(status) => {
                let details = if status == 404 { r#","details":[{"errorCode":"UNREGISTERED"}]"# } else { "" };
                let error = error_status(status);
                json(status, format!(r#"{{"error":{{"code":{status},"status":"{error}"{details}}}}}"#))
            }
        }
    })
}
