//! An object map read from JSON text straight into canonical bodies.
//!
//! An adapter's first query of a large source hands us one JSON text of every object (a
//! plugin backend's reply, the bench backend's scratch document). Parsing it into a
//! `serde_json::Value` first builds a map per object and a `String` per attribute, and
//! [`normalize_bodies`](super::normalize_bodies) then throws them away again; for a
//! hundred thousand objects that tree was most of the refresh. [`bodies_from_json`] walks
//! the text once and writes each object's body as it goes, borrowing attribute names and
//! values from the text where they have no escapes.
//!
//! The result is by construction what `normalize_bodies(&serde_json::from_str(text)?)`
//! gives — the same entries skipped, the same order, the same values (a later duplicate
//! id or attribute wins, at the first one's place) and the same syntax errors, because
//! every value still goes through serde_json's own parser (nothing is skipped unparsed).
//! The unit tests and the `plugin_reply` fuzz target compare the two.

use std::borrow::Cow;
use std::fmt;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Number, Value};

use super::{is_reserved, write_body, BodyMap};

/// What a JSON text held at its top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonObjects {
    /// An object: its entries that are objects with attributes left, as canonical bodies.
    Objects(BodyMap),
    /// `null`.
    Null,
    /// An array (which callers refuse, or take as nothing when `empty`).
    Array { empty: bool },
    /// A string, number or boolean, named as [`ValuesError::NotAnObjectMap`](super::ValuesError) names it.
    Scalar(&'static str),
}

/// Reads a JSON text (see the module docs). Fails only where `serde_json::from_str::<Value>`
/// fails.
pub fn bodies_from_json(text: &str) -> Result<JsonObjects, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let top = de.deserialize_any(Top)?;
    de.end()?;
    Ok(top)
}

struct Top;

