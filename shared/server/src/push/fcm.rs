//! The FCM edge (docs/push.md §6.2): FCM's HTTP v1 `messages:send`, authorised by an OAuth2
//! access token that a Google service-account key buys: an RS256 JWT assertion posted to
//! the key's token endpoint. The token is kept until a minute before it expires.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, OnceCell};

use super::config::{FcmSettings, GOOGLE_TOKEN_URI};
use super::payload;
use super::secrets::KeyReader;
use super::sender::{by_status, retry_after, PushSender, SendOutcome};
use crate::ports::{PushDevice, PushNotice};

/// The scope FCM's send API needs.
pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// The members of a service-account key file that matter here.
#[derive(Debug, Clone, Deserialize)]
struct ServiceAccount {
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default)]
    token_uri: Option<String>,
}

#[derive(Debug, Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

#[derive(Debug, Deserialize)]
struct TokenReply {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

struct Account {
    email: String,
    key: EncodingKey,
    key_id: Option<String>,
    token_uri: String,
}

pub struct FcmSender {
    http: reqwest::Client,
    settings: FcmSettings,
    keys: Arc<dyn KeyReader>,
    account: OnceCell<Account>,
    token: Mutex<Option<(String, Instant)>>,
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

enum TokenError {
    /// The key or settings are wrong: retrying will not help.
    Config(String),
    /// The token endpoint did not answer well: try again later.
    Passing(String, Option<Duration>),
}

impl FcmSender {
    pub fn new(settings: FcmSettings, keys: Arc<dyn KeyReader>) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap_or_else(|err| {
            tracing::error!(error = %err, "FCM HTTP client: falling back to defaults");
            reqwest::Client::new()
        });
        Self { http, settings, keys, account: OnceCell::new(), token: Mutex::new(None) }
    }

    /// Whether FCM can be used at all (`gcm` and `android` devices then go to it).
    pub fn is_configured(settings: &FcmSettings) -> bool {
        settings.project_id.is_some()
    }

    async fn account(&self) -> Result<&Account, String> {
        self.account
            .get_or_try_init(|| async {
                let source = self
                    .settings
                    .service_account
                    .as_ref()
                    .ok_or("Missing `:fcm_service_account:` option in settings/settings.yml")?;
                let text = self.keys.read(source).await?;
                let sa: ServiceAccount =
                    serde_json::from_str(&text).map_err(|e| format!("FCM service account key: {e}"))?;
                let key = EncodingKey::from_rsa_pem(sa.private_key.as_bytes())
                    .map_err(|e| format!("FCM service account key: {e}"))?;
                let token_uri =
                    self.settings.token_uri.clone().or(sa.token_uri).unwrap_or_else(|| GOOGLE_TOKEN_URI.to_owned());
                Ok(Account { email: sa.client_email, key, key_id: sa.private_key_id, token_uri })
            })
            .await
    }

    async fn access_token(&self) -> Result<String, TokenError> {
        let mut current = self.token.lock().await;
        if let Some((token, until)) = current.as_ref() {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let account = self.account().await.map_err(TokenError::Config)?;
        let iat = now_secs();
        let claims = Assertion { iss: &account.email, scope: SCOPE, aud: &account.token_uri, iat, exp: iat + 3600 };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = account.key_id.clone();
        let assertion = jsonwebtoken::encode(&header, &claims, &account.key)
            .map_err(|e| TokenError::Config(format!("FCM assertion: {e}")))?;
        let response = self
            .http
            .post(&account.token_uri)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type={}&assertion={}",
                utf8_percent_encode("urn:ietf:params:oauth:grant-type:jwt-bearer", NON_ALPHANUMERIC),
                utf8_percent_encode(&assertion, NON_ALPHANUMERIC)
            ))
            .send()
            .await
            .map_err(|e| TokenError::Passing(format!("FCM token endpoint: {e}"), None))?;
        let status = response.status().as_u16();
        if status != 200 {
            let after = retry_after(response.headers());
            let body = response.text().await.unwrap_or_default();
            let message = format!("FCM token endpoint {status}: {}", body.chars().take(200).collect::<String>());
            return Err(if status == 429 || status >= 500 {
                TokenError::Passing(message, after)
            } else {
                TokenError::Config(message)
            });
        }
        let reply: TokenReply =
            response.json().await.map_err(|e| TokenError::Passing(format!("FCM token endpoint: {e}"), None))?;
        let lifetime = reply.expires_in.unwrap_or(3600).saturating_sub(60).max(1);
        *current = Some((reply.access_token.clone(), Instant::now() + Duration::from_secs(lifetime)));
        Ok(reply.access_token)
    }

    async fn forget_token(&self) {
        *self.token.lock().await = None;
    }
}

#[async_trait]
impl PushSender for FcmSender {
    async fn send(&self, device: &PushDevice, notice: &PushNotice) -> SendOutcome {
        let Some(project) = &self.settings.project_id else {
            return SendOutcome::Failed("Missing `:fcm_project_id:` option in settings/settings.yml".into());
        };
        let Some(package) = &self.settings.package_name else {
            return SendOutcome::Failed("Missing `:package_name:` option in settings/settings.yml".into());
        };
        let token = match self.access_token().await {
            Ok(t) => t,
            Err(TokenError::Config(message)) => return SendOutcome::Failed(message),
            Err(TokenError::Passing(reason, after)) => return SendOutcome::Retry { after, reason },
        };
        let collapse_key = rand::thread_rng().gen_range(0..100_000_000u32);
        let body = payload::fcm(notice, device, package, collapse_key);
        let url = format!("{}/v1/projects/{project}/messages:send", self.settings.endpoint);
        let response = match self.http.post(url).bearer_auth(token).json(&body).send().await {
            Ok(r) => r,
            Err(err) => return SendOutcome::Retry { after: None, reason: format!("FCM: {err}") },
        };
        let status = response.status().as_u16();
        if status == 200 {
            return SendOutcome::Sent;
        }
        let headers = response.headers().clone();
        let error = response.json::<serde_json::Value>().await.ok().and_then(|v| v.get("error").cloned());
        let error_status = error.as_ref().and_then(|e| e.get("status")).and_then(|s| s.as_str()).unwrap_or("");
        let unregistered =
            error.as_ref().and_then(|e| e.get("details")).and_then(|d| d.as_array()).is_some_and(|details| {
                details.iter().any(|d| d.get("errorCode").and_then(|c| c.as_str()) == Some("UNREGISTERED"))
            });
        let message = format!("FCM error {status}: {error_status}");
        if status == 404 || unregistered || error_status == "UNREGISTERED" {
            return SendOutcome::Dead(message);
        }
        if status == 401 {
            self.forget_token().await;
            return SendOutcome::Retry { after: None, reason: message };
        }
        by_status(status, &headers, message)
    }
}
