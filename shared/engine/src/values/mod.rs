//! Object values and their canonical form (docs/sync-engine.md §2).
//!
//! Every object the server stores is a map attribute name → string value.
//! Adapters, the push API and devices hand us arbitrary JSON, so this module
//! is the single place where JSON turns into [`Attrs`]:
//!
//! * scalars become strings (numbers in decimal, `true`/`false`, null → `""`);
//! * non-scalar values are JSON-encoded (the DEVIATION of docs/sync-engine.md §2 —
//!   RC7 would have produced Ruby `inspect` text);
//! * the reserved attributes `id` and `attrib_type` are dropped;
//! * an object left without attributes does not exist.
//!
//! [`Attrs`] is a `BTreeMap`, so its JSON encoding ([`encode_body`]) has sorted
//! keys and is canonical: two objects are equal iff their encodings are equal
//! byte for byte. The store keeps bodies in that form ([`Body`]), which lets a
//! Redis script compare objects without parsing them. [`bodies_from_json`] (in
//! `from_text.rs`) reads a whole object map from JSON text straight into bodies.

mod from_text;

use std::borrow::Cow;
use std::collections::BTreeMap;

use indexmap::IndexMap;
use serde_json::{Map, Value};

pub use from_text::{bodies_from_json, JsonObjects};

/// Attribute name → string value of one object, sorted by attribute name.
pub type Attrs = BTreeMap<String, String>;

/// Object id → attributes, in insertion order (CUD processing order and page
/// order are meaningful to callers; see docs/device-protocol.md §6.1).
pub type ObjectMap = IndexMap<String, Attrs>;

/// The canonical JSON text of an [`Attrs`] map (keys sorted, no whitespace).
pub type Body = String;

/// Object id → canonical body, in insertion order: a page's `insert` part. Bodies read
/// from the store go into a page as they are, so an object new to the device is never
/// decoded and encoded again (docs/sync-engine.md §5.1).
pub type BodyMap = IndexMap<String, Body>;

/// Attribute names that are never stored or sent (docs/sync-engine.md §2).
pub const RESERVED_ATTRIBUTES: [&str; 2] = ["id", "attrib_type"];

/// Errors of this module.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ValuesError {
    /// An object map was expected (`{"<id>": {...}}`) but something else came.
    #[error("expected a JSON object map of objects, got {0}")]
    NotAnObjectMap(&'static str),
    /// A stored body is not the JSON object of strings it must be.
    #[error("stored object body is not a JSON object of strings: {0}")]
    BadBody(String),
}

/// Turns one attribute value into its stored string form.
pub fn value_to_string(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        // DEVIATION (docs/sync-engine.md §2): JSON instead of Ruby inspect text.
        Value::Array(_) | Value::Object(_) => value.to_string(),
    }
}

/// Whether `name` is one of the reserved attribute names.
pub fn is_reserved(name: &str) -> bool {
    RESERVED_ATTRIBUTES.contains(&name)
}

/// Normalises one object's JSON attributes. Returns `None` when nothing is
/// left, because an object without attributes is never stored or sent.
pub fn normalize_attrs(object: &Map<String, Value>) -> Option<Attrs> {
    let attrs: Attrs = object
        .iter()
        .filter(|(name, _)| !is_reserved(name))
        .map(|(name, value)| (name.clone(), value_to_string(value)))
        .collect();
    (!attrs.is_empty()).then_some(attrs)
}

/// Normalises a JSON object map (`{"<id>": {<attrs>}}`). Entries whose value
/// is not a JSON object, or that have no attributes left, are skipped: they
/// would be empty objects, which do not exist (docs/sync-engine.md §2).
pub fn normalize_objects(value: &Value) -> Result<ObjectMap, ValuesError> {
    match value {
        Value::Null => Ok(ObjectMap::new()),
        Value::Object(map) => Ok(map
            .iter()
            .filter_map(|(id, obj)| obj.as_object().and_then(normalize_attrs).map(|attrs| (id.clone(), attrs)))
            .collect()),
        other => Err(not_an_object_map(other)),
    }
}

/// The refusal of a value that should have been an object map (`null` counts as empty).
fn not_an_object_map(value: &Value) -> ValuesError {
    ValuesError::NotAnObjectMap(match value {
        Value::Array(_) => "an array",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Null | Value::Object(_) => "an object map",
    })
}

