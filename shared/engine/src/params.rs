//! Request parameters (docs/device-protocol.md §2.1) and the helpers that read them.
//!
//! [`build_params`] merges, later sources winning: the query string, the body
//! (JSON object / form / multipart text fields), the route's path captures
//! and finally the members of the JSON `cud` parameter. Query and form keys
//! use Rack's nested syntax (`a[b]=1`, `a[]=x`, `sources[][name]=..`), which
//! Rhodes depends on for search. rhoconnect.js's junk keys are handled here
//! too: a value-less query key that is a JSON object is merged, other junk is
//! dropped. Uploaded files are returned apart from the map.
//!
//! Any failure is a [`ParamsError`]; the server answers them with 500
//! `Server error while processing client data` before authentication, except
//! [`ParamsError::NestingTooDeep`], which is meant to be answered with 400 and
//! its own message.
//!
//! Nesting is bounded: a parameter name may nest at most [`MAX_PARAM_DEPTH`]
//! levels (Rack's limit). The name parser recurses once per level, so without
//! the bound a name like `a[b][b]…` a few thousand levels deep, which fits in
//! a small query string or form body, would overflow the stack and kill the
//! process instead of failing the request. A JSON text this module parses
//! (the JSON body, `cud`, a JSON query key) is held to the same depth, measured
//! by a plain scan before the recursive JSON parser runs; that parser's own
//! stop, at 128 levels, would otherwise answer as malformed JSON.

use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

/// The parameter map, in first-seen key order.
pub type Params = Map<String, Value>;

/// Body text of the 500 answer for a [`ParamsError`] in body parsing (all but
/// [`ParamsError::NestingTooDeep`]).
pub const CLIENT_DATA_ERROR_BODY: &str = "Server error while processing client data";

/// Largest accepted `p_size` (pages are byte-capped anyway; this only rejects
/// nonsense).
pub const MAX_P_SIZE: u64 = 100_000;
/// `p_size` when absent (docs/device-protocol.md §5.1).
pub const DEFAULT_P_SIZE: usize = 500;
/// Deepest nesting accepted, in levels: of a parameter name (`a` is one level,
/// `a[b]` two; Rack's `param_depth_limit`) and of a JSON text (`{}` is one
/// level, `{"a":[]}` two; the default `max_nesting` of Ruby's JSON parser).
pub const MAX_PARAM_DEPTH: usize = 100;

/// Errors of this module.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParamsError {
    /// The JSON body does not parse.
    #[error("malformed JSON body: {0}")]
    MalformedJsonBody(String),
    /// The JSON body parses but is not an object.
    #[error("JSON body is not an object")]
    JsonBodyNotObject,
    /// `cud` is not a JSON object (or not JSON).
    #[error("malformed cud parameter: {0}")]
    MalformedCud(String),
    /// `p_size` is negative, not a number or too large.
    #[error("invalid p_size {0:?}")]
    InvalidPageSize(String),
    /// A parameter name or a JSON text nests deeper than [`MAX_PARAM_DEPTH`].
    #[error("parameter nesting too deep (more than {MAX_PARAM_DEPTH} levels)")]
    NestingTooDeep,
}

/// One multipart part, already split by the HTTP layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Field name.
    pub name: String,
    /// File name, for file parts.
    pub filename: Option<String>,
    /// Part content type.
    pub content_type: Option<String>,
    /// Raw bytes.
    pub bytes: Vec<u8>,
}

/// A request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body<'a> {
    /// No body / unknown content type (ignored).
    None,
    /// Raw body with its `Content-Type`.
    Raw { content_type: &'a str, bytes: &'a [u8] },
    /// A multipart body, split into parts.
    Multipart(Vec<Part>),
}

/// The merged parameters plus uploaded files (blobs, docs/device-protocol.md §6.4).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequestParams {
    /// Parameters.
    pub params: Params,
    /// File parts (name, filename, content type, bytes).
    pub uploads: Vec<Part>,
}

