//! What the store reads back (`rhosync_engine::values`, `rhosync_engine::page`): object
//! bodies, object maps, stored pages and page tokens.
//!
//! Input layout: one mode byte (0 body, 1 object map, 2 stored page, 3 token), then the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhosync_engine::page::{self, StoredPage};
use rhosync_engine::values;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    match mode % 4 {
        0 => {
            if let Ok(attrs) = values::decode_body(text) {
                // The encoding is canonical: decode ∘ encode is the identity.
                let body = values::encode_body(&attrs);
                assert_eq!(values::decode_body(&body).as_ref(), Ok(&attrs));
                assert_eq!(values::encode_body(&values::decode_body(&body).unwrap_or_default()), body);
                let _ = values::attrs_to_json(&attrs);
            }
        }
        1 => {
            let Ok(json) = serde_json::from_str::<serde_json::Value>(text) else { return };
            if let Ok(objects) = values::normalize_objects(&json) {
                for attrs in objects.values() {
                    assert!(!attrs.is_empty(), "an object without attributes does not exist");
                    assert!(!attrs.keys().any(|k| values::is_reserved(k)));
                }
                let again = values::normalize_objects(&values::objects_to_json(&objects));
                assert_eq!(again.as_ref(), Ok(&objects));
            }
        }
        2 => {
            let Ok(stored) = serde_json::from_str::<StoredPage>(text) else { return };
            let _ = stored.page.count();
            let encoded = serde_json::to_string(&stored).expect("a stored page encodes");
            let decoded: StoredPage = serde_json::from_str(&encoded).expect("an encoded page decodes");
            assert_eq!(serde_json::to_string(&decoded).ok().as_deref(), Some(encoded.as_str()));
        }
        _ => {
            if let Ok(token) = page::parse_token(text) {
                assert_eq!(page::parse_token(&token.to_string()), Ok(token));
            }
        }
    }
});