/// The canonical body of one object's JSON attributes, written straight from the JSON
/// (what `encode_body(&normalize_attrs(object)?)` gives, without building the [`Attrs`]
/// map: an adapter's first query of a large source turns every object into its body, and
/// the map per object was most of that work). `None` when no attribute is left.
pub fn encode_json_object(object: &Map<String, Value>) -> Option<Body> {
    let mut attrs: Vec<(&str, Cow<'_, str>)> = object
        .iter()
        .filter(|(name, _)| !is_reserved(name))
        .map(|(name, value)| {
            let value = match value {
                Value::String(s) => Cow::Borrowed(s.as_str()),
                other => Cow::Owned(value_to_string(other)),
            };
            (name.as_str(), value)
        })
        .collect();
    // `Map` keys are unique, and `str` orders by bytes as `String` does in `Attrs`.
    attrs.sort_unstable_by(|a, b| a.0.cmp(b.0));
    write_body(attrs.iter().map(|(k, v)| (*k, &**v)))
}

/// The canonical body of attributes already in their string form, sorted by name and
/// unique — the one writer of bodies from parsed JSON ([`encode_json_object`],
/// [`bodies_from_json`]); it writes what [`encode_body`] writes for the same attributes.
/// `None` when there are none.
fn write_body<'a>(attrs: impl ExactSizeIterator<Item = (&'a str, &'a str)> + Clone) -> Option<Body> {
    if attrs.len() == 0 {
        return None;
    }
    let mut out = Vec::with_capacity(2 + attrs.clone().map(|(k, v)| k.len() + v.len() + 6).sum::<usize>());
    out.push(b'{');
    for (i, (name, value)) in attrs.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(&mut out, name);
        out.push(b':');
        write_json_str(&mut out, value);
    }
    out.push(b'}');
    // Only JSON text of `str`s was written.
    Some(String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

fn write_json_str(out: &mut Vec<u8>, s: &str) {
    // Writing a `str` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// The canonical bodies of a JSON object map, as [`normalize_objects`] then
/// [`encode_objects`] would give them (same entries skipped, same order), built directly
/// ([`encode_json_object`]).
pub fn normalize_bodies(value: &Value) -> Result<BodyMap, ValuesError> {
    match value {
        Value::Object(map) => Ok(map
            .iter()
            .filter_map(|(id, obj)| obj.as_object().and_then(encode_json_object).map(|body| (id.clone(), body)))
            .collect()),
        Value::Null => Ok(BodyMap::new()),
        other => Err(not_an_object_map(other)),
    }
}

/// Canonical encoding of an object: sorted keys, so equality is string
/// equality.
pub fn encode_body(attrs: &Attrs) -> Body {
    // A BTreeMap<String, String> always serialises; the fallback is unreachable.
    serde_json::to_string(attrs).unwrap_or_else(|_| String::from("{}"))
}

/// Parses a stored canonical body back into attributes.
pub fn decode_body(body: &str) -> Result<Attrs, ValuesError> {
    serde_json::from_str(body).map_err(|e| ValuesError::BadBody(e.to_string()))
}

/// The canonical bodies of an object map, in its order.
pub fn encode_objects(objects: &ObjectMap) -> BodyMap {
    objects.iter().map(|(id, attrs)| (id.clone(), encode_body(attrs))).collect()
}

/// Decodes every body of a [`BodyMap`], in its order.
pub fn decode_bodies(bodies: &BodyMap) -> Result<ObjectMap, ValuesError> {
    bodies.iter().map(|(id, body)| Ok((id.clone(), decode_body(body)?))).collect()
}

/// Renders a [`BodyMap`] as a JSON value, keeping its order. A body that is not JSON
/// (which the store never writes) appears as its text rather than failing the render.
pub fn bodies_to_json(bodies: &BodyMap) -> Value {
    Value::Object(
        bodies
            .iter()
            .map(|(id, body)| (id.clone(), serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.clone()))))
            .collect(),
    )
}

/// Writes a [`BodyMap`] as one JSON object whose members are the bodies as they are
/// (canonical JSON object text, not escaped into strings): the page on the wire and the
/// stored page both carry them so.
pub fn write_bodies_json<W: std::io::Write>(out: &mut W, bodies: &BodyMap) -> std::io::Result<()> {
    out.write_all(b"{")?;
    for (i, (id, body)) in bodies.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, id)?;
        out.write_all(b":")?;
        out.write_all(body.as_bytes())?;
    }
    out.write_all(b"}")
}

/// Serde form of a stored [`BodyMap`]: serialising writes each body as a JSON string.
/// Reading also takes each body as a JSON object of strings — what the stored page holds
/// ([`write_bodies_json`]) — and turns it into its canonical body.
pub mod body_map {
    use std::fmt;

    use serde::de::{self, Deserializer, MapAccess, Visitor};

    use super::{encode_body, Attrs, Body, BodyMap};

    struct StoredBody(Body);

    impl<'de> serde::Deserialize<'de> for StoredBody {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = StoredBody;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("an object body as a string or as an object of strings")
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<StoredBody, E> {
                    Ok(StoredBody(v.to_owned()))
                }
                fn visit_string<E: de::Error>(self, v: String) -> Result<StoredBody, E> {
                    Ok(StoredBody(v))
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StoredBody, A::Error> {
                    let mut attrs = Attrs::new();
                    while let Some((k, v)) = map.next_entry::<String, String>()? {
                        attrs.insert(k, v);
                    }
                    Ok(StoredBody(encode_body(&attrs)))
                }
            }
            d.deserialize_any(V)
        }
    }

    /// Reads either form (see the module docs).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BodyMap, D::Error> {
        let entries: indexmap::IndexMap<String, StoredBody> = serde::Deserialize::deserialize(d)?;
        Ok(entries.into_iter().map(|(id, b)| (id, b.0)).collect())
    }
}

