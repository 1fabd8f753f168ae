//! Exact wire rendering of query pages (docs/device-protocol.md §5.2–5.3) and
//! search responses (docs/device-protocol.md §7.2), with their headers.
//!
//! The six-element array and the command-object key order follow RC7
//! (`insert`, `delete`, `links`, `metadata`, `create-error`, `update-error`,
//! `delete-error`, `source-error`, `update-rollback`); empty members are
//! omitted. [`write_query_response`] writes straight into any `io::Write`,
//! so a handler can stream a large page without building a `Value` tree.

use std::io::{self, Write};

use serde_json::{json, Map, Value};

use crate::page::Page;
use crate::values::{bodies_to_json, objects_to_json, write_bodies_json, BodyMap, ObjectMap};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// Writing to the sink failed.
    #[error("writing the response failed: {0}")]
    Io(#[from] io::Error),
}

/// Header carrying the page token.
pub const PAGE_TOKEN_HEADER: &str = "X-Rhoconnect-PAGE-TOKEN";
/// Header carrying the page object count.
pub const PAGE_OBJECT_COUNT_HEADER: &str = "X-Rhoconnect-PAGE-OBJECT-COUNT";

/// The command object (element 6).
pub fn command_object(page: &Page) -> Value {
    let mut cmd = Map::new();
    if page.schema_changed {
        cmd.insert("schema-changed".into(), json!("true"));
        return Value::Object(cmd);
    }
    let mut put = |key: &str, value: Value, empty: bool| {
        if !empty {
            cmd.insert(key.into(), value);
        }
    };
    put("insert", bodies_to_json(&page.insert), page.insert.is_empty());
    put("delete", objects_to_json(&page.delete), page.delete.is_empty());
    let links: Map<String, Value> = page.links.iter().map(|(t, r)| (t.clone(), json!({ "l": r }))).collect();
    put("links", Value::Object(links), page.links.is_empty());
    let metadata = page.metadata.clone().unwrap_or_default();
    put("metadata", json!(metadata), metadata.is_empty());
    let errors = &page.errors;
    let map = |m: &indexmap::IndexMap<String, Value>| Value::Object(m.clone().into_iter().collect());
    put("create-error", map(&errors.create), errors.create.is_empty());
    put("update-error", map(&errors.update), errors.update.is_empty());
    put("delete-error", map(&errors.delete), errors.delete.is_empty());
    put("source-error", map(&page.source_error), page.source_error.is_empty());
    put("update-rollback", objects_to_json(&errors.update_rollback), errors.update_rollback.is_empty());
    Value::Object(cmd)
}

/// The six-element query response.
pub fn query_response(page: &Page) -> Value {
    json!([
        {"version": 3},
        {"token": page.token},
        {"count": page.count()},
        {"progress_count": 0},
        {"total_count": page.total_count},
        command_object(page),
    ])
}

/// Writes the query response to `out` — the same bytes as serialising
/// [`query_response`], without building the `Value` tree: a 2,000-object page
/// would otherwise be copied into a tree of maps before a byte is written.
pub fn write_query_response<W: Write>(out: &mut W, page: &Page) -> Result<(), WireError> {
    write!(out, "[{{\"version\":3}},{{\"token\":")?;
    serde_json::to_writer(&mut *out, &page.token).map_err(io::Error::from)?;
    write!(
        out,
        "}},{{\"count\":{}}},{{\"progress_count\":0}},{{\"total_count\":{}}},",
        page.count(),
        page.total_count
    )?;
    out.write_all(b"{")?;
    write_command_members(out, page)?;
    out.write_all(b"}]")?;
    Ok(())
}

