//! Query pages: new-page assembly (docs/sync-engine.md §5.3), resend, reset carry,
//! pass-through pages (docs/device-protocol.md §5.7) and token generation.
//!
//! The token rule — whether a query acknowledges, resends or resets the stored
//! page, decided from the stored token and the `token` parameter — is not here:
//! it lives in the server's query script (`shared/server/src/store/lua/begin.lua`),
//! which must decide it atomically with the reads and writes it guards. This
//! module provides what each outcome then needs ([`resend_page`],
//! [`reset_carry`], [`assemble_new_page`]).
//!
//! The object diff itself comes from [`crate::model::plan_page`]; this module
//! wraps it with everything else a page carries (links, metadata, schema,
//! CUD errors, source errors) and decides what must be stored for a later
//! acknowledge / resend / reset. Rendering is in [`crate::wire`].

use indexmap::IndexMap;
use serde_json::Value;
use sha1::{Digest, Sha1};

use crate::model::PageUndo;
use crate::values::{encode_objects, write_bodies_json, BodyMap, ObjectMap};

/// Errors of this module.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PageError {
    /// A stored token is not a decimal u64.
    #[error("stored page token {0:?} is not a decimal integer")]
    BadStoredToken(String),
}

/// Unix time of 2009-01-01T00:00:00Z; RC7 tokens count microseconds from it
/// (docs/device-protocol.md §5.2).
pub const TOKEN_EPOCH_UNIX_SECS: u64 = 1_230_768_000;

/// A new token: microseconds since 2009-01-01, bumped to `last + 1` when the
/// clock did not move past the last token, never below 2 (Rhodes reads 0 as
/// "done" and 1 as "no token", docs/device-protocol.md §5.2).
pub fn next_token(now_unix_micros: u64, last: Option<u64>) -> u64 {
    let from_clock = now_unix_micros.saturating_sub(TOKEN_EPOCH_UNIX_SECS * 1_000_000);
    let floor = last.map_or(2, |l| l.saturating_add(1)).max(2);
    from_clock.max(floor)
}

/// Parses a stored token back (for `next_token`'s `last`).
pub fn parse_token(token: &str) -> Result<u64, PageError> {
    token.parse().map_err(|_| PageError::BadStoredToken(token.to_owned()))
}

/// SHA-1 hex digest, as used for `metadata_sha1` / `schema_sha1`
/// (docs/sync-engine.md §5.5).
pub fn sha1_hex(text: &str) -> String {
    hex::encode(Sha1::digest(text.as_bytes()))
}

/// An error map: `"<id>": {attrs}` and `"<id>-error": {"message": ...}`
/// (docs/device-protocol.md §5.3).
pub type ErrorMap = IndexMap<String, Value>;

/// The four CUD error documents of a client (or of a page).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct CudErrors {
    /// `create-error`.
    pub create: ErrorMap,
    /// `update-error`.
    pub update: ErrorMap,
    /// `delete-error`.
    pub delete: ErrorMap,
    /// `update-rollback`.
    pub update_rollback: ObjectMap,
}

impl CudErrors {
    /// True when all four are empty.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty() && self.update_rollback.is_empty()
    }
    /// Merges `other` over `self`, `self`'s entries (the older ones) first.
    pub fn merge(&mut self, other: CudErrors) {
        self.create.extend(other.create);
        self.update.extend(other.update);
        self.delete.extend(other.delete);
        self.update_rollback.extend(other.update_rollback);
    }
}

/// Records one failed CUD record in an error map (docs/sync-engine.md §6.3): the
/// attributes the client sent (without reserved ones) and the message.
pub fn record_cud_error(errors: &mut ErrorMap, key: &str, attrs: &crate::values::Attrs, message: &str) {
    errors.insert(key.to_owned(), crate::values::attrs_to_json(attrs));
    errors.insert(format!("{key}-error"), serde_json::json!({ "message": message }));
}

/// Everything one query page says (the rendering is [`crate::wire`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Page {
    /// `""` or a decimal token.
    pub token: String,
    /// `total_count`.
    pub total_count: u64,
    /// `insert`: each object's canonical body, written to the wire as it is.
    #[serde(deserialize_with = "crate::values::body_map::deserialize")]
    pub insert: BodyMap,
    /// `delete`.
    pub delete: ObjectMap,
    /// `links`: temp id → real id.
    pub links: IndexMap<String, String>,
    /// `metadata` (a JSON string).
    pub metadata: Option<String>,
    /// `{"schema-changed":"true"}` instead of everything else.
    pub schema_changed: bool,
    /// CUD errors and rollbacks.
    pub errors: CudErrors,
    /// `source-error`: `{"query-error": {"message": ...}, ...}`.
    pub source_error: IndexMap<String, Value>,
}

