//! Whether a signed device session still names an existing user.
//!
//! Sessions are stateless signed cookies (`crate::auth::session`), so a valid signature
//! alone would keep a deleted user's devices syncing until the cookie expires.
//! docs/device-protocol.md §2.4 makes a request authenticated only while the session names an
//! existing user, so every device request also checks the user here:
//!
//! * `login:<login>` `exists` — "the registry had this user", cached for
//!   [`EXISTS_TTL_SECS`] so a sync costs no DynamoDB read in the common case. Only hits are
//!   cached: a miss must not delay a user created right after it.
//! * `login:<login>` `revoked` — when (µs) the user was deleted through the REST API;
//!   sessions issued before it are void, even once a user of the same login exists
//!   again (that user's devices must log in anew). Kept as long as such a cookie could
//!   otherwise still be accepted (`cookie_expire`).
//! * `sessions` `reset_at` — the same (µs) for every login, written by the system reset after it
//!   flushed the namespace.
//!
//! Times are compared in microseconds of the clock port, which device logins also stamp
//! into the cookie, so a login right after a deletion is not mistaken for an older one.
//! Cookies without that stamp count as issued at the end of their second.
//!
//! Limitation: the revocation markers live in Redis. If they are lost (a manual flush
//! outside the reset route), a deleted user's cookie is refused only while no user of that
//! login exists.

use super::SyncServices;
use crate::auth::session::Session;
use crate::store::StoreError;

/// How long a registry hit is trusted.
pub const EXISTS_TTL_SECS: u64 = 45;

/// Errors of the session check.
#[derive(Debug, thiserror::Error)]
pub enum SessionCheckError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("registry: {0}")]
    Registry(String),
}

/// The three keys a check reads, in the order [`decide`] takes their values.
pub fn check_keys(svc: &SyncServices, login: &str) -> [String; 3] {
    svc.store.session_marker_keys(login)
}

/// True while `session` names an existing user and was issued after any deletion of that
/// login and after the last system reset. One pipelined read (three `GET`s; the reset key
/// is in another slot); the query route folds those reads into its own pipeline instead
/// and calls [`decide`].
pub async fn still_valid(svc: &SyncServices, session: &Session) -> Result<bool, SessionCheckError> {
    let values = svc.store.session_markers(&session.login).await?;
    decide(svc, session, &values).await
}

/// The check, given the values of [`check_keys`] as read (`None`: absent).
pub async fn decide(
    svc: &SyncServices,
    session: &Session,
    values: &[Option<String>],
) -> Result<bool, SessionCheckError> {
    let at = |i: usize| values.get(i).cloned().flatten().and_then(|v| v.parse::<u64>().ok());
    if [at(1), at(2)].into_iter().flatten().any(|voided| session.issued_micros() < voided) {
        return Ok(false);
    }
    if values.first().cloned().flatten().is_some() {
        return Ok(true);
    }
    let found =
        svc.registry().user(&session.login).await.map_err(|e| SessionCheckError::Registry(e.to_string()))?.is_some();
    if found {
        user_exists(svc, &session.login).await?;
    }
    Ok(found)
}

/// Records that the registry has `login` (a registry hit, or a login that just created or
/// found the user), so the device requests that follow need no registry read.
pub async fn user_exists(svc: &SyncServices, login: &str) -> Result<(), StoreError> {
    svc.store.mark_user_exists(login, EXISTS_TTL_SECS).await
}

/// Voids the sessions of `login` (its user was just deleted): drops the cached hit and
/// records the deletion time.
pub async fn user_deleted(svc: &SyncServices, login: &str) -> Result<(), StoreError> {
    let now = svc.clock.now_micros();
    svc.store.void_sessions_of(login, now, revocation_ttl(svc)).await
}

/// Voids every session issued so far (system reset, after the namespace flush).
pub async fn all_reset(svc: &SyncServices) -> Result<(), StoreError> {
    let now = svc.clock.now_micros();
    svc.store.void_all_sessions(now, revocation_ttl(svc)).await
}

/// A cookie older than `cookie_expire` is refused anyway; one second more covers rounding.
fn revocation_ttl(svc: &SyncServices) -> u64 {
    svc.settings.app.cookie_expire.saturating_add(1).max(1)
}