/// The command object's members in [`command_object`]'s order, empty ones left out.
fn write_command_members<W: Write>(out: &mut W, page: &Page) -> io::Result<()> {
    let mut members = Members { out, first: true };
    if page.schema_changed {
        return members.put("schema-changed", "true", false);
    }
    let errors = &page.errors;
    members.put_raw("insert", &page.insert)?;
    members.put("delete", &page.delete, page.delete.is_empty())?;
    members.put("links", &Links(&page.links), page.links.is_empty())?;
    let metadata = page.metadata.as_deref().unwrap_or_default();
    members.put("metadata", metadata, metadata.is_empty())?;
    members.put("create-error", &errors.create, errors.create.is_empty())?;
    members.put("update-error", &errors.update, errors.update.is_empty())?;
    members.put("delete-error", &errors.delete, errors.delete.is_empty())?;
    members.put("source-error", &page.source_error, page.source_error.is_empty())?;
    members.put("update-rollback", &errors.update_rollback, errors.update_rollback.is_empty())
}

struct Members<'a, W> {
    out: &'a mut W,
    first: bool,
}

impl<W: Write> Members<'_, W> {
    fn key(&mut self, key: &str) -> io::Result<()> {
        if !self.first {
            self.out.write_all(b",")?;
        }
        self.first = false;
        serde_json::to_writer(&mut *self.out, key)?;
        self.out.write_all(b":")
    }

    fn put<T: serde::Serialize + ?Sized>(&mut self, key: &str, value: &T, empty: bool) -> io::Result<()> {
        if empty {
            return Ok(());
        }
        self.key(key)?;
        serde_json::to_writer(&mut *self.out, value)?;
        Ok(())
    }

    /// An object map of canonical bodies, each copied as it is: a body is the JSON text
    /// serde_json writes for its attributes (crate::values::encode_body), so the bytes
    /// are those of [`command_object`]'s rendering.
    fn put_raw(&mut self, key: &str, bodies: &BodyMap) -> io::Result<()> {
        if bodies.is_empty() {
            return Ok(());
        }
        self.key(key)?;
        write_bodies_json(self.out, bodies)
    }
}

/// `links` on the wire: temp id → `{"l": real id}`.
struct Links<'a>(&'a indexmap::IndexMap<String, String>);

impl serde::Serialize for Links<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (temp, real) in self.0 {
            map.serialize_entry(temp, &json!({ "l": real }))?;
        }
        map.end()
    }
}

/// Page headers. The token header is left out when the token is empty, as
/// in the RC7 captures (transcripts/00-key-exchanges.txt, 01a #10).
pub fn page_headers(token: &str, count: usize) -> Vec<(&'static str, String)> {
    let mut headers = Vec::with_capacity(2);
    if !token.is_empty() {
        headers.push((PAGE_TOKEN_HEADER, token.to_owned()));
    }
    headers.push((PAGE_OBJECT_COUNT_HEADER, count.to_string()));
    headers
}

/// One element of a search response (docs/device-protocol.md §7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchElement {
    /// A page of results.
    Page {
        /// Search token.
        token: String,
        /// Source name.
        source: String,
        /// Results.
        insert: ObjectMap,
    },
    /// An error: `kind` is `search-error`, `login-error` or `logoff-error`.
    Error {
        /// Source name.
        source: String,
        /// Errors by kind (usually one).
        errors: indexmap::IndexMap<String, String>,
    },
    /// Nothing (more) for this source: `[]`.
    Empty,
}

impl SearchElement {
    /// JSON form of the element.
    pub fn to_json(&self) -> Value {
        match self {
            SearchElement::Page { token, source, insert } => json!([
                {"version": 3}, {"token": token}, {"source": source},
                {"count": insert.len()}, {"insert": objects_to_json(insert)}
            ]),
            SearchElement::Error { source, errors } => {
                let errs: Map<String, Value> =
                    errors.iter().map(|(k, m)| (k.clone(), json!({ "message": m }))).collect();
                json!([{"version": 3}, {"source": source}, {"search-error": errs}])
            }
            SearchElement::Empty => json!([]),
        }
    }
}

/// The whole search response body.
pub fn search_response(elements: &[SearchElement]) -> Value {
    Value::Array(elements.iter().map(SearchElement::to_json).collect())
}

/// Search headers: from the first element, only if it is a page.
pub fn search_headers(elements: &[SearchElement]) -> Vec<(&'static str, String)> {
    match elements.first() {
        Some(SearchElement::Page { token, insert, .. }) => page_headers(token, insert.len()),
        _ => Vec::new(),
    }
}