impl<'de> Visitor<'de> for Top {
    type Value = JsonObjects;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<JsonObjects, E> {
        Ok(JsonObjects::Null)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<JsonObjects, E> {
        Ok(JsonObjects::Scalar("a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<JsonObjects, E> {
        Ok(JsonObjects::Scalar("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<JsonObjects, E> {
        Ok(JsonObjects::Scalar("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<JsonObjects, E> {
        Ok(JsonObjects::Scalar("a number"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<JsonObjects, E> {
        Ok(JsonObjects::Scalar("a string"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonObjects, A::Error> {
        // Parsed in full, so that a malformed element fails as it would in a `Value`.
        let mut empty = true;
        while seq.next_element::<Value>()?.is_some() {
            empty = false;
        }
        Ok(JsonObjects::Array { empty })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonObjects, A::Error> {
        let mut bodies = BodyMap::with_capacity(map.size_hint().unwrap_or(0));
        let mut attrs = Vec::new();
        let mut skipped = false;
        while let Some(id) = map.next_key::<String>()? {
            // An entry that is no object, or has no attribute left, is dropped — but only
            // after the whole map is read: a later duplicate id replaces an earlier body,
            // and a map keeps the first one's place.
            let body = map.next_value_seed(ObjectSeed { attrs: &mut attrs })?.unwrap_or_default();
            skipped |= body.is_empty();
            bodies.insert(id, body);
        }
        if skipped {
            bodies.retain(|_, body| !body.is_empty());
        }
        Ok(JsonObjects::Objects(bodies))
    }
}

/// One entry of the top map: `Some(body)` for an object with attributes left.
struct ObjectSeed<'a, 'de> {
    /// Reused across objects: one allocation for the whole map.
    attrs: &'a mut Vec<(Cow<'de, str>, Cow<'de, str>)>,
}

impl<'a, 'de> DeserializeSeed<'de> for ObjectSeed<'a, 'de> {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'a, 'de> Visitor<'de> for ObjectSeed<'a, 'de> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object's attributes")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<String>, A::Error> {
        self.attrs.clear();
        // A key is a string: it comes to `AttrValue` as one, borrowed where it can be.
        while let Some(name) = map.next_key_seed(AttrValue)? {
            // Reserved names are parsed like any value (same syntax errors) and dropped.
            let value = map.next_value_seed(AttrValue)?;
            if !is_reserved(&name) {
                self.attrs.push((name, value));
            }
        }
        // Stable: among equal names the input order stays, so the last one is kept as a
        // JSON object read into a map would keep it.
        self.attrs.sort_by(|a, b| a.0.cmp(&b.0));
        self.attrs.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                std::mem::swap(later, earlier);
                true
            } else {
                false
            }
        });
        Ok(write_body(self.attrs.iter().map(|(k, v)| (&**k, &**v))))
    }

    // Anything else is no object: parsed in full, then dropped.
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<String>, A::Error> {
        Value::deserialize(SeqAccessDeserializer::new(seq)).map(|_| None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Option<String>, E> {
        Ok(None)
    }
}

/// One attribute value in its stored string form ([`value_to_string`](super::value_to_string)),
/// borrowed from the text when it is a string without escapes.
struct AttrValue;

impl<'de> DeserializeSeed<'de> for AttrValue {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AttrValue {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an attribute value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(""))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(if v { "true" } else { "false" }))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(Number::from(v).to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(Number::from(v).to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Cow<'de, str>, E> {
        // As a `Value` would hold it: a finite float as a number, anything else as null.
        Ok(Cow::Owned(Number::from_f64(v).map(|n| n.to_string()).unwrap_or_default()))
    }
    // DEVIATION (docs/sync-engine.md §2): nested values are kept as their JSON text.
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Cow<'de, str>, A::Error> {
        Value::deserialize(SeqAccessDeserializer::new(seq)).map(|v| Cow::Owned(v.to_string()))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Cow<'de, str>, A::Error> {
        Value::deserialize(MapAccessDeserializer::new(map)).map(|v| Cow::Owned(v.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::normalize_bodies;

    /// What the `Value` path gives for `text`.
    fn via_value(text: &str) -> Result<JsonObjects, String> {
        match serde_json::from_str::<Value>(text).map_err(|e| e.to_string())? {
            v @ Value::Object(_) => Ok(JsonObjects::Objects(normalize_bodies(&v).expect("an object"))),
            Value::Null => Ok(JsonObjects::Null),
            Value::Array(items) => Ok(JsonObjects::Array { empty: items.is_empty() }),
            Value::String(_) => Ok(JsonObjects::Scalar("a string")),
            Value::Number(_) => Ok(JsonObjects::Scalar("a number")),
            Value::Bool(_) => Ok(JsonObjects::Scalar("a boolean")),
        }
    }

    #[test]
    fn agrees_with_the_value_path() {
        let docs = [
            r#"{"1":{"id":"1","attrib_type":"blob","name":"iPhone","price":199.99},"2":{"id":"2"},"3":{},"4":"x"}"#,
            r#"{"5":{"z":null,"b":true,"a":[1,{"x":"y"}],"é":"quote \" \\ \u0001 ü","B":-3,"":"empty name"}}"#,
            r#"{"6":{"only":{"nested":{"deep":[null,false]},"nested":1}}}"#,
            r#"{"7":{"n":1e300,"m":12345678901234567890,"big":123456789012345678901234567890,"k":-0.0,"e":1E2}}"#,
            r#"{"8":{"a":"1","a":"2","b":"x","a":"3"},"9":{"q":"w"},"8":{"c":"d"}}"#,
            r#"{"10":{"a":"1"},"10":[1,2],"11":{"n\u0061me":"v\u00e9"}}"#,
            r#"{"12":{"id":{"deep":"ignored"},"x":"\ud83d\ude00"}}"#,
            " { } ",
            "null",
            "[]",
            " [ {\"a\":1} ] ",
            "\"s\"",
            "-1.5",
            "true",
            // Errors: the same text fails both ways.
            "",
            "{",
            r#"{"1":{"a":"1"}} trailing"#,
            r#"{"1":{"id":"\ud800"}}"#,
            r#"{"1":[1e400]}"#,
            r#"{"1":{"a":01}}"#,
            r#"[{"a":"\x"}]"#,
            r#"{"1":{"a":"1",}}"#,
        ];
        for doc in docs {
            let got = bodies_from_json(doc).map_err(|e| e.to_string());
            assert_eq!(got, via_value(doc), "{doc}");
        }
    }

    #[test]
    fn later_duplicates_win_at_the_first_place() {
        let got = bodies_from_json(r#"{"8":{"a":"1","a":"2","b":"x"},"9":{"q":"w"},"8":{"c":"d"},"9":5}"#);
        let JsonObjects::Objects(bodies) = got.expect("parses") else { panic!("an object map") };
        assert_eq!(bodies, BodyMap::from([("8".into(), r#"{"c":"d"}"#.into())]));
        let got = bodies_from_json(r#"{"8":{"a":"1","b":"x","a":"2"}}"#).expect("parses");
        assert_eq!(got, JsonObjects::Objects(BodyMap::from([("8".into(), r#"{"a":"2","b":"x"}"#.into())])));
    }

    #[test]
    fn deep_nesting_fails_as_the_value_path_does() {
        let deep = format!("{{\"1\":{{\"a\":{}{}}}}}", "[".repeat(200), "]".repeat(200));
        assert!(bodies_from_json(&deep).is_err());
        assert!(via_value(&deep).is_err());
    }
}