fn decode_component(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// Splits `a=1&b&c=` into decoded pairs; a key without `=` has no value.
fn split_pairs(text: &str) -> Vec<(String, Option<String>)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode_component(k), Some(decode_component(v))),
            None => (decode_component(pair), None),
        })
        .collect()
}

fn hash_has_key(hash: &Map<String, Value>, key: &str) -> bool {
    if key.contains("[]") {
        return false;
    }
    let mut current = hash;
    let parts: Vec<&str> = key.split(['[', ']']).filter(|p| !p.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        match current.get(*part) {
            Some(Value::Object(inner)) if i + 1 < parts.len() => current = inner,
            Some(_) if i + 1 == parts.len() => return true,
            _ => return false,
        }
    }
    true
}

/// Rack's `normalize_params`: stores `value` under the nested `name`.
///
/// A name nesting deeper than [`MAX_PARAM_DEPTH`] levels is refused with
/// [`ParamsError::NestingTooDeep`]; `params` may then hold the outer levels
/// (empty), as with Rack — callers drop the whole map.
pub fn insert_nested(params: &mut Map<String, Value>, name: &str, value: Value) -> Result<(), ParamsError> {
    insert_nested_at(params, name, value, 1)
}

/// [`insert_nested`] at nesting level `depth` (1 for the outermost key).
fn insert_nested_at(
    params: &mut Map<String, Value>,
    name: &str,
    value: Value,
    depth: usize,
) -> Result<(), ParamsError> {
    if depth > MAX_PARAM_DEPTH {
        return Err(ParamsError::NestingTooDeep);
    }
    let trimmed = name.trim_start_matches(['[', ']']);
    let key_end = trimmed.find(['[', ']']).unwrap_or(trimmed.len());
    let key = &trimmed[..key_end];
    if key.is_empty() {
        return Ok(());
    }
    let mut after = &trimmed[key_end..];
    // Rack's pattern also swallows closing brackets right after the key.
    while let Some(rest) = after.strip_prefix(']') {
        after = rest;
    }
    if after.is_empty() {
        params.insert(key.to_owned(), value);
    } else if after == "[" {
        params.insert(name.to_owned(), value);
    } else if after == "[]" {
        let entry = params.entry(key.to_owned()).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = entry {
            items.push(value);
        }
    } else if let Some(child) = after.strip_prefix("[]") {
        let child_key = child.strip_prefix('[').and_then(|c| c.strip_suffix(']')).filter(|c| !c.contains(['[', ']']));
        let child_key = child_key.unwrap_or(child);
        let entry = params.entry(key.to_owned()).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = entry {
            match items.last_mut() {
                Some(Value::Object(last)) if !hash_has_key(last, child_key) => {
                    insert_nested_at(last, child_key, value, depth + 1)?;
                }
                _ => {
                    let mut fresh = Map::new();
                    insert_nested_at(&mut fresh, child_key, value, depth + 1)?;
                    items.push(Value::Object(fresh));
                }
            }
        }
    } else {
        let entry = params.entry(key.to_owned()).or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        if let Value::Object(inner) = entry {
            insert_nested_at(inner, after, value, depth + 1)?;
        }
    }
    Ok(())
}

