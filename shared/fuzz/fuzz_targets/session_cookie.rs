//! Session cookies (`rhosync_server::auth::session`): finding the value in a `Cookie`
//! header or a query value and verifying it never panics; a signed session verifies
//! to itself, uses only cookie-safe characters, and fails under another secret.
//!
//! Input: the whole input is tried as a header, a query value and a cookie value;
//! when it is at least 8 bytes long, those 8 bytes are also an issue time and the
//! rest a login for the sign/verify round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhosync_server::auth::session::{self, Session, APP_NAME, COOKIE_NAME};

const SECRET: &str = "fuzz-secret";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let now = 1_800_000_000;
    for value in session::from_cookie_header(&text, "custom_session") {
        let _ = session::verify(SECRET, &value, now, 3600);
    }
    for value in session::from_query_value(&text, COOKIE_NAME) {
        let _ = session::verify(SECRET, &value, now, 3600);
    }
    let _ = session::verify(SECRET, &text, now, u64::MAX);

    if data.len() >= 8 {
        let mut time = [0u8; 8];
        time.copy_from_slice(&data[..8]);
        let issued_at = u64::from_le_bytes(time);
        let login = String::from_utf8_lossy(&data[8..]).into_owned();
        let s = Session { login, app: APP_NAME.to_owned(), issued_at, issued_micros: issued_at.wrapping_mul(7) };
        let _ = s.issued_micros();
        let signed = session::sign(SECRET, &s);
        assert!(signed.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)), "{signed}");
        assert_eq!(session::verify(SECRET, &signed, issued_at, 0).as_ref(), Some(&s));
        assert_eq!(session::verify("another secret", &signed, issued_at, 0), None);
        let header = format!("a=b; {COOKIE_NAME}={signed}; c");
        assert_eq!(session::from_cookie_header(&header, COOKIE_NAME), vec![signed.clone()]);
        assert_eq!(session::from_query_value(&signed, COOKIE_NAME), vec![signed]);
    }
});
