//! Device and admin sessions: a stateless signed cookie any function instance can check.
//!
//! The value is `v1.<payload>.<mac>`, both parts base64url without padding, the MAC an
//! HMAC-SHA256 over the payload with `RHOCONNECT_SECRET`. It uses only `[A-Za-z0-9._-]`, so
//! clients that URL-escape cookie values (the RhoConnect bench does) cannot alter it
//! (docs/device-protocol.md §2.4). The payload holds the login, the app name and the issue time;
//! a cookie older than `cookie_expire` is refused even if a client keeps sending it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::config::AppSettings;

/// The name RhoSync 3 used; always accepted when reading.
pub const LEGACY_COOKIE_NAME: &str = "rhosync_session";
/// RhoConnect's name; always accepted when reading.
pub const COOKIE_NAME: &str = "rhoconnect_session";
/// The only app a session may name (docs/sync-engine.md §1.1).
pub const APP_NAME: &str = "application";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    #[serde(rename = "l")]
    pub login: String,
    #[serde(rename = "a")]
    pub app: String,
    /// Issued at, seconds since the Unix epoch.
    #[serde(rename = "t")]
    pub issued_at: u64,
    /// Issued at, microseconds since the Unix epoch (0 in cookies signed before this field
    /// existed): lets a user deletion void the sessions issued before it even within the
    /// same second (`crate::sync::sessions`).
    #[serde(rename = "u", default, skip_serializing_if = "is_zero")]
    pub issued_micros: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Session {
    /// Issue time in microseconds, as precise as the cookie tells.
    pub fn issued_micros(&self) -> u64 {
        if self.issued_micros > 0 {
            self.issued_micros
        } else {
            // Older cookies: assume the end of their second, so a deletion in that second
            // voids them.
            self.issued_at.saturating_mul(1_000_000).saturating_add(999_999)
        }
    }
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str) -> HmacSha256 {
    // HMAC accepts keys of any length.
    HmacSha256::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!("HMAC takes any key"))
}

/// The signed cookie value for `session`.
pub fn sign(secret: &str, session: &Session) -> String {
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(session).unwrap_or_default());
    let mut m = mac(secret);
    m.update(payload.as_bytes());
    let tag = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    format!("v1.{payload}.{tag}")
}

/// The session in `value` if its signature is ours and it has not expired.
pub fn verify(secret: &str, value: &str, now: u64, max_age: u64) -> Option<Session> {
    let rest = value.strip_prefix("v1.")?;
    let (payload, tag) = rest.split_once('.')?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    let mut m = mac(secret);
    m.update(payload.as_bytes());
    m.verify_slice(&tag).ok()?;
    let session: Session = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    (session.issued_at.saturating_add(max_age) >= now).then_some(session)
}

/// Finds a session value in a `Cookie` header: the configured name first, then the two
/// names clients have used.
pub fn from_cookie_header(header: &str, configured: &str) -> Vec<String> {
    let pairs: Vec<(&str, &str)> =
        header.split(';').filter_map(|pair| pair.trim().split_once('=')).map(|(k, v)| (k.trim(), v.trim())).collect();
    let mut names: Vec<&str> = Vec::with_capacity(3);
    for name in [configured, COOKIE_NAME, LEGACY_COOKIE_NAME] {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names.iter().flat_map(|name| pairs.iter().filter(move |(k, _)| k == name).map(|(_, v)| url_decode(v))).collect()
}

/// The cookie-less form rhoconnect.js uses cross-origin: `?rhoconnect_session=` or
/// `?rhosync_session=`, holding either a bare value or a whole `name=value;` cookie string
/// (docs/device-protocol.md §2.4, "Cookie-less form").
pub fn from_query_value(value: &str, configured: &str) -> Vec<String> {
    let decoded = url_decode(value);
    if decoded.contains('=') {
        from_cookie_header(&decoded, configured)
    } else {
        vec![decoded]
    }
}

fn url_decode(v: &str) -> String {
    percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned()
}

/// The latest `expires` an HTTP date can write (9999-12-31T23:59:59Z).
const LATEST_EXPIRY: u64 = 253_402_300_799;

/// The `Set-Cookie` header value for a new session. A `cookie_expire` reaching past the year
/// 9999 writes that year's last second: the date formatter (and `SystemTime`) cannot go further.
pub fn set_cookie(settings: &AppSettings, value: &str, now: u64) -> String {
    let expires_at = now.saturating_add(settings.cookie_expire).min(LATEST_EXPIRY);
    let expires = std::time::UNIX_EPOCH + std::time::Duration::from_secs(expires_at);
    let secure = if settings.cookie_secure { "; Secure" } else { "" };
    format!("{}={value}; path=/; expires={}; HttpOnly{secure}", settings.cookie_name, httpdate::fmt_http_date(expires))
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn session() -> Session {
        Session { login: "alice".into(), app: APP_NAME.into(), issued_at: 1000, issued_micros: 0 }
    }

    #[test]
    fn signed_values_verify_and_use_a_safe_alphabet() {
        let value = sign(SECRET, &session());
        assert!(value.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)), "{value}");
        assert_eq!(verify(SECRET, &value, 1000, 10), Some(session()));
    }

    #[test]
    fn tampered_foreign_or_expired_values_are_refused() {
        let value = sign(SECRET, &session());
        let forged = sign(SECRET, &Session { login: "mallory".into(), ..session() });
        let spliced =
            format!("{}.{}", &forged[..forged.rfind('.').unwrap_or(0)], value.rsplit('.').next().unwrap_or(""));
        assert_eq!(verify(SECRET, &spliced, 1000, 10), None, "payload swapped under another MAC");
        assert_eq!(verify("another-secret-another-secret-xx", &value, 1000, 10), None);
        assert_eq!(verify(SECRET, &value, 1011, 10), None, "expired");
        assert_eq!(verify(SECRET, "garbage", 1000, 10), None);
    }

    #[test]
    fn a_huge_cookie_expire_caps_the_expiry_instead_of_panicking() {
        // fuzz/fuzz_targets/settings.rs sets a cookie from any settings that parse; an expiry
        // after the year 9999 panicked in the HTTP date formatter.
        for expire in [i64::MAX as u64, 300_000_000_000] {
            let text = format!(":development:\n  :cookie_expire: {expire}\n");
            let settings = crate::config::Settings::parse(&text, "development").expect("valid settings");
            let header = set_cookie(&settings.app, "v1.x.y", 1_800_000_000);
            assert!(header.contains("expires=Fri, 31 Dec 9999 23:59:59 GMT"), "{header}");
        }
    }

    #[test]
    fn finds_values_in_cookie_headers_and_query_forms() {
        assert_eq!(from_cookie_header("a=1; rhosync_session=v1.x.y;", COOKIE_NAME), ["v1.x.y"]);
        assert_eq!(from_query_value("rhoconnect_session%3Dv1.p.q%3B", COOKIE_NAME), ["v1.p.q"]);
        assert_eq!(from_query_value("v1.p.q", COOKIE_NAME), ["v1.p.q"]);
    }
}