impl Page {
    /// `count` = insert keys + delete keys (docs/device-protocol.md §5.2).
    pub fn count(&self) -> usize {
        if self.schema_changed {
            0
        } else {
            self.insert.len() + self.delete.len()
        }
    }
}

/// What the client has waiting to go into its next new page.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct PendingClientDocs {
    /// `create_links`.
    pub links: IndexMap<String, String>,
    /// CUD errors and rollbacks.
    pub errors: CudErrors,
    /// Deletes produced by CUD (e.g. a create without a returned id,
    /// docs/sync-engine.md §6.4 DEVIATION).
    pub deletes: ObjectMap,
}

/// The unacknowledged page as stored per client (RC7's `page`,
/// `delete_page`, `create_links_page`, `metadata_page`, `schema_page`,
/// `*_page` error docs, `total_count_page`, `page_token`, plus `page_undo`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct StoredPage {
    /// The page as sent (minus `source-error`, which is read fresh on resend).
    pub page: Page,
    /// The part of `page.delete` that came from CUD, carried over on reset.
    pub cud_deletes: ObjectMap,
    /// Model undo for the diff part.
    pub undo: PageUndo,
}

/// Inputs of [`assemble_new_page`].
#[derive(Debug, Clone, Default)]
pub struct NewPageParts {
    /// The diff from [`crate::model::plan_page`].
    pub insert: BodyMap,
    /// Its delete part.
    pub delete: ObjectMap,
    /// Its undo.
    pub undo: PageUndo,
    /// Pending client docs, consumed by this page.
    pub pending: PendingClientDocs,
    /// The client's `metadata_sha1`.
    pub client_metadata_sha1: Option<String>,
    /// The source's metadata text and its SHA-1, if the adapter has metadata.
    pub source_metadata: Option<(String, String)>,
    /// The source `errors` document.
    pub source_errors: IndexMap<String, Value>,
    /// `md_size`.
    pub total_count: u64,
    /// A fresh token, used only if the page needs one.
    pub fresh_token: u64,
}

/// The outcome of [`assemble_new_page`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPage {
    /// What to send.
    pub page: Page,
    /// The rest of the unacknowledged page to store with [`NewPage::page`] (`None`: token
    /// `""`; errors were delivered and are gone, docs/sync-engine.md §5.3 step 6).
    pub stored: Option<StoredExtras>,
    /// New value for the client's `metadata_sha1`, if it changes.
    pub client_metadata_sha1: Option<String>,
}

/// What a [`StoredPage`] holds besides the page itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredExtras {
    /// See [`StoredPage::cud_deletes`].
    pub cud_deletes: ObjectMap,
    /// See [`StoredPage::undo`].
    pub undo: PageUndo,
}

impl NewPage {
    /// The page to store, if any (a copy; [`NewPage::stored_json`] avoids it).
    pub fn stored_page(&self) -> Option<StoredPage> {
        self.stored.as_ref().map(|extras| {
            let mut page = self.page.clone();
            page.source_error = IndexMap::new();
            StoredPage { page, cud_deletes: extras.cud_deletes.clone(), undo: extras.undo.clone() }
        })
    }

    /// The JSON of [`NewPage::stored_page`], written from borrowed parts: a page of
    /// thousands of objects is not copied just to be stored. The insert part's bodies are
    /// spliced in as the JSON objects they are, not escaped into strings (the reader,
    /// [`crate::values::body_map`], takes either form).
    pub fn stored_json(&self) -> Option<serde_json::Result<String>> {
        let extras = self.stored.as_ref()?;
        let p = &self.page;
        let no_bodies = BodyMap::new();
        let view = StoredPageRef {
            page: PageRef {
                insert: &no_bodies,
                token: &p.token,
                total_count: p.total_count,
                delete: &p.delete,
                links: &p.links,
                metadata: &p.metadata,
                schema_changed: p.schema_changed,
                errors: &p.errors,
                source_error: IndexMap::new(),
            },
            cud_deletes: &extras.cud_deletes,
            undo: &extras.undo,
        };
        Some(serde_json::to_string(&view).map(|rest| splice_bodies(&rest, &p.insert)))
    }
}

/// `rest` is a stored page whose insert part, its first field, is empty: writes `insert`'s
/// bodies into it as raw JSON objects.
fn splice_bodies(rest: &str, insert: &BodyMap) -> String {
    const EMPTY: &str = r#"{"page":{"insert":{}"#;
    debug_assert!(rest.starts_with(EMPTY), "the insert part comes first: {rest}");
    let bodies: usize = insert.iter().map(|(id, body)| id.len() + body.len() + 4).sum();
    let mut out = Vec::with_capacity(rest.len() + bodies);
    out.extend_from_slice(&EMPTY.as_bytes()[..EMPTY.len() - 2]);
    // Writing to a Vec cannot fail; ids are escaped and bodies are canonical JSON text.
    let _ = write_bodies_json(&mut out, insert);
    out.extend_from_slice(&rest.as_bytes()[EMPTY.len()..]);
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// [`StoredPage`]'s serialised form over borrowed parts (same field names and order).
#[derive(serde::Serialize)]
struct StoredPageRef<'a> {
    page: PageRef<'a>,
    cud_deletes: &'a ObjectMap,
    undo: &'a PageUndo,
}

