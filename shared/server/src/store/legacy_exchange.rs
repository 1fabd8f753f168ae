//! The record of each RhoConnect session cookie already exchanged for one of ours
//! (`crate::auth::legacy_cookie` holds the rules): `<ns>:{legacy_session:<hmac>}:exchanged`,
//! written once with the new session and a TTL of the cookie lifetime, read back by a
//! repeat of the same cookie. One key per cookie, so it lives in one slot.

use std::sync::OnceLock;

use async_trait::async_trait;
use redis::Script;

use super::{StoreError, SyncStore};
use crate::auth::legacy_cookie::{ExchangeError, LegacyExchanges};

/// Returns the record already there, else stores `ARGV[1]` for `ARGV[2]` seconds and
/// returns false (nil).
const CLAIM_SCRIPT: &str = r"
local found = redis.call('GET', KEYS[1])
if found then return found end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return false
";

fn claim_script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| Script::new(CLAIM_SCRIPT))
}

impl SyncStore {
    fn legacy_exchange_key(&self, mac: &str) -> String {
        // The MAC is 40 hex characters: nothing to escape.
        self.keys().key(&format!("legacy_session:{mac}"), "exchanged")
    }

    /// See [`LegacyExchanges::claim`].
    pub async fn legacy_exchange_claim(
        &self,
        mac: &str,
        record: &str,
        ttl_secs: u64,
    ) -> Result<Option<String>, StoreError> {
        let found: Option<String> = claim_script()
            .key(self.legacy_exchange_key(mac))
            .arg(record)
            .arg(ttl_secs.max(1))
            .invoke_async(&mut self.conn())
            .await?;
        Ok(found)
    }
}

#[async_trait]
impl LegacyExchanges for SyncStore {
    async fn claim(&self, mac: &str, record: &str, ttl_secs: u64) -> Result<Option<String>, ExchangeError> {
        self.legacy_exchange_claim(mac, record, ttl_secs).await.map_err(|e| ExchangeError(e.to_string()))
    }
}
