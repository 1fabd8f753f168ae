//! The query-string parser (`rhosync_engine::params`): Rack nesting, rhoconnect.js's
//! value-less JSON keys, and the helpers that read the result. The path's `source_name`
//! survives unless `cud` brings its own (found by this target: `cud[source_name][…]=…`
//! replaces it with an object, as the merge order says; `params::source_name` then reads
//! no name).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhosync_engine::params::{self, Body, ParamsError, MAX_PARAM_DEPTH};
use serde_json::Value;

/// Nesting levels of a value, counted without recursion.
fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((v, d)) = stack.pop() {
        deepest = deepest.max(d);
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, d + 1))),
            Value::Object(map) => stack.extend(map.values().map(|i| (i, d + 1))),
            _ => {}
        }
    }
    deepest
}

fuzz_target!(|data: &[u8]| {
    let query = String::from_utf8_lossy(data);
    match params::parse_nested_query(&query) {
        Ok(parsed) => {
            // Each name level may add an array and an object; JSON keys are held to the limit.
            let d = depth(&Value::Object(parsed.clone()));
            assert!(d <= 2 * MAX_PARAM_DEPTH + 1, "nesting {d} got past the limit");
            // Deterministic.
            assert_eq!(params::parse_nested_query(&query).ok(), Some(parsed));
        }
        Err(e) => assert_eq!(e, ParamsError::NestingTooDeep),
    }
    match params::build_params(Some(&query), Body::None, &[("source_name", "Product")]) {
        Ok(out) => {
            assert!(out.uploads.is_empty());
            // The path capture, unless the `cud` parameter names another source: its members
            // are merged last (docs/device-protocol.md §2.1), whatever their type.
            let from_cud = params::parse_nested_query(&query).ok().and_then(|q| match q.get("cud") {
                Some(Value::Object(m)) => m.get("source_name").cloned(),
                Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
                    Ok(Value::Object(m)) => m.get("source_name").cloned(),
                    _ => None,
                },
                _ => None,
            });
            let expected = from_cud.unwrap_or_else(|| Value::String("Product".into()));
            assert_eq!(out.params.get("source_name"), Some(&expected));
            let p = &out.params;
            if let Ok(size) = params::page_size(p) {
                assert!(size as u64 <= params::MAX_P_SIZE);
            }
            let _ = params::token(p);
            let _ = params::client_id(None, p);
            let _ = params::source_name(p);
            for value in p.values() {
                let _ = params::lenient_bool(Some(value));
                let _ = params::lenient_int(Some(value));
            }
        }
        Err(ParamsError::NestingTooDeep | ParamsError::MalformedCud(_)) => {}
        Err(other) => panic!("query parsing failed with {other:?}"),
    }
});