/// Renders attributes as a JSON object value (for wire output).
pub fn attrs_to_json(attrs: &Attrs) -> Value {
    Value::Object(attrs.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}

/// Renders an object map as a JSON value, keeping the map's order.
pub fn objects_to_json(objects: &ObjectMap) -> Value {
    Value::Object(objects.iter().map(|(id, attrs)| (id.clone(), attrs_to_json(attrs))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_become_strings() {
        assert_eq!(value_to_string(&json!(null)), "");
        assert_eq!(value_to_string(&json!(true)), "true");
        assert_eq!(value_to_string(&json!(false)), "false");
        assert_eq!(value_to_string(&json!(42)), "42");
        assert_eq!(value_to_string(&json!(-1.5)), "-1.5");
        assert_eq!(value_to_string(&json!("x")), "x");
        assert_eq!(value_to_string(&json!([1, "a"])), "[1,\"a\"]");
        assert_eq!(value_to_string(&json!({"a": 1})), "{\"a\":1}");
    }

    #[test]
    fn reserved_attributes_and_empty_objects_are_dropped() {
        let objects = normalize_objects(&json!({
            "1": {"id": "1", "attrib_type": "blob", "name": "iPhone", "price": 199.99},
            "2": {"id": "2"},
            "3": {},
            "4": "not an object"
        }))
        .expect("object map");
        assert_eq!(objects.len(), 1);
        assert_eq!(objects["1"].len(), 2);
        assert_eq!(objects["1"]["price"], "199.99");
    }

    #[test]
    fn encoding_is_canonical() {
        let a = normalize_attrs(json!({"b": "2", "a": 1}).as_object().expect("obj"));
        let b = normalize_attrs(json!({"a": "1", "b": 2}).as_object().expect("obj"));
        let (a, b) = (a.expect("attrs"), b.expect("attrs"));
        assert_eq!(encode_body(&a), encode_body(&b));
        assert_eq!(encode_body(&a), r#"{"a":"1","b":"2"}"#);
        assert_eq!(decode_body(&encode_body(&a)), Ok(a));
        assert!(decode_body("[1]").is_err());
    }

    #[test]
    fn bodies_written_from_json_equal_the_encoded_attrs() {
        let doc = json!({
            "1": {"id": "1", "attrib_type": "blob", "name": "iPhone", "price": 199.99},
            "2": {"id": "2"},
            "3": {},
            "4": "not an object",
            "5": {"z": null, "b": true, "a": [1, {"x": "y"}], "é": "quote \" \\ \u{1} ü", "B": -3, "": "empty name"},
            "6": {"only": {"nested": {"deep": [null, false]}}},
            "7": {"n": 1e300, "m": 12345678901234567890u64, "k": -0.0}
        });
        let expected = encode_objects(&normalize_objects(&doc).expect("object map"));
        let got = normalize_bodies(&doc).expect("object map");
        assert_eq!(got, expected);
        assert_eq!(got.keys().collect::<Vec<_>>(), ["1", "5", "6", "7"]);
        assert_eq!(normalize_bodies(&json!(null)), Ok(BodyMap::new()));
        assert_eq!(normalize_bodies(&json!([1])), Err(ValuesError::NotAnObjectMap("an array")));
        assert_eq!(normalize_bodies(&json!("x")), Err(ValuesError::NotAnObjectMap("a string")));
    }

    #[test]
    fn non_object_maps_are_rejected() {
        assert!(normalize_objects(&json!([1])).is_err());
        assert_eq!(normalize_objects(&json!(null)), Ok(ObjectMap::new()));
    }

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Stored {
        #[serde(deserialize_with = "body_map::deserialize")]
        insert: BodyMap,
    }

    #[test]
    fn stored_bodies_read_back_in_both_forms() {
        let attrs = Attrs::from([("name".into(), "quote \" é".into()), ("a".into(), "1".into())]);
        let insert = BodyMap::from([("7".into(), encode_body(&attrs))]);
        let text = serde_json::to_string(&Stored { insert: insert.clone() }).expect("encodes");
        assert_eq!(serde_json::from_str::<Stored>(&text).expect("current form").insert, insert);
        // The form written before bodies were kept as text: an object of strings per id.
        let old = r#"{"insert":{"7":{"name":"quote \" é","a":"1"}}}"#;
        assert_eq!(serde_json::from_str::<Stored>(old).expect("older form").insert, insert);
        assert!(serde_json::from_str::<Stored>(r#"{"insert":{"7":[1]}}"#).is_err());
        assert_eq!(decode_bodies(&insert), Ok(ObjectMap::from([("7".into(), attrs)])));
    }
}