/// True when the JSON text nests arrays and objects deeper than
/// [`MAX_PARAM_DEPTH`]. A plain scan that skips strings, so it costs no stack
/// and runs before the (recursive) parser sees the text. On malformed JSON the
/// count may be off, but the parser rejects such text anyway.
fn json_too_deep(text: &[u8]) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in text {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_PARAM_DEPTH {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// `serde_json::from_slice` after the depth check.
fn parse_json(text: &[u8]) -> Result<serde_json::Result<Value>, ParamsError> {
    if json_too_deep(text) {
        return Err(ParamsError::NestingTooDeep);
    }
    Ok(serde_json::from_slice::<Value>(text))
}

/// Parses a query string or form body with Rack nesting. Value-less keys
/// that are JSON objects are merged (rhoconnect.js,
/// docs/device-protocol.md §2.1); other value-less keys are ignored. Fails
/// only on nesting deeper than [`MAX_PARAM_DEPTH`].
pub fn parse_nested_query(text: &str) -> Result<Params, ParamsError> {
    let mut params = Params::new();
    for (key, value) in split_pairs(text) {
        match value {
            Some(v) => insert_nested(&mut params, &key, Value::String(v))?,
            // Only an object is merged, so only text that can be one is parsed.
            None if key.trim_start().starts_with('{') => {
                if let Ok(Value::Object(members)) = parse_json(key.as_bytes())? {
                    params.extend(members);
                }
            }
            None => {}
        }
    }
    Ok(params)
}

/// Parses a JSON body: must be an object; duplicate keys → last wins;
/// empty body → no parameters.
pub fn parse_json_body(bytes: &[u8]) -> Result<Params, ParamsError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Params::new());
    }
    match parse_json(bytes)? {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ParamsError::JsonBodyNotObject),
        Err(e) => Err(ParamsError::MalformedJsonBody(e.to_string())),
    }
}

fn media_type(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// Builds the parameters of a request (docs/device-protocol.md §2.1, in order:
/// query, body, path captures, `cud`).
pub fn build_params(
    query: Option<&str>,
    body: Body<'_>,
    path_captures: &[(&str, &str)],
) -> Result<RequestParams, ParamsError> {
    let mut out = RequestParams { params: parse_nested_query(query.unwrap_or(""))?, uploads: Vec::new() };
    match body {
        Body::None => {}
        Body::Raw { content_type, bytes } => {
            let media = media_type(content_type);
            if media.starts_with("application/json") {
                out.params.extend(parse_json_body(bytes)?);
            } else if media == "application/x-www-form-urlencoded" {
                let text = String::from_utf8_lossy(bytes);
                for (key, value) in split_pairs(&text) {
                    insert_nested(&mut out.params, &key, Value::String(value.unwrap_or_default()))?;
                }
            }
        }
        Body::Multipart(parts) => {
            for part in parts {
                if part.filename.is_some() {
                    out.uploads.push(part);
                } else {
                    let text = String::from_utf8_lossy(&part.bytes).into_owned();
                    insert_nested(&mut out.params, &part.name, Value::String(text))?;
                }
            }
        }
    }
    for (name, value) in path_captures {
        out.params.insert((*name).to_owned(), Value::String((*value).to_owned()));
    }
    if let Some(cud) = out.params.get("cud").cloned() {
        let members = match cud {
            Value::String(text) => match parse_json(text.as_bytes())? {
                Ok(Value::Object(m)) => m,
                Ok(_) => return Err(ParamsError::MalformedCud("not an object".into())),
                Err(e) => return Err(ParamsError::MalformedCud(e.to_string())),
            },
            Value::Object(m) => m,
            Value::Null => Map::new(),
            _ => return Err(ParamsError::MalformedCud("not an object".into())),
        };
        out.params.extend(members);
    }
    Ok(out)
}

fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `p_size`: string or number; absent/empty → 500; `0` allowed.
pub fn page_size(params: &Params) -> Result<usize, ParamsError> {
    let raw = match params.get("p_size") {
        None | Some(Value::Null) => return Ok(DEFAULT_P_SIZE),
        Some(v) => as_text(v).unwrap_or_else(|| v.to_string()),
    };
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(DEFAULT_P_SIZE);
    }
    match trimmed.parse::<u64>() {
        Ok(n) if n <= MAX_P_SIZE => usize::try_from(n).map_err(|_| ParamsError::InvalidPageSize(raw.clone())),
        _ => Err(ParamsError::InvalidPageSize(raw)),
    }
}

/// The `token` parameter; `""` is a present token (it means "resend").
pub fn token(params: &Params) -> Option<String> {
    params.get("token").and_then(as_text)
}

