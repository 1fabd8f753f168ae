//! The session markers that `crate::sync::sessions` decides with: per login `exists` (a
//! cached registry hit) and `revoked` (when its sessions were voided), and one `reset_at`
//! for every login. The rules — what the values mean, how long each marker lives — are
//! the caller's; this only reads and writes them.

use super::keys;
use super::kv::gets;
use super::{StoreError, SyncStore};

impl SyncStore {
    /// The marker keys of `login`, in the order [`Self::session_markers`] returns their
    /// values: `exists`, `revoked`, `reset_at`. The query route reads them in its own
    /// pipeline.
    pub fn session_marker_keys(&self, login: &str) -> [String; 3] {
        let k = self.keys();
        [keys::login_session(k, login, "exists"), keys::login_session(k, login, "revoked"), keys::sessions_reset(k)]
    }

    /// The values of [`Self::session_marker_keys`] (`None`: absent), in one round trip (a
    /// pipeline; the reset key is in another slot).
    pub async fn session_markers(&self, login: &str) -> Result<Vec<Option<String>>, StoreError> {
        let [exists, revoked, reset] = self.session_marker_keys(login);
        Ok(gets(&[&exists, &revoked, &reset]).query_async(&mut self.conn()).await?)
    }

    /// Records that the registry has `login`, for `ttl_secs`.
    pub async fn mark_user_exists(&self, login: &str, ttl_secs: u64) -> Result<(), StoreError> {
        let _: () = redis::cmd("SET")
            .arg(keys::login_session(self.keys(), login, "exists"))
            .arg("1")
            .arg("EX")
            .arg(ttl_secs)
            .query_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// Drops `login`'s `exists` marker and records `at` as its `revoked` time, kept for
    /// `ttl_secs`.
    pub async fn void_sessions_of(&self, login: &str, at: u64, ttl_secs: u64) -> Result<(), StoreError> {
        let k = self.keys();
        // Both keys share the login's hash tag: one atomic step.
        let _: () = redis::pipe()
            .atomic()
            .cmd("DEL")
            .arg(keys::login_session(k, login, "exists"))
            .ignore()
            .cmd("SET")
            .arg(keys::login_session(k, login, "revoked"))
            .arg(at)
            .arg("EX")
            .arg(ttl_secs)
            .ignore()
            .query_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// Records `at` as the time of the last system reset, kept for `ttl_secs`.
    pub async fn void_all_sessions(&self, at: u64, ttl_secs: u64) -> Result<(), StoreError> {
        let _: () = redis::cmd("SET")
            .arg(keys::sessions_reset(self.keys()))
            .arg(at)
            .arg("EX")
            .arg(ttl_secs)
            .query_async(&mut self.conn())
            .await?;
        Ok(())
    }
}
