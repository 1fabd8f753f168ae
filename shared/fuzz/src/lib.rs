//! What several fuzz targets share. The targets themselves are the `fuzz_targets/*.rs`
//! binaries (docs/fuzzing.md).

/// Whether the value holds a number that is not an integer, found without recursion.
///
/// serde_json (without its `float_roundtrip` feature) may read a printed float back one
/// ulp off, so the targets compare values holding one only for decoding again.
pub fn has_float(value: &serde_json::Value) -> bool {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Number(n) if n.is_f64() => return true,
            serde_json::Value::Array(items) => stack.extend(items),
            serde_json::Value::Object(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    false
}
