//! The versioned partition model: how the server knows what each device holds
//! without keeping a copy of every device's data.
//!
//! # Why
//!
//! RC7 keeps a full client document `cd` per (client, source) and diffs the
//! whole master document `md` against it on every new page
//! (docs/differences.md §1). Cost and memory then grow with objects × devices.
//! The performance design (docs/README.md §3.3) asks instead that a
//! no-change sync be O(1), an incremental sync touch only what changed, and a
//! device that is in step cost (almost) nothing. This module is the data model
//! that delivers that while producing the same pages RC7 semantics demand.
//!
//! # What lives where
//!
//! The model is split by concern; each file's own docs say how its part works.
//!
//! * `partition.rs` — the partition side (per source and partition key): the
//!   [`PartitionHead`], change events and [`ObjectRecord`]s (`body_at`), and
//!   the producers that turn a refresh, a push, a `fast_*` call or a CUD create
//!   into [`Change`]s, numbered by [`assign_versions`].
//! * `client.rs` — the client side (per client and source): the cursor and
//!   pinned entries ([`ClientSyncState`]), the sent map ([`SentEntries`],
//!   [`SentWrites`]), and the belief rules over them ([`believed_body`],
//!   [`effective_state`], [`scan_start`], [`is_in_step`], [`materialize_cd`]).
//! * `plan.rs` — one query page: [`plan_page`] over [`PageInputs`], and what
//!   follows the page: [`complete_on_ack`] and [`apply_undo`] with its
//!   [`PageUndo`]. Also what the store must read per query page.
//! * `pins.rs` — pinned entries written outside a page, by CUD and search
//!   ([`pin_created_object`], [`pin_client_delete`], [`pin_search_results`]).
//! * `doc_name.rs` — RC7 document names ([`DocName`]).
//! * `contention.rs` — simultaneous queries of one client: the invariant that keeps them
//!   from losing a page, and the rule a request follows when it finds a page pending that
//!   it did not build ([`on_pending_page`]).
//!
//! This file keeps what they share (the [`Version`] type, [`ModelError`]) and
//! the contracts that span several of them. The files are private modules and
//! every item is re-exported here, so each keeps the one public path
//! `rhosync_engine::model::Item`.
//!
//! # Store contract for the other request kinds
//!
//! * **Refresh / push API / fast_*:** read the ids' `md` bodies (the whole
//!   `md` for a refresh), call the producer ([`apply_refresh`],
//!   [`apply_push_objects`], …), then [`assign_versions`] and write in one
//!   script: `md` set/delete, index `ZADD id version`, history append,
//!   `version`, `md_size`. One read + one write round trip.
//! * **CUD create (link):** the same write for [`apply_create`], plus, in the
//!   client's keys, [`pin_created_object`] and the pending link.
//! * **CUD delete:** [`apply_push_deletes`] for the id, plus [`pin_client_delete`].
//! * **Search:** read state + head, records and sent entries of the result
//!   ids; [`pin_search_results`]; write pinned entries, `md` additions
//!   (numbered as above) and the search docs.
//! * **clientreset:** delete the client's state, sent map and page docs.
//! * **Store API GET of a `cd` name:** read state, head, the whole sent map
//!   and every indexed id's record; [`materialize_cd`]. (Admin/bench only; O(n).)
//!
//! # Edge cases and limitations
//!
//! * An object changed and changed back: compared by content, nothing sent.
//! * Deletion: the index keeps a tombstone, the scan meets it, the device
//!   gets a `delete` of the pairs it holds.
//! * CUD create: [`apply_create`] adds the object to `md` and pins it for the
//!   creating client, so it is never echoed back (docs/sync-engine.md §6.4).
//! * Client delete: [`pin_client_delete`] (docs/sync-engine.md §6.4).
//! * Search: [`pin_search_results`] pins what the search page sent and tells
//!   which objects must be added to `md` (docs/sync-engine.md §7 step 5).
//! * clientreset: drop the client state and its sent map ([`ClientSyncState::default`]).
//! * Reset with undo (docs/device-protocol.md §5.4 DEVIATION): [`apply_undo`] puts
//!   back the pre-page cursor and the pre-page entries of the page's objects.
//! * **Limitation:** a client whose base is older than the horizon (history
//!   pruned) has unknown state; it is treated as [`Base::Empty`] and receives
//!   everything as inserts. Objects deleted from `md` while it was away stay
//!   on the device (RC7 has the same outcome after a Redis flush,
//!   docs/sync-engine.md §3.4). Likewise a sent entry older than the horizon makes
//!   the object's belief unknown and it is re-sent whole as an insert. The
//!   store should therefore keep the horizon behind the oldest active cursor
//!   or a generous time window.

mod client;
mod contention;
mod doc_name;
mod partition;
mod pins;
mod plan;

pub use client::{
    believed_body, effective_state, examined_at, is_in_step, materialize_cd, scan_start, Base, Belief, ClientCursor,
    ClientSyncState, Examined, PageMark, SentEntries, SentWrites, MAX_MARKS,
};
pub use contention::{on_pending_page, FirstLook, PendingDecision, Phase, SIMULTANEOUS_WINDOW_MICROS};
pub use doc_name::DocName;
pub use partition::{
    apply_create, apply_fast_delete, apply_fast_update, apply_push_deletes, apply_push_objects, apply_refresh,
    apply_refresh_bodies, assign_versions, BodyAt, Change, HistoryEvent, ObjectRecord, PartitionHead, VersionedChange,
};
pub use pins::{pin_client_delete, pin_created_object, pin_search_results};
pub use plan::{apply_undo, complete_on_ack, plan_page, PageInputs, PagePlan, PageUndo};

use crate::values::ValuesError;

/// A partition version / change-index score.
pub type Version = u64;

/// Errors of this module.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    /// A stored body could not be decoded.
    #[error(transparent)]
    Body(#[from] ValuesError),
    /// A document name does not follow any RC7 naming pattern it claims.
    #[error("malformed document name {0:?}")]
    BadDocName(String),
}

#[cfg(test)]
mod tests;
