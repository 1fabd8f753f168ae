//! What the scripts' Lua (5.1, inside Redis 7) does to numbers and strings, so the
//! re-expressed scripts write the same text: `tonumber`, a number passed to `redis.call`
//! (`%.17g`), a number made text by `tostring` or `..` (`%.14g`), `string.format('%d')`,
//! and `cjson.encode` of a string (which escapes `/` and DEL, unlike serde_json).

use super::super::StoreError;

/// An error as Redis would answer it (a command error or a script's runtime error).
pub(super) fn error(detail: impl Into<String>) -> StoreError {
    let kind = redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError);
    StoreError::Redis(redis::RedisError::from((kind, "memory store", detail.into())))
}

/// A Lua runtime error of a script (comparing or concatenating `nil`, …).
pub(super) fn script_error(what: &str) -> StoreError {
    error(format!("ERR user_script: {what}"))
}

/// Lua 5.1's `tonumber` of a string: `strtod` (or a hexadecimal integer) between optional
/// spaces, nothing else.
pub(super) fn tonumber(s: &str) -> Option<f64> {
    let t = s.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r'));
    let (negative, unsigned) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if let Some(hex) = unsigned.strip_prefix("0x").or_else(|| unsigned.strip_prefix("0X")) {
        let v = u64::from_str_radix(hex, 16).ok()? as f64;
        return Some(if negative { -v } else { v });
    }
    t.parse::<f64>().ok()
}

/// C's `%.<precision>g`.
pub(super) fn fmt_g(x: f64, precision: usize) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.to_owned();
    }
    if x.is_infinite() {
        return if x < 0.0 { "-inf" } else { "inf" }.to_owned();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let p = precision.max(1);
    let sci = format!("{:.*e}", p - 1, x);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", strip_zeros(mantissa), exp.unsigned_abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        strip_zeros(&format!("{x:.decimals$}")).to_owned()
    }
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// A Lua number as `redis.call` sends it (Redis 7.0: `%.17g`).
pub(super) fn arg(x: f64) -> String {
    fmt_g(x, 17)
}

/// A Lua number as `tostring` or `..` makes it text (`%.14g`).
pub(super) fn tostring(x: f64) -> String {
    fmt_g(x, 14)
}

/// `string.format('%d', x)` (Lua 5.1 truncates to an integer).
pub(super) fn format_d(x: f64) -> String {
    (x as i64).to_string()
}

/// `cjson.encode` of a string.
pub(super) fn cjson_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // The expected texts are what Redis 7.0 answered for the same Lua.
    #[test]
    fn numbers_become_text_as_in_redis_lua() {
        assert_eq!(arg(0.1), "0.10000000000000001");
        assert_eq!(arg(1e20), "1e+20");
        assert_eq!(arg(1_700_000_000.0), "1700000000");
        assert_eq!(arg(-5.0), "-5");
        assert_eq!(tostring(123_456_789_012_345.0), "1.2345678901234e+14");
        assert_eq!(tostring(1e15), "1e+15");
        assert_eq!(tostring(0.1), "0.1");
        assert_eq!(tostring(12_345_678_901_234_567.0), "1.2345678901235e+16");
        assert_eq!(tostring(0.00001), "1e-05");
        assert_eq!(tostring(0.0001), "0.0001");
        assert_eq!(format_d(5.0), "5");
    }

    #[test]
    fn tonumber_is_luas() {
        assert_eq!(tonumber(" 12 "), Some(12.0));
        assert_eq!(tonumber("0x10"), Some(16.0));
        assert_eq!(tonumber("1e3"), Some(1000.0));
        assert_eq!(tonumber("abc"), None);
        assert_eq!(tonumber(""), None);
        assert_eq!(tonumber("inf"), Some(f64::INFINITY));
    }

    #[test]
    fn cjson_escapes_slash_and_del() {
        assert_eq!(cjson_string("a/b\"c\\d\u{7f}\u{1}\né"), "\"a\\/b\\\"c\\\\d\\u007f\\u0001\\né\"");
        assert_eq!(
            cjson_string("\u{8}\t\n\u{b}\u{c}\r\u{1a}\u{1f}\u{0}"),
            "\"\\b\\t\\n\\u000b\\f\\r\\u001a\\u001f\\u0000\""
        );
    }
}
