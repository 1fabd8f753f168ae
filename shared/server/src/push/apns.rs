//! The APNs edge (docs/push.md §6.1): Apple's HTTP/2 provider API, one `POST
//! /3/device/<token>` per device, authenticated with a provider token — an ES256 JWT
//! (`kid` = key id, `iss` = team id, `iat`) signed with the .p8 key, made once and reused
//! until [`TOKEN_REFRESH`] (Apple refuses tokens older than an hour).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use tokio::sync::{Mutex, OnceCell};

use super::config::ApnsSettings;
use super::payload;
use super::secrets::KeyReader;
use super::sender::{by_status, PushSender, SendOutcome};
use crate::ports::{PushDevice, PushNotice};

/// A provider token is replaced after this long (Apple: valid for an hour, and not to be
/// renewed more often than every 20 minutes).
pub const TOKEN_REFRESH: Duration = Duration::from_secs(50 * 60);

/// The claims of a provider token.
#[derive(Debug, Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: u64,
}

pub struct ApnsSender {
    http: reqwest::Client,
    settings: ApnsSettings,
    keys: Arc<dyn KeyReader>,
    /// The signing key, read once.
    signer: OnceCell<EncodingKey>,
    /// The current provider token and when it was made.
    token: Mutex<Option<(String, Instant)>>,
    /// How long a token is reused ([`TOKEN_REFRESH`]).
    refresh_after: Duration,
}

/// The HTTP/2 client: TLS with the platform's roots plus the configured extra CA.
fn client(settings: &ApnsSettings) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .http2_prior_knowledge()
        .timeout(Duration::from_secs(15))
        .pool_idle_timeout(Duration::from_secs(300));
    if let Some(path) = &settings.ca_file {
        match std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|pem| reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| e.to_string()))
        {
            Ok(certs) => builder = builder.tls_certs_merge(certs),
            Err(err) => tracing::error!(file = %path.display(), error = %err, "APNs: cannot read the extra CA"),
        }
    }
    builder.build().unwrap_or_else(|err| {
        tracing::error!(error = %err, "APNs HTTP client: falling back to defaults");
        reqwest::Client::new()
    })
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl ApnsSender {
    pub fn new(settings: ApnsSettings, keys: Arc<dyn KeyReader>) -> Self {
        Self {
            http: client(&settings),
            settings,
            keys,
            signer: OnceCell::new(),
            token: Mutex::new(None),
            refresh_after: TOKEN_REFRESH,
        }
    }

    /// The same sender reusing a token for `after` instead of [`TOKEN_REFRESH`].
    pub fn with_token_refresh(mut self, after: Duration) -> Self {
        self.refresh_after = after;
        self
    }

    /// The signing key, read on first use and kept; a failed read is tried again next time.
    async fn signer(&self) -> Result<&EncodingKey, String> {
        self.signer
            .get_or_try_init(|| async {
                let source = self.settings.key.as_ref().ok_or("no APNs key is configured")?;
                let pem = self.keys.read(source).await?;
                EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|e| format!("APNs key: {e}"))
            })
            .await
    }

    /// The provider token, made anew when it is older than [`TOKEN_REFRESH`].
    async fn provider_token(&self) -> Result<String, String> {
        let mut current = self.token.lock().await;
        if let Some((token, made)) = current.as_ref() {
            if made.elapsed() < self.refresh_after {
                return Ok(token.clone());
            }
        }
        let (Some(key_id), Some(team_id)) = (&self.settings.key_id, &self.settings.team_id) else {
            return Err(
                "Invalid APNS settings: :apns_key_id: and :apns_team_id: are required with :apns_key_file:".into()
            );
        };
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(key_id.clone());
        let claims = Claims { iss: team_id, iat: now_secs() };
        let token =
            jsonwebtoken::encode(&header, &claims, self.signer().await?).map_err(|e| format!("APNs token: {e}"))?;
        *current = Some((token.clone(), Instant::now()));
        Ok(token)
    }

    async fn forget_token(&self) {
        *self.token.lock().await = None;
    }
}

