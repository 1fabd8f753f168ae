//! RhoConnect's own session cookie, accepted once so migrated devices need not log in again
//! (docs/migrating.md §3).
//!
//! RhoConnect 7 (Rack 2.0) and RhoSync 3 (Rack 1.x) keep the session in a Rack signed
//! cookie: `<base64 of Marshal.dump(session hash)>--<hex HMAC-SHA1 of that base64 text>`,
//! keyed by the app's `config.ru` secret, URL-escaped in the `Set-Cookie` header. With that
//! secret configured (`:legacy_secret:` / `RHOCONNECT_LEGACY_SECRET`), [`verify`] checks the
//! HMAC in constant time first and only then decodes the hash with the Marshal subset of
//! [`super::ruby_marshal`]. The session names the login (`login`) and the app
//! (`app_name`), as string keys (Rack 2) or symbols (Rack 1).
//!
//! A cookie is exchanged once: [`LegacyExchanges::claim`] records it (keyed by its HMAC)
//! with the session it was exchanged for, for as long as a cookie lives. A repeat within
//! [`GRACE_SECS`] — rhoconnect.js sends two requests at once after a page load — gets the
//! same new session; later repeats are refused like any invalid cookie.

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::ruby_marshal::{self, Value};

/// How long after an exchange the same legacy cookie still gets the session it was
/// exchanged for (simultaneous first requests of one device).
pub const GRACE_SECS: u64 = 30;

/// What a verified legacy cookie says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacySession {
    pub login: String,
    /// `app_name`, empty when the session has none (a logged-out session).
    pub app_name: String,
    /// The cookie's HMAC (lowercase hex): what identifies it in the exchange record.
    pub mac: String,
}

/// Whether a cookie value could be a Rack signed cookie at all (cheap, before any HMAC).
pub fn looks_legacy(value: &str) -> bool {
    value.len() > 42 && value.len() <= ruby_marshal::MAX_INPUT * 2 && value.contains("--")
}

/// The session in a Rack signed cookie value (already URL-unescaped) if its HMAC-SHA1
/// under `secret` matches and it decodes to a session hash with a login.
pub fn verify(secret: &str, value: &str) -> Option<LegacySession> {
    if !looks_legacy(value) {
        return None;
    }
    // Rack splits at the last `--`: the digest never contains one.
    let (data, digest) = value.rsplit_once("--")?;
    let tag = hex::decode(digest.trim()).ok()?;
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(data.as_bytes());
    mac.verify_slice(&tag).ok()?;
    // Ruby's `pack('m')` breaks lines every 60 characters; `unpack('m')` skips them.
    let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = STANDARD.decode(compact).ok()?;
    let session = ruby_marshal::decode(&bytes).ok()?;
    if !matches!(session, Value::Hash(_)) {
        return None;
    }
    let login = session.get("login")?.as_text()?.to_owned();
    if login.is_empty() {
        return None;
    }
    let app_name = session.get("app_name").and_then(Value::as_text).unwrap_or_default().to_owned();
    Some(LegacySession { login, app_name, mac: hex::encode(tag) })
}

/// The exchange record: `<issued at>|<our cookie value>`.
pub fn record(issued_at: u64, value: &str) -> String {
    format!("{issued_at}|{value}")
}

/// What to do with a legacy cookie given the record [`LegacyExchanges::claim`] found
/// (`None`: this request made the record): the cookie value to use, or `None` to refuse.
pub fn decide(found: Option<&str>, ours: &str, now: u64) -> Option<String> {
    let Some(found) = found else { return Some(ours.to_owned()) };
    let (at, value) = found.split_once('|')?;
    let at: u64 = at.parse().ok()?;
    (now >= at && now - at <= GRACE_SECS).then(|| value.to_owned())
}

#[derive(Debug, thiserror::Error)]
#[error("legacy session exchange: {0}")]
pub struct ExchangeError(pub String);

/// Where exchanges are recorded (Redis, shared by every instance).
#[async_trait]
pub trait LegacyExchanges: Send + Sync {
    /// Stores `record` under `mac` for `ttl_secs` unless a record is there; returns the
    /// record that was there (`None`: this call stored it). Atomic.
    async fn claim(&self, mac: &str, record: &str, ttl_secs: u64) -> Result<Option<String>, ExchangeError>;
}

