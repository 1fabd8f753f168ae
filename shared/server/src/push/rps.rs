//! The RhoConnect Push Service edge and the plain webhook (docs/push.md §6.3, §6.4): one
//! JSON `POST` per device over HTTP(S).

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::payload;
use super::sender::{by_status, PushSender, SendOutcome};
use crate::ports::{PushDevice, PushNotice};

/// Everything but the unreserved characters and `:` is percent-encoded in the pin.
const PIN: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b':');

fn http_client(what: &str) -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap_or_else(|err| {
        tracing::error!(error = %err, "{what} HTTP client: falling back to defaults");
        reqwest::Client::new()
    })
}

/// The request target and Basic credentials of a pin on `push_server`: the path is
/// replaced, the userinfo becomes the credentials (password `""` when absent).
pub fn rps_target(push_server: &str, pin: &str) -> Option<(reqwest::Url, String)> {
    let mut url = reqwest::Url::parse(push_server).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let user = percent_encoding::percent_decode_str(url.username()).decode_utf8_lossy().into_owned();
    let password = url.password().map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy().into_owned());
    url.set_username("").ok()?;
    url.set_password(None).ok()?;
    let target = url.join(&format!("/messageQueue/{}", utf8_percent_encode(pin, PIN))).ok()?;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", password.unwrap_or_default()));
    Some((target, format!("Basic {basic}")))
}

pub struct RpsSender {
    http: reqwest::Client,
    push_server: Option<String>,
}

impl RpsSender {
    pub fn new(push_server: Option<String>) -> Self {
        Self { http: http_client("RhoConnect Push"), push_server }
    }
}

#[async_trait]
impl PushSender for RpsSender {
    async fn send(&self, device: &PushDevice, notice: &PushNotice) -> SendOutcome {
        let missing = || SendOutcome::Failed("Missing or invalid `:push_server` in settings/settings.yml.".into());
        let Some(server) = &self.push_server else { return missing() };
        let Some((url, auth)) = rps_target(server, &device.pin) else { return missing() };
        let request = self.http.post(url).header(reqwest::header::AUTHORIZATION, auth).json(&payload::rps(notice));
        let response = match request.send().await {
            Ok(r) => r,
            Err(err) => return SendOutcome::Retry { after: None, reason: format!("RhoConnect Push: {err}") },
        };
        let status = response.status();
        match status.as_u16() {
            200 | 204 => SendOutcome::Sent,
            400 => SendOutcome::Failed("Invalid push request.".into()),
            code => by_status(
                code,
                response.headers(),
                format!("{code} {}", status.canonical_reason().unwrap_or("")).trim_end().to_owned(),
            ),
        }
    }
}

/// Posts the device and the notice as JSON to one URL (docs/push.md §6.4): for apps that
/// deliver notifications some other way.
pub struct WebhookSender {
    http: reqwest::Client,
    url: Option<String>,
}

impl WebhookSender {
    pub fn new(url: Option<String>) -> Self {
        Self { http: http_client("push webhook"), url }
    }
}

#[async_trait]
impl PushSender for WebhookSender {
    async fn send(&self, device: &PushDevice, notice: &PushNotice) -> SendOutcome {
        let Some(url) = &self.url else {
            return SendOutcome::Failed("Missing `:push_webhook:` in settings/settings.yml".into());
        };
        let response = match self.http.post(url).json(&payload::webhook(notice, device)).send().await {
            Ok(r) => r,
            Err(err) => return SendOutcome::Retry { after: None, reason: format!("push webhook: {err}") },
        };
        let status = response.status().as_u16();
        match status {
            200..=299 => SendOutcome::Sent,
            410 => SendOutcome::Dead(format!("push webhook {status}")),
            _ => by_status(status, response.headers(), format!("push webhook {status}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rps_target_keeps_scheme_host_port_and_moves_userinfo_to_basic() {
        let (url, auth) = rps_target("http://someappname@localhost:8675/ignored/path", "uuid:be ef").expect("valid");
        assert_eq!(url.as_str(), "http://localhost:8675/messageQueue/uuid:be%20ef");
        assert_eq!(auth, format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("someappname:")));
        let (_, auth) = rps_target("http://user:pwd@localhost:8675", "x").expect("valid");
        assert_eq!(auth, format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("user:pwd")));
        assert!(rps_target("not a url", "x").is_none());
    }
}
