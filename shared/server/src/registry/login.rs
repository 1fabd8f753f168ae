//! Password logins against the registry (docs/rest-api.md §10): the one place that
//! checks a password, so every login path upgrades a RhoConnect SHA-1 hash to argon2id the
//! first time it matches.

use super::password::{self, Verdict};
use super::{Registry, RegistryError, User};

/// The user when `password` matches its stored hash; `None` for an unknown login, a user
/// without a password, or a wrong password.
pub async fn check_password(
    registry: &dyn Registry,
    login: &str,
    password: &str,
) -> Result<Option<User>, RegistryError> {
    let Some(mut user) = registry.user(login).await? else { return Ok(None) };
    let Some(stored) = user.password_hash.clone() else { return Ok(None) };
    match password::verify(password, &stored) {
        Verdict::Match => Ok(Some(user)),
        Verdict::MatchLegacy => {
            user.password_hash = Some(password::hash(password));
            // Rewrites the profile only; app-list membership and token are untouched.
            registry.put_admin(&user).await?;
            tracing::info!(login, "legacy password hash upgraded to argon2id");
            Ok(Some(user))
        }
        Verdict::Mismatch => Ok(None),
    }
}