/// Builds a cookie value the way Rack does, for tests and fuzz seeds: `marshal` is the
/// Marshal dump of the session hash. Never used on the request path.
pub fn rack_sign(secret: &str, marshal: &[u8]) -> String {
    // `pack('m')`: base64 in lines of 60 characters, each ending in a newline.
    let b64 = STANDARD.encode(marshal);
    let mut data = String::with_capacity(b64.len() + b64.len() / 60 + 1);
    for chunk in b64.as_bytes().chunks(60) {
        data.push_str(&String::from_utf8_lossy(chunk));
        data.push('\n');
    }
    let mut mac = match Hmac::<Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(data.as_bytes());
    format!("{data}--{}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::ruby_marshal::dump;

    const SECRET: &str = "rhoconnect-config-ru-secret";

    fn s(text: &str) -> Value {
        Value::Str(text.as_bytes().to_vec())
    }

    fn rack2_session(login: &str) -> Vec<u8> {
        dump(&Value::Hash(vec![
            (
                s("session_id"),
                Value::SessionId(b"5f2b1c0a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a".to_vec()),
            ),
            (s("login"), s(login)),
            (s("app_name"), s("application")),
        ]))
    }

    #[test]
    fn a_rack_cookie_verifies_and_names_its_login() {
        let value = rack_sign(SECRET, &rack2_session("alice"));
        assert!(value.contains('\n'), "Rack's base64 has line breaks");
        let session = verify(SECRET, &value).expect("verifies");
        assert_eq!((session.login.as_str(), session.app_name.as_str()), ("alice", "application"));
        assert_eq!(session.mac.len(), 40);
        // RhoSync 3 (Rack 1): symbol keys, no session id object.
        let rack1 = dump(&Value::Hash(vec![
            (Value::Symbol("login".into()), s("bob")),
            (Value::Symbol("app_name".into()), s("application")),
        ]));
        assert_eq!(verify(SECRET, &rack_sign(SECRET, &rack1)).map(|s| s.login), Some("bob".into()));
    }

    #[test]
    fn forged_tampered_or_foreign_cookies_are_refused() {
        let value = rack_sign(SECRET, &rack2_session("alice"));
        assert_eq!(verify("another-secret", &value), None);
        let (data, digest) = value.rsplit_once("--").unwrap_or_default();
        let other = rack_sign(SECRET, &rack2_session("mallory"));
        let (other_data, _) = other.rsplit_once("--").unwrap_or_default();
        assert_eq!(verify(SECRET, &format!("{other_data}--{digest}")), None, "data swapped under another MAC");
        let mut flipped = digest.to_owned();
        flipped.replace_range(0..1, if digest.starts_with('0') { "1" } else { "0" });
        assert_eq!(verify(SECRET, &format!("{data}--{flipped}")), None);
        assert_eq!(verify(SECRET, "v1.abc.def"), None);
        // Correctly signed, but not a session hash / an object Rack never writes.
        let array = rack_sign(SECRET, &dump(&Value::Array(vec![s("login")])));
        assert_eq!(verify(SECRET, &array), None);
        let evil = rack_sign(SECRET, b"\x04\x08o:\x0bObject\x00");
        assert_eq!(verify(SECRET, &evil), None);
        let no_login = rack_sign(SECRET, &dump(&Value::Hash(vec![(s("app_name"), s("application"))])));
        assert_eq!(verify(SECRET, &no_login), None);
    }

    #[test]
    fn a_repeat_gets_the_same_session_only_within_the_grace_window() {
        assert_eq!(decide(None, "v1.new", 100), Some("v1.new".into()));
        let found = record(100, "v1.first");
        assert_eq!(decide(Some(&found), "v1.new", 100 + GRACE_SECS), Some("v1.first".into()));
        assert_eq!(decide(Some(&found), "v1.new", 101 + GRACE_SECS), None);
        assert_eq!(decide(Some("garbage"), "v1.new", 100), None);
    }
}