/// [`Page`]'s serialised form over borrowed parts (same field names; `insert` first).
#[derive(serde::Serialize)]
struct PageRef<'a> {
    /// First, so that [`splice_bodies`] finds it at a fixed place.
    insert: &'a BodyMap,
    token: &'a str,
    total_count: u64,
    delete: &'a ObjectMap,
    links: &'a IndexMap<String, String>,
    metadata: &'a Option<String>,
    schema_changed: bool,
    errors: &'a CudErrors,
    source_error: IndexMap<String, Value>,
}

/// Schema step of a new page (docs/sync-engine.md §5.3 step 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaStep {
    /// Go on building the page; store `Some(sha)` as the client's
    /// `schema_sha1` if given.
    Continue(Option<String>),
    /// Send [`schema_changed_page`] and store the sha; expire bulk data.
    Changed(String),
}

/// Compares schema hashes (only when the adapter has a schema).
pub fn schema_step(client_sha1: Option<&str>, source_sha1: Option<&str>) -> SchemaStep {
    match (client_sha1, source_sha1) {
        (_, None) => SchemaStep::Continue(None),
        (None, Some(s)) => SchemaStep::Continue(Some(s.to_owned())),
        (Some(c), Some(s)) if c == s => SchemaStep::Continue(None),
        (Some(_), Some(s)) => SchemaStep::Changed(s.to_owned()),
    }
}

/// The schema-changed page (docs/device-protocol.md §5.9 j): always tokened,
/// count 0, total 0, nothing else; the client document is untouched.
pub fn schema_changed_page(fresh_token: u64) -> (Page, StoredPage) {
    let page = Page { token: fresh_token.to_string(), schema_changed: true, ..Page::default() };
    (page.clone(), StoredPage { page, ..StoredPage::default() })
}

/// Builds a new page from the planned diff (docs/sync-engine.md §5.3 steps 3–6).
pub fn assemble_new_page(parts: NewPageParts) -> NewPage {
    let NewPageParts {
        insert,
        mut delete,
        undo,
        pending,
        client_metadata_sha1,
        source_metadata,
        source_errors,
        total_count,
        fresh_token,
    } = parts;
    for (id, attrs) in &pending.deletes {
        delete.entry(id.clone()).or_default().extend(attrs.clone());
    }
    let (metadata, new_sha) = match source_metadata {
        Some((text, sha)) if client_metadata_sha1.as_deref() != Some(sha.as_str()) => (Some(text), Some(sha)),
        _ => (None, None),
    };
    let mut page = Page {
        token: String::new(),
        total_count,
        insert,
        delete,
        links: pending.links,
        metadata,
        schema_changed: false,
        errors: pending.errors,
        source_error: source_errors,
    };
    // Step 6: a token only when there is data the client must acknowledge.
    let needs_token = !page.insert.is_empty() || !page.delete.is_empty() || !page.links.is_empty();
    let stored = needs_token.then(|| {
        page.token = fresh_token.to_string();
        StoredExtras { cud_deletes: pending.deletes, undo }
    });
    NewPage { page, stored, client_metadata_sha1: new_sha }
}

/// A resend (docs/device-protocol.md §5.4): the stored page unchanged with the
/// current source errors.
pub fn resend_page(stored: &StoredPage, current_source_errors: &IndexMap<String, Value>) -> Page {
    if stored.page.schema_changed {
        return Page { schema_changed: true, token: stored.page.token.clone(), ..Page::default() };
    }
    let mut page = stored.page.clone();
    page.source_error = current_source_errors.clone();
    page
}

/// What survives a reset (docs/sync-engine.md §5.4 DEVIATION).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResetCarry {
    /// Apply with [`crate::model::apply_undo`].
    pub undo: PageUndo,
    /// Links and CUD deletes to merge back in front of the pending docs.
    pub pending: PendingClientDocs,
    /// The page carried metadata: clear the client's `metadata_sha1`.
    pub clear_metadata_sha1: bool,
}

/// Splits a dropped page into what must be restored; its error entries are
/// dropped, as in RC7.
pub fn reset_carry(stored: StoredPage) -> ResetCarry {
    ResetCarry {
        undo: stored.undo,
        pending: PendingClientDocs {
            links: stored.page.links,
            errors: CudErrors::default(),
            deletes: stored.cud_deletes,
        },
        clear_metadata_sha1: stored.page.metadata.is_some(),
    }
}

