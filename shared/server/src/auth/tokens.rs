//! Random tokens: API tokens, client ids, job message ids.

use rand::RngCore;

/// 32 lowercase hex characters.
pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
