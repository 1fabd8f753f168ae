//! Reading REST API parameters the lenient way RhoConnect clients need (docs/rest-api.md §1.2):
//! scalars as text, plus the limits that keep request-supplied ids inside what the
//! registry can store.

use serde_json::Value;

use crate::http::admin::API_TOKEN_HEADER;
use crate::http::{HttpError, Parsed};
use crate::AppState;

/// Longest login or API token the API accepts (bytes); the registry keys have room for it.
pub const MAX_ID_BYTES: usize = 255;

/// A scalar parameter as text (`5` → `"5"`, `true` → `"true"`); `None` for null, objects
/// and arrays.
pub fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A top-level parameter as text.
pub fn param(request: &Parsed, name: &str) -> Option<String> {
    request.params.get(name).and_then(scalar)
}

/// The admin login of the request and the token value it authenticated with (header
/// first, then the `api_token` parameter, docs/rest-api.md §1.3).
pub async fn admin_with_token(state: &AppState, request: &Parsed) -> Result<(String, String), HttpError> {
    let login = crate::http::admin::require_admin(state, request).await?;
    let candidates = [request.header(API_TOKEN_HEADER).map(str::to_owned), param(request, "api_token")];
    for token in candidates.into_iter().flatten().filter(|t| !t.is_empty()) {
        if state.registry().token_user(&token).await?.as_deref() == Some(login.as_str()) {
            return Ok((login, token));
        }
    }
    Err(HttpError::NoApiToken)
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_become_text() {
        assert_eq!(scalar(&serde_json::json!(5)), Some("5".into()));
        assert_eq!(scalar(&serde_json::json!("a")), Some("a".into()));
        assert_eq!(scalar(&serde_json::json!(null)), None);
        assert_eq!(scalar(&serde_json::json!({"a": 1})), None);
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }
}