#[async_trait]
impl PushSender for ApnsSender {
    async fn send(&self, device: &PushDevice, notice: &PushNotice) -> SendOutcome {
        if !self.settings.is_configured() {
            tracing::warn!("Invalid APNS settings: ping is ignored.");
            return SendOutcome::Ignored("APNs is not configured".into());
        }
        let topic = if device.app_id.is_empty() { self.settings.topic.clone() } else { Some(device.app_id.clone()) };
        let Some(topic) = topic else { return SendOutcome::Failed("Missing APNs topic".into()) };
        let visible = payload::is_visible(notice);
        let url = format!("{}/3/device/{}", self.settings.endpoint, payload::apns_token(&device.pin));
        let mut request = self
            .http
            .post(url)
            .header("apns-topic", topic)
            .header("apns-push-type", if visible { "alert" } else { "background" })
            .header("apns-priority", if visible { "10" } else { "5" })
            .json(&payload::apns(notice));
        if self.settings.key.is_some() {
            match self.provider_token().await {
                Ok(token) => request = request.bearer_auth(token),
                Err(err) => return SendOutcome::Failed(err),
            }
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(err) => return SendOutcome::Retry { after: None, reason: format!("APNs: {err}") },
        };
        let status = response.status().as_u16();
        if status == 200 {
            return SendOutcome::Sent;
        }
        let headers = response.headers().clone();
        let reason = response
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v.get("reason").and_then(|r| r.as_str()).map(str::to_owned))
            .unwrap_or_default();
        let message = format!("APNs error {status}: {reason}");
        match (status, reason.as_str()) {
            (410, _) | (400, "BadDeviceToken") | (400, "Unregistered") => SendOutcome::Dead(message),
            (403, "ExpiredProviderToken") | (403, "InvalidProviderToken") => {
                // Made anew on the retry.
                self.forget_token().await;
                SendOutcome::Retry { after: None, reason: message }
            }
            _ => by_status(status, &headers, message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push::config::KeySource;

    /// A throwaway P-256 key, made for this test only.
    const TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgmpvVkmp9DGZoVOGn
hb+6R0GBGMZ/+p5Z1G20KKaQ1kuhRANCAASmYcAqTM/bDPzE97azMWyKxClzCEIs
8s1+wORuhS+Rw8AZVgeHiC4UdbRBrqWCZL9s0Co1S9xGwBqr14r+OWyN
-----END PRIVATE KEY-----
";

    struct Fixed;

    #[async_trait]
    impl KeyReader for Fixed {
        async fn read(&self, _: &KeySource) -> Result<String, String> {
            Ok(TEST_KEY.to_owned())
        }
    }

    fn sender() -> ApnsSender {
        let settings = ApnsSettings {
            endpoint: "https://127.0.0.1:9".into(),
            key: Some(KeySource::File("AuthKey.p8".into())),
            key_id: Some("KID".into()),
            team_id: Some("TEAM".into()),
            ..ApnsSettings::default()
        };
        ApnsSender::new(settings, Arc::new(Fixed))
    }

    async fn made(s: &ApnsSender) -> Option<Instant> {
        s.token.lock().await.as_ref().map(|(_, at)| *at)
    }

    #[tokio::test]
    async fn provider_tokens_are_reused_until_the_refresh_age_then_made_anew() {
        let s = sender();
        let first = s.provider_token().await.expect("token");
        let at = made(&s).await;
        assert_eq!(s.provider_token().await.expect("token"), first, "reused");
        assert_eq!(made(&s).await, at);
        let header = jsonwebtoken::decode_header(&first).expect("header");
        assert_eq!((header.alg, header.kid.as_deref()), (Algorithm::ES256, Some("KID")));

        let s = sender().with_token_refresh(Duration::ZERO);
        s.provider_token().await.expect("token");
        let at = made(&s).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        s.provider_token().await.expect("token");
        assert_ne!(made(&s).await, at, "made anew once older than the refresh age");
        s.forget_token().await;
        assert_eq!(made(&s).await, None);
    }

    #[tokio::test]
    async fn a_key_without_its_ids_fails_the_send() {
        let settings = ApnsSettings { key: Some(KeySource::File("k".into())), ..ApnsSettings::default() };
        let s = ApnsSender::new(settings, Arc::new(Fixed));
        let err = s.provider_token().await.expect_err("no ids");
        assert!(err.contains(":apns_key_id:"), "{err}");
    }
}
