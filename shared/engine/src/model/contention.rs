//! Simultaneous queries of one (client, source): what a request does when it finds a page
//! pending that it did not build (docs/sync-engine.md §5.7).
//!
//! # Why
//!
//! Real clients overlap their requests: rhoconnect.js pulls a source twice at once right
//! after `clientcreate`, a device retries a request whose answer was slow, and each request
//! may run in a different Lambda instance. The store makes every step atomic (the query
//! script, the commit's generation check), but a request is several steps — its token step,
//! a refresh, the read, the commit — and another request's steps can fall in between.
//!
//! # The invariant
//!
//! 1. **A page is built only over a state with no page pending.** A pending page is dropped
//!    only by its acknowledgement (its token) or by a reset that undoes it
//!    ([`apply_undo`](super::apply_undo)); never by being overwritten.
//! 2. **A commit lands only on the state it was planned from.** Every commit bumps the
//!    client's generation and checks the one it read; a request that loses that race
//!    re-reads and decides again (bounded), it never answers an error for it.
//! 3. **An object counts as delivered only once the device acknowledges a page that carried
//!    it.** Until then the page's undo is kept, so whatever a device missed — an answer lost,
//!    a simultaneous answer it ignored — comes again.
//!
//! Rule 1 needs to tell a page the request should reset (the device asked again without a
//! token, so the page it had pending is lost) from a page a *concurrent* request built. Two
//! signs tell it: the request remembers what it saw first ([`FirstLook`]) — a pending page it
//! did not see then, or any pending page found after its own token step, is concurrent —
//! and a page built less than [`SIMULTANEOUS_WINDOW_MICROS`] ago (its token is its build
//! time) is taken for a simultaneous request's too: the second of two simultaneous pulls
//! may arrive only after the first committed. Such a request answers without touching the
//! page ([`on_pending_page`]): with a token, a resend of that page (what a mismatched token
//! gets anyway); without one, an empty page with an empty token — what RhoConnect answers a
//! second simultaneous request — so that of two overlapping pulls one goes on paging and the
//! other ends. The price of the window: a device that lost an answer and asks again without
//! a token within it hears "nothing new" and gets the page at its next sync instead of at
//! once; nothing is lost, as the page's undo is kept until a reset or an acknowledgement.

/// How recent a pending page must be to be taken for a simultaneous request's rather than a
/// lost one (2 s: two requests a client sends at once reach the server well within it, also
/// through a cold function start).
pub const SIMULTANEOUS_WINDOW_MICROS: u64 = 2_000_000;

/// What a request saw pending when it first looked at its client state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstLook {
    /// The request has not looked yet (the first step's reply will tell).
    Unknown,
    /// No page was pending.
    NoPage,
    /// A page with this token was pending.
    Page(String),
}

impl FirstLook {
    /// The first look made of the pending token a step's reply showed.
    pub fn from_pending(token: Option<&str>) -> Self {
        match token {
            Some(t) => Self::Page(t.to_owned()),
            None => Self::NoPage,
        }
    }
}

/// Where in its own steps the request is when it finds the pending page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// At its token step: nothing of its own is done yet.
    TokenStep,
    /// After its token step (and refresh): any pending page now is another request's.
    AfterTokenStep,
}

/// What to do about a pending page the request found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingDecision {
    /// The device lost this page: undo it and build anew (a reset, docs/device-protocol.md §5.4).
    Reset,
    /// Another request built it meanwhile; answer by resending it.
    ResendConcurrent,
    /// Another request built it meanwhile; answer an empty page with an empty token and
    /// write nothing.
    QuietConcurrent,
}

/// The decision of the module docs' rule 1 for a pending page with token `found`;
/// `now_token` is the token a page built now would get (the page module's `next_token` of the
/// clock, without a floor).
///
/// `has_token`: the request carried a token (at the token step a matching token is an
/// acknowledgement and a different one a resend — the store decides those atomically; this
/// rule covers what is left).
pub fn on_pending_page(
    phase: Phase,
    has_token: bool,
    first: &FirstLook,
    found: &str,
    now_token: u64,
) -> PendingDecision {
    let concurrent = match phase {
        Phase::AfterTokenStep => true,
        Phase::TokenStep => match first {
            FirstLook::NoPage => true,
            FirstLook::Page(seen) if seen != found => true,
            FirstLook::Unknown | FirstLook::Page(_) => is_recent(found, now_token),
        },
    };
    match (concurrent, has_token) {
        (false, false) => PendingDecision::Reset,
        (false, true) | (true, true) => PendingDecision::ResendConcurrent,
        (true, false) => PendingDecision::QuietConcurrent,
    }
}

/// The page of token `token` was built within [`SIMULTANEOUS_WINDOW_MICROS`] before
/// `now_token` (a token is its page's build time in microseconds; one that is not a number
/// is not recent).
fn is_recent(token: &str, now_token: u64) -> bool {
    token.parse::<u64>().is_ok_and(|built| now_token.saturating_sub(built) < SIMULTANEOUS_WINDOW_MICROS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock reading (in token units) and the token of a page built `ago` microseconds before.
    fn at(ago: u64) -> (u64, String) {
        let now = 600_000_000_000_000;
        (now, (now - ago).to_string())
    }

    #[test]
    fn an_old_page_seen_at_the_first_look_is_reset_by_a_request_without_token() {
        let (now, tok) = at(SIMULTANEOUS_WINDOW_MICROS);
        let first = FirstLook::Page(tok.clone());
        assert_eq!(on_pending_page(Phase::TokenStep, false, &first, &tok, now), PendingDecision::Reset);
        assert_eq!(on_pending_page(Phase::TokenStep, false, &FirstLook::Unknown, &tok, now), PendingDecision::Reset);
    }

    #[test]
    fn a_page_built_just_now_is_a_simultaneous_requests() {
        let (now, tok) = at(SIMULTANEOUS_WINDOW_MICROS - 1);
        for first in [FirstLook::Page(tok.clone()), FirstLook::Unknown] {
            assert_eq!(on_pending_page(Phase::TokenStep, false, &first, &tok, now), PendingDecision::QuietConcurrent);
        }
        assert_eq!(on_pending_page(Phase::TokenStep, false, &FirstLook::Unknown, "x", now), PendingDecision::Reset);
    }

    #[test]
    fn a_page_that_appeared_meanwhile_is_left_alone() {
        let (now, tok) = at(60_000_000);
        for first in [FirstLook::NoPage, FirstLook::Page("6".into())] {
            assert_eq!(on_pending_page(Phase::TokenStep, false, &first, &tok, now), PendingDecision::QuietConcurrent);
            assert_eq!(on_pending_page(Phase::TokenStep, true, &first, &tok, now), PendingDecision::ResendConcurrent);
        }
        for first in [FirstLook::Unknown, FirstLook::NoPage, FirstLook::Page(tok.clone())] {
            let quiet = on_pending_page(Phase::AfterTokenStep, false, &first, &tok, now);
            assert_eq!(quiet, PendingDecision::QuietConcurrent);
            let resend = on_pending_page(Phase::AfterTokenStep, true, &first, &tok, now);
            assert_eq!(resend, PendingDecision::ResendConcurrent);
        }
    }
}
