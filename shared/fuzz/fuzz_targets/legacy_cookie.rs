//! RhoConnect's Rack session cookies (`rhosync_server::auth::legacy_cookie`) and the Ruby
//! Marshal subset they are decoded with (`rhosync_server::auth::ruby_marshal`): neither
//! panics on any input; whatever decodes writes back to bytes that decode to the same
//! value; a cookie signed with the secret verifies exactly when its data is a session hash
//! with a login, and never under another secret.
//!
//! Input: the whole input is tried as a cookie value and as Marshal bytes, and is signed
//! as Marshal bytes the way Rack signs a session.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhosync_server::auth::legacy_cookie;
use rhosync_server::auth::ruby_marshal::{self, Value};

const SECRET: &str = "fuzz-config-ru-secret";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = legacy_cookie::verify(SECRET, &text);

    let decoded = ruby_marshal::decode(data);
    if let Ok(value) = &decoded {
        assert_eq!(ruby_marshal::decode(&ruby_marshal::dump(value)).as_ref(), Ok(value));
    }

    let signed = legacy_cookie::rack_sign(SECRET, data);
    let session = legacy_cookie::verify(SECRET, &signed);
    let login = match &decoded {
        Ok(value @ Value::Hash(_)) => value.get("login").and_then(Value::as_text).filter(|l| !l.is_empty()),
        _ => None,
    };
    if data.len() * 4 / 3 + 64 < ruby_marshal::MAX_INPUT {
        assert_eq!(session.as_ref().map(|s| s.login.as_str()), login, "{signed:?}");
    }
    assert_eq!(legacy_cookie::verify("another secret", &signed), None);
});
