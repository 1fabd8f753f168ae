//! Search paging, acknowledgement and errors (docs/device-protocol.md §7.3,
//! docs/sync-engine.md §7), per requested source, over plain data.
//!
//! The caller runs the adapter when told to ([`SearchStep::RunAdapter`]) and
//! picks the objects to send with [`crate::model::pin_search_results`], which
//! also pins them in the client's belief and lists the `md` additions; this
//! module decides the step and shapes the element and the state to store.

use indexmap::IndexMap;

use crate::values::ObjectMap;
use crate::wire::SearchElement;

/// Errors of this module.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SearchError {
    /// A `sources` entry lacks a name.
    #[error("search source entry without a name")]
    MissingSourceName,
}

/// Message of the invalid-token error (docs/device-protocol.md §7.3 step 4).
pub const INVALID_TOKEN_MESSAGE: &str = "Search error - invalid token";

/// The per-(client, source) search documents (`search`, `search_page`,
/// `search_token`, `search_errors`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct SearchState {
    /// The adapter's full result (`search`).
    pub result: ObjectMap,
    /// The last page sent (`search_page`).
    pub page: ObjectMap,
    /// The search token.
    pub token: Option<String>,
    /// Errors by kind.
    pub errors: IndexMap<String, String>,
}

/// What to do for one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchStep {
    /// `token` + `resend`: send the stored page again.
    Resend,
    /// Token differs: clear the state and send the invalid-token error.
    InvalidToken,
    /// No token: clear errors, call the adapter, store the result under a new token.
    RunAdapter,
    /// Correct token: next page from the stored result, no adapter call.
    NextPage,
}

/// Effective tokens for the listed sources: once a source supplies a token,
/// later sources without one use it (RC7 quirk kept, docs/device-protocol.md §7.3).
pub fn effective_tokens(tokens: &[Option<&str>]) -> Vec<Option<String>> {
    let mut running: Option<String> = None;
    tokens
        .iter()
        .map(|t| {
            if let Some(t) = t {
                running = Some((*t).to_owned());
            }
            running.clone()
        })
        .collect()
}

/// Decides the step for one source.
pub fn decide_search_step(token: Option<&str>, resend: bool, state: &SearchState) -> SearchStep {
    match token {
        None => SearchStep::RunAdapter,
        Some(_) if resend => SearchStep::Resend,
        Some(t) if state.token.as_deref() == Some(t) => SearchStep::NextPage,
        Some(_) => SearchStep::InvalidToken,
    }
}

/// The element for an invalid token; the caller clears the state.
pub fn invalid_token_element(source: &str) -> SearchElement {
    let mut errors = IndexMap::new();
    errors.insert("search-error".to_owned(), INVALID_TOKEN_MESSAGE.to_owned());
    SearchElement::Error { source: source.to_owned(), errors }
}

/// The element to send and the state to keep (`None`: clear all search
/// documents) after the page content `new_objects` was chosen
/// (docs/sync-engine.md §7 steps 5–6).
pub fn finish_search(
    source: &str,
    mut state: SearchState,
    new_objects: ObjectMap,
) -> (SearchElement, Option<SearchState>) {
    if !state.errors.is_empty() {
        let errors = std::mem::take(&mut state.errors);
        return (SearchElement::Error { source: source.to_owned(), errors }, None);
    }
    match (&state.token, new_objects.is_empty()) {
        (Some(token), false) => {
            let element =
                SearchElement::Page { token: token.clone(), source: source.to_owned(), insert: new_objects.clone() };
            state.page = new_objects;
            (element, Some(state))
        }
        _ => (SearchElement::Empty, None),
    }
}

/// Resend of the stored page; `[]` when nothing is stored.
pub fn resend_element(source: &str, state: &SearchState) -> SearchElement {
    match &state.token {
        Some(token) if !state.page.is_empty() => {
            SearchElement::Page { token: token.clone(), source: source.to_owned(), insert: state.page.clone() }
        }
        _ => SearchElement::Empty,
    }
}

/// Pass-through search: the whole result is the page; an acknowledging
/// request answers `[]` (docs/sync-engine.md §7 DEVIATION).
pub fn pass_through_element(source: &str, token: Option<&str>, fresh_token: &str, result: ObjectMap) -> SearchElement {
    if token.is_some() || result.is_empty() {
        return SearchElement::Empty;
    }
    SearchElement::Page { token: fresh_token.to_owned(), source: source.to_owned(), insert: result }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::Attrs;

    #[test]
    fn sticky_tokens() {
        assert_eq!(effective_tokens(&[None, Some("5"), None]), vec![None, Some("5".to_owned()), Some("5".to_owned())]);
    }

    #[test]
    fn steps() {
        let state = SearchState { token: Some("5".into()), ..SearchState::default() };
        assert_eq!(decide_search_step(None, false, &state), SearchStep::RunAdapter);
        assert_eq!(decide_search_step(Some("5"), true, &state), SearchStep::Resend);
        assert_eq!(decide_search_step(Some("5"), false, &state), SearchStep::NextPage);
        assert_eq!(decide_search_step(Some("6"), false, &state), SearchStep::InvalidToken);
    }

    #[test]
    fn finishing() {
        let state = SearchState { token: Some("5".into()), ..SearchState::default() };
        let mut objs = ObjectMap::new();
        objs.insert("1".into(), Attrs::from([("name".into(), "iPhone".into())]));
        let (el, kept) = finish_search("P", state.clone(), objs);
        assert!(matches!(el, SearchElement::Page { .. }));
        assert!(kept.is_some());
        let (el, kept) = finish_search("P", state.clone(), ObjectMap::new());
        assert_eq!(el, SearchElement::Empty);
        assert!(kept.is_none());
        let mut failed = state;
        failed.errors.insert("search-error".into(), "Error during search".into());
        let (el, kept) = finish_search("P", failed, ObjectMap::new());
        assert!(matches!(el, SearchElement::Error { .. }));
        assert!(kept.is_none());
    }
}