/// The client id: the `X-RhoConnect-CLIENT-ID` header first, then the
/// `client_id` parameter (which `cud` may have supplied) (docs/device-protocol.md §2.2).
pub fn client_id(header: Option<&str>, params: &Params) -> Option<String> {
    header
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
        .or_else(|| params.get("client_id").and_then(as_text).filter(|c| !c.is_empty()))
}

/// The legacy `source_name` parameter (docs/device-protocol.md §2.3).
pub fn source_name(params: &Params) -> Option<String> {
    params.get("source_name").and_then(as_text).filter(|s| !s.is_empty())
}

/// Lenient boolean (docs/rest-api.md §1.2 "Booleans"): `true`, `"true"`, `"1"`,
/// `1` are true; anything else false.
pub fn lenient_bool(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() == Some(1) || n.as_f64() == Some(1.0),
        Some(Value::String(s)) => matches!(s.trim(), "true" | "1"),
        _ => false,
    }
}

/// Lenient integer (docs/rest-api.md §1.2 "Integers"): like Ruby `to_i` — the
/// leading integer part; non-numeric → 0.
pub fn lenient_int(value: Option<&Value>) -> i64 {
    match value {
        Some(Value::Number(n)) => n.as_i64().unwrap_or_else(|| n.as_f64().map_or(0, |f| f as i64)),
        Some(Value::String(s)) => {
            let s = s.trim_start();
            let (sign, digits) = match s.strip_prefix('-') {
                Some(rest) => (-1, rest),
                None => (1, s.strip_prefix('+').unwrap_or(s)),
            };
            let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
            digits[..end].parse::<i64>().map_or(0, |n| sign * n)
        }
        Some(Value::Bool(true)) => 0,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rack_nesting() {
        let p = parse_nested_query("search[name]=iPhone&query[since]=2011&a[]=x&a[]=y").expect("params");
        assert_eq!(
            Value::Object(p),
            json!({"search": {"name": "iPhone"}, "query": {"since": "2011"}, "a": ["x", "y"]})
        );
        let p = parse_nested_query("sources[][name]=Product&sources[][token]=4734&sources[][name]=Customer")
            .expect("params");
        assert_eq!(Value::Object(p), json!({"sources": [{"name": "Product", "token": "4734"}, {"name": "Customer"}]}));
        let p = parse_nested_query("a[b][c]=1&a[b][d]=2&x=%20y+z").expect("params");
        assert_eq!(Value::Object(p), json!({"a": {"b": {"c": "1", "d": "2"}}, "x": " y z"}));
    }

    #[test]
    fn rhoconnect_js_junk_keys() {
        let q = "%7B%22client_id%22:%224f1c%22%7D&_=123&=&junk";
        let p = parse_nested_query(q).expect("params");
        assert_eq!(p.get("client_id"), Some(&json!("4f1c")));
        assert_eq!(p.get("_"), Some(&json!("123")));
        assert!(!p.contains_key("junk"));
        assert!(!p.contains_key(""));
        let p = parse_nested_query(r#"{"client_id":"abc"}"#).expect("params");
        assert_eq!(p.get("client_id"), Some(&json!("abc")));
    }

    #[test]
    fn json_body_duplicates_and_errors() {
        let body = br#"{"blob_fields":["a"],"x":1,"blob_fields":["b"]}"#;
        let r =
            build_params(Some("x=0"), Body::Raw { content_type: "application/json; charset=UTF-8", bytes: body }, &[])
                .expect("params");
        assert_eq!(r.params["blob_fields"], json!(["b"]));
        assert_eq!(r.params["x"], json!(1));
        let bad = |b: &'static [u8]| build_params(None, Body::Raw { content_type: "application/json", bytes: b }, &[]);
        assert!(matches!(bad(b"{bad"), Err(ParamsError::MalformedJsonBody(_))));
        assert_eq!(bad(b"[1]"), Err(ParamsError::JsonBodyNotObject));
        assert!(bad(b"").is_ok());
    }

    /// Found by the `params_query` fuzz target: `cud` members are merged after the path
    /// captures, so a nested `cud[source_name][…]` replaces the route's source name with an
    /// object — and the helper then reads no source name rather than a wrong one.
    #[test]
    fn a_cud_source_name_of_any_type_wins_over_the_path_and_reads_as_none_unless_text() {
        let r = build_params(Some("cud[source_name][x]=1"), Body::None, &[("source_name", "Product")]).expect("params");
        assert_eq!(r.params["source_name"], json!({"x": "1"}));
        assert_eq!(source_name(&r.params), None);
        let r =
            build_params(Some("cud[source_name]=Other"), Body::None, &[("source_name", "Product")]).expect("params");
        assert_eq!(source_name(&r.params).as_deref(), Some("Other"));
        let r = build_params(Some("cud[client_id]=c"), Body::None, &[("source_name", "Product")]).expect("params");
        assert_eq!(source_name(&r.params).as_deref(), Some("Product"));
    }

    #[test]
    fn multipart_cud_and_path_captures() {
        let parts = vec![
            Part {
                name: "cud".into(),
                filename: None,
                content_type: None,
                bytes: br#"{"source_name":"Blob","client_id":"c1","create":{"t":{"img":"/x"}},"blob_fields":["img"]}"#
                    .to_vec(),
            },
            Part {
                name: "img-t".into(),
                filename: Some("x.png".into()),
                content_type: Some("application/octet-stream".into()),
                bytes: vec![1, 2],
            },
        ];
        let r = build_params(Some("source_name=Other"), Body::Multipart(parts), &[("id", "7")]).expect("params");
        assert_eq!(r.params["source_name"], json!("Blob"));
        assert_eq!(r.params["id"], json!("7"));
        assert_eq!(r.uploads.len(), 1);
        assert_eq!(client_id(None, &r.params).as_deref(), Some("c1"));
        assert_eq!(client_id(Some("hdr"), &r.params).as_deref(), Some("hdr"));
        let bad = build_params(Some("cud=%7Bx"), Body::None, &[]);
        assert!(matches!(bad, Err(ParamsError::MalformedCud(_))));
    }

    #[test]
    fn form_body() {
        let r = build_params(
            None,
            Body::Raw { content_type: "application/x-www-form-urlencoded", bytes: b"client_id=abc&device_pin=1%2B2" },
            &[],
        )
        .expect("params");
        assert_eq!(r.params["device_pin"], json!("1+2"));
    }

    #[test]
    fn page_size_rules() {
        let p = |v: Value| {
            let mut m = Params::new();
            m.insert("p_size".into(), v);
            page_size(&m)
        };
        assert_eq!(page_size(&Params::new()), Ok(500));
        assert_eq!(p(json!("2000")), Ok(2000));
        assert_eq!(p(json!(0)), Ok(0));
        assert!(p(json!("-1")).is_err());
        assert!(p(json!("abc")).is_err());
        assert!(p(json!(1_000_000_000)).is_err());
        assert!(p(json!(1.5)).is_err());
    }

    #[test]
    fn lenient_values() {
        assert!(lenient_bool(Some(&json!("true"))));
        assert!(lenient_bool(Some(&json!(1))));
        assert!(!lenient_bool(Some(&json!("false"))));
        assert!(!lenient_bool(None));
        assert_eq!(lenient_int(Some(&json!("12abc"))), 12);
        assert_eq!(lenient_int(Some(&json!("x"))), 0);
        assert_eq!(lenient_int(Some(&json!(-3))), -3);
        assert_eq!(lenient_int(Some(&json!(" -7"))), -7);
    }

    #[test]
    fn token_presence() {
        let mut m = Params::new();
        assert_eq!(token(&m), None);
        m.insert("token".into(), json!(""));
        assert_eq!(token(&m).as_deref(), Some(""));
        m.insert("token".into(), json!(473402519234881u64));
        assert_eq!(token(&m).as_deref(), Some("473402519234881"));
    }

    /// Runs `f` on a thread with a small stack, so that a parser recursing once
    /// per level without a bound overflows here instead of passing on a large
    /// main-thread stack. 512 KB holds serde_json's recursion over 100 levels in
    /// an unoptimised build (about 300 KB), but not the name parser's over 5,000
    /// levels once its bound is removed (tried: the process aborts).
    fn on_small_stack(f: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(f)
            .expect("spawn")
            .join()
            .expect("no panic on a small stack");
    }

    /// `a[b][b]…=1` nesting `levels` levels (`a` alone is one).
    fn deep_name(levels: usize) -> String {
        format!("a{}", "[b]".repeat(levels - 1))
    }

    /// `{"a":{"a":…1…}}` nesting `levels` objects.
    fn deep_json(levels: usize) -> String {
        format!("{}1{}", r#"{"a":"#.repeat(levels), "}".repeat(levels))
    }

    fn depth_of(mut value: &Value) -> usize {
        let mut depth = 0;
        while let Some(inner) = value.as_object().and_then(|m| m.values().next()) {
            depth += 1;
            value = inner;
        }
        depth
    }

    const TOO_DEEP: [usize; 3] = [MAX_PARAM_DEPTH + 1, 5_000, 100_000];

    #[test]
    fn nesting_error_message() {
        assert_eq!(ParamsError::NestingTooDeep.to_string(), "parameter nesting too deep (more than 100 levels)");
    }

    #[test]
    fn query_and_form_names_nest_at_most_100_levels() {
        on_small_stack(|| {
            let ok = format!("{}=1", deep_name(MAX_PARAM_DEPTH));
            let p = parse_nested_query(&ok).expect("100 levels parse");
            assert_eq!(depth_of(&Value::Object(p.clone())), MAX_PARAM_DEPTH);
            let r = build_params(Some(&ok), Body::None, &[]).expect("100 levels in a query");
            assert_eq!(Value::Object(r.params), Value::Object(p));
            let form = |text: &str| {
                build_params(
                    None,
                    Body::Raw { content_type: "application/x-www-form-urlencoded", bytes: text.as_bytes() },
                    &[],
                )
            };
            assert!(form(&ok).is_ok());
            for levels in TOO_DEEP {
                let bad = format!("x=1&{}=1", deep_name(levels));
                assert_eq!(parse_nested_query(&bad), Err(ParamsError::NestingTooDeep), "{levels}");
                assert_eq!(build_params(Some(&bad), Body::None, &[]), Err(ParamsError::NestingTooDeep), "{levels}");
                assert_eq!(form(&bad), Err(ParamsError::NestingTooDeep), "{levels}");
            }
            // The same name with its brackets percent-encoded, as a client would send it.
            let encoded = format!("{}=1", deep_name(5_000).replace('[', "%5B").replace(']', "%5D"));
            assert_eq!(parse_nested_query(&encoded), Err(ParamsError::NestingTooDeep));
        });
    }

    #[test]
    fn array_names_count_their_levels_too() {
        on_small_stack(|| {
            // `a[][b][][b]…`: each `[][b]` is one more level.
            let name = |levels: usize| format!("a{}", "[][b]".repeat(levels - 1));
            let p = parse_nested_query(&format!("{}=1", name(MAX_PARAM_DEPTH))).expect("100 levels parse");
            assert!(p["a"].is_array());
            for levels in TOO_DEEP {
                let bad = format!("{}=1", name(levels));
                assert_eq!(parse_nested_query(&bad), Err(ParamsError::NestingTooDeep), "{levels}");
            }
        });
    }

    #[test]
    fn multipart_field_names_nest_at_most_100_levels() {
        on_small_stack(|| {
            let part = |name: String| Part { name, filename: None, content_type: None, bytes: b"1".to_vec() };
            let ok = build_params(None, Body::Multipart(vec![part(deep_name(MAX_PARAM_DEPTH))]), &[])
                .expect("100 levels parse");
            assert_eq!(depth_of(&Value::Object(ok.params)), MAX_PARAM_DEPTH);
            for levels in TOO_DEEP {
                let bad = build_params(None, Body::Multipart(vec![part(deep_name(levels))]), &[]);
                assert_eq!(bad, Err(ParamsError::NestingTooDeep), "{levels}");
            }
        });
    }

    #[test]
    fn json_nests_at_most_100_levels() {
        on_small_stack(|| {
            let json = |text: &str| {
                build_params(None, Body::Raw { content_type: "application/json", bytes: text.as_bytes() }, &[])
            };
            let ok = json(&deep_json(MAX_PARAM_DEPTH)).expect("100 levels parse");
            assert_eq!(depth_of(&Value::Object(ok.params)), MAX_PARAM_DEPTH);
            // Arrays count as levels; brackets inside strings do not.
            let arrays = format!(r#"{{"a":{}1{},"s":"{}"}}"#, "[".repeat(99), "]".repeat(99), "[{".repeat(500));
            assert!(json(&arrays).is_ok());
            let arrays = format!(r#"{{"a":{}1{}}}"#, "[".repeat(100), "]".repeat(100));
            assert_eq!(json(&arrays), Err(ParamsError::NestingTooDeep));
            // An escaped quote does not end a string.
            let escaped = format!(r#"{{"s":"\"{}","a":1}}"#, "[".repeat(200));
            assert!(json(&escaped).is_ok());
            for levels in TOO_DEEP {
                let text = deep_json(levels);
                assert_eq!(json(&text), Err(ParamsError::NestingTooDeep), "{levels}");
                assert_eq!(parse_json_body(text.as_bytes()), Err(ParamsError::NestingTooDeep), "{levels}");
                // Unbalanced (cut before its closing braces) deep JSON is refused the same way.
                assert_eq!(json(&text[..text.len() - levels]), Err(ParamsError::NestingTooDeep), "{levels}");
            }
        });
    }

    #[test]
    fn cud_and_json_query_keys_nest_at_most_100_levels() {
        on_small_stack(|| {
            let enc = |t: &str| t.replace('{', "%7B").replace('}', "%7D").replace('"', "%22");
            // `cud`'s own object is the first level: 1 + 99 = 100.
            let ok = format!("cud={}", enc(&format!(r#"{{"x":{}}}"#, deep_json(MAX_PARAM_DEPTH - 1))));
            let r = build_params(Some(&ok), Body::None, &[]).expect("100 levels parse");
            assert_eq!(depth_of(&r.params["x"]), MAX_PARAM_DEPTH - 1);
            let key = enc(&deep_json(MAX_PARAM_DEPTH));
            assert_eq!(depth_of(&Value::Object(parse_nested_query(&key).expect("100 levels parse"))), MAX_PARAM_DEPTH);
            for levels in TOO_DEEP {
                let deep = enc(&deep_json(levels));
                let cud = build_params(Some(&format!("cud={deep}")), Body::None, &[]);
                assert_eq!(cud, Err(ParamsError::NestingTooDeep), "{levels}");
                let part = Part {
                    name: "cud".into(),
                    filename: None,
                    content_type: None,
                    bytes: deep_json(levels).into_bytes(),
                };
                let multipart = build_params(None, Body::Multipart(vec![part]), &[]);
                assert_eq!(multipart, Err(ParamsError::NestingTooDeep), "{levels}");
                assert_eq!(parse_nested_query(&deep), Err(ParamsError::NestingTooDeep), "{levels}");
            }
            // Junk keys that cannot be an object are still ignored, however many brackets.
            let junk = format!("x=1&{}", "[".repeat(5_000));
            assert_eq!(parse_nested_query(&junk).expect("ignored").len(), 1);
        });
    }
}