/// Merges carried-over pending docs in front of newer ones.
pub fn merge_pending(carried: PendingClientDocs, newer: PendingClientDocs) -> PendingClientDocs {
    let mut out = carried;
    out.links.extend(newer.links);
    out.errors.merge(newer.errors);
    out.deletes.extend(newer.deletes);
    out
}

/// A pass-through page (docs/device-protocol.md §5.7): the adapter result as is,
/// token only if `insert` is non-empty, `total_count` = number of objects;
/// CUD errors and metadata as for normal pages. Nothing is stored for resend.
pub fn pass_through_page(
    result: ObjectMap,
    errors: CudErrors,
    metadata: Option<String>,
    source_errors: IndexMap<String, Value>,
    fresh_token: u64,
) -> Page {
    Page {
        token: if result.is_empty() { String::new() } else { fresh_token.to_string() },
        total_count: result.len() as u64,
        insert: encode_objects(&result),
        metadata,
        errors,
        source_error: source_errors,
        ..Page::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::Attrs;

    #[test]
    fn tokens_increase_strictly() {
        let now = (TOKEN_EPOCH_UNIX_SECS + 10) * 1_000_000;
        let a = next_token(now, None);
        assert_eq!(a, 10_000_000);
        assert_eq!(next_token(now, Some(a)), a + 1);
        assert_eq!(next_token(0, None), 2);
        assert_eq!(parse_token(&a.to_string()), Ok(a));
        assert!(parse_token("abc").is_err());
    }

    #[test]
    fn metadata_sha1_matches_rc7() {
        // docs/sync-engine.md §5.5
        assert_eq!(sha1_hex(r#"{"foo":"bar"}"#), "a5e744d0164540d33b1d7ea616c28f2fa97e754a");
    }

    #[test]
    fn errors_only_page_has_no_token_and_is_not_stored() {
        let mut pending = PendingClientDocs::default();
        record_cud_error(&mut pending.errors.create, "0_broken", &Attrs::from([("name".into(), "x".into())]), "boom");
        let out = assemble_new_page(NewPageParts { pending, fresh_token: 7, ..NewPageParts::default() });
        assert_eq!(out.page.token, "");
        assert!(out.stored.is_none());
        assert_eq!(out.page.errors.create.len(), 2);
    }

    #[test]
    fn the_stored_json_splices_bodies_and_reads_back_as_the_stored_page() {
        let bodies = [r#"{"name":"a \"q\" é"}"#, r#"{"b":"1","c":""}"#];
        let gone: ObjectMap = [("9".to_owned(), Attrs::from([("name".into(), "x".into())]))].into();
        let cases: [(BodyMap, ObjectMap); 2] = [
            (
                [("odd \"id\" ✓".to_owned(), bodies[0].to_owned()), ("2".into(), bodies[1].into())].into(),
                ObjectMap::new(),
            ),
            (BodyMap::new(), gone),
        ];
        for (insert, delete) in cases {
            let parts = NewPageParts { insert: insert.clone(), delete, fresh_token: 3, ..NewPageParts::default() };
            let out = assemble_new_page(parts);
            let Some(json) = out.stored_json() else { panic!("a page with objects is stored") };
            let json = json.expect("json");
            for body in insert.values() {
                assert!(json.contains(&format!(":{body}")), "{body} spliced as it is: {json}");
            }
            let read: StoredPage = serde_json::from_str(&json).expect("reads back");
            assert_eq!(Some(read), out.stored_page());
        }
    }

    #[test]
    fn links_get_a_token_and_survive_a_reset() {
        let mut pending = PendingClientDocs::default();
        pending.links.insert("tmp-100".into(), "4".into());
        let out = assemble_new_page(NewPageParts {
            pending,
            source_metadata: Some(("{}".into(), sha1_hex("{}"))),
            fresh_token: 9,
            ..NewPageParts::default()
        });
        assert_eq!(out.page.token, "9");
        assert!(out.client_metadata_sha1.is_some());
        let carry = reset_carry(out.stored_page().expect("stored"));
        assert_eq!(carry.pending.links["tmp-100"], "4");
        assert!(carry.clear_metadata_sha1);
    }

    #[test]
    fn schema_steps() {
        assert_eq!(schema_step(None, None), SchemaStep::Continue(None));
        assert_eq!(schema_step(None, Some("a")), SchemaStep::Continue(Some("a".into())));
        assert_eq!(schema_step(Some("a"), Some("a")), SchemaStep::Continue(None));
        assert_eq!(schema_step(Some("a"), Some("b")), SchemaStep::Changed("b".into()));
        let (page, stored) = schema_changed_page(11);
        assert_eq!(resend_page(&stored, &IndexMap::new()), page);
    }
}
