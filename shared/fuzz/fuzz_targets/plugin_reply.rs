//! What a plugin backend answers (`rhosync_server::adapters::plugin`): the query reply, the
//! create reply and the authenticate reply with its status. Each decodes or is refused
//! with the adapter's own message; never a panic. A decoded query reply's bodies written
//! straight from the JSON equal those encoded from its attribute maps, and so do those read
//! straight from the text (`values::bodies_from_json`), which refuses the same replies.
//!
//! Input layout: one mode byte (0 query, 1 create, 2 authenticate), for authenticate two
//! bytes of status code (big-endian, taken modulo 900 from 100), then the body (lossy UTF-8,
//! as the HTTP client reads it).
#![no_main]

use http::StatusCode;
use libfuzzer_sys::fuzz_target;
use rhosync_fuzz::has_float;
use rhosync_server::adapters::plugin::{
    authenticate_outcome, created_id, parse_query_reply, parse_query_reply_bodies, INVALID_QUERY_RESPONSE,
};
use rhosync_server::adapters::{AdapterError, AuthOutcome};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 3 {
        0 => match parse_query_reply(&String::from_utf8_lossy(rest)) {
            result @ Err(_) => {
                // Read straight into bodies, the same reply is refused the same way.
                let direct = parse_query_reply_bodies(&String::from_utf8_lossy(rest));
                let refused = Some(AdapterError::Backend(INVALID_QUERY_RESPONSE.into()));
                assert_eq!(result.err(), refused);
                assert_eq!(direct.err(), refused, "bodies from the text refuse as the tree does");
            }
            Ok(objects) => {
                // The refresh writes bodies straight from the JSON: the same as through attrs.
                let doc = serde_json::Value::Object(objects.clone());
                let direct = rhosync_engine::values::normalize_bodies(&doc).expect("an object map");
                let via_attrs = rhosync_engine::values::normalize_objects(&doc).expect("an object map");
                assert_eq!(direct, rhosync_engine::values::encode_objects(&via_attrs), "bodies written directly");
                let from_text = parse_query_reply_bodies(&String::from_utf8_lossy(rest));
                assert_eq!(from_text.as_ref(), Ok(&direct), "bodies read straight from the text");
                let reread = serde_json::to_string(&objects).expect("objects print");
                let again = parse_query_reply(&reread);
                // A float may come back one ulp off (serde_json without `float_roundtrip`,
                // docs/fuzzing.md "Findings"): such replies must only decode again.
                if has_float(&serde_json::Value::Object(objects.clone())) {
                    assert!(again.is_ok(), "a decoded reply decodes again");
                } else {
                    assert_eq!(again.as_ref(), Ok(&objects), "a decoded reply reads back the same");
                }
            }
        },
        1 => {
            if let Some(id) = created_id(&String::from_utf8_lossy(rest)) {
                assert!(!id.is_empty() && id.trim() == id, "the id is trimmed and not empty: {id:?}");
            }
        }
        _ => {
            let [hi, lo, body @ ..] = rest else { return };
            let code = 100 + u16::from_be_bytes([*hi, *lo]) % 900;
            let status = StatusCode::from_u16(code).expect("100..=999 is a status code");
            let body = String::from_utf8_lossy(body);
            match authenticate_outcome("typed", status, &body) {
                AuthOutcome::Allow(login) => {
                    assert!(status.is_success());
                    assert!(!login.is_empty() && login.trim() == login, "{login:?}");
                }
                AuthOutcome::Deny => assert!(code == 401 || code == 403),
                AuthOutcome::Error(message) => {
                    assert!(!status.is_success());
                    assert!(message.starts_with(&code.to_string()), "{message}");
                }
                AuthOutcome::LoginError(message) => panic!("a status alone gave a login error: {message}"),
            }
        }
    }
});
