//! Password hashing: argon2id for everything we write; RhoConnect's SHA-1 hashes are still
//! accepted so migrated users can log in, and callers re-hash them on success
//! (docs/rest-api.md §10).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sha1::{Digest, Sha1};

/// A fresh argon2id PHC string for `password`.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        // Hashing only fails for absurd parameters, which Argon2::default() is not.
        .unwrap_or_default()
}

/// Outcome of a password check.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Match,
    /// Matched a legacy hash; store [`hash`] of the password instead.
    MatchLegacy,
    Mismatch,
}

/// Checks `password` against a stored hash of either kind.
pub fn verify(password: &str, stored: &str) -> Verdict {
    if let Some(rest) = stored.strip_prefix("sha1$") {
        let Some((salt, hex_digest)) = rest.split_once('$') else { return Verdict::Mismatch };
        let digest = Sha1::digest(format!("{password}{salt}").as_bytes());
        return if hex::encode(digest).eq_ignore_ascii_case(hex_digest) {
            Verdict::MatchLegacy
        } else {
            Verdict::Mismatch
        };
    }
    match PasswordHash::new(stored) {
        Ok(parsed) if Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok() => Verdict::Match,
        _ => Verdict::Mismatch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2_round_trip() {
        let stored = hash("secret");
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert_eq!(verify("secret", &stored), Verdict::Match);
        assert_eq!(verify("Secret", &stored), Verdict::Mismatch);
    }

    #[test]
    fn legacy_sha1_is_accepted_and_flagged() {
        let salt = "abc";
        let stored = format!("sha1${salt}${}", hex::encode(Sha1::digest(b"pwabc")));
        assert_eq!(verify("pw", &stored), Verdict::MatchLegacy);
        assert_eq!(verify("px", &stored), Verdict::Mismatch);
        assert_eq!(verify("pw", "garbage"), Verdict::Mismatch);
    }
}
