//! `rhosync-engine`: the RhoConnect protocol-3 sync engine without I/O.
//!
//! Everything here is a pure function over plain data; the Redis store and
//! the HTTP routes live elsewhere and call in. What lives where:
//!
//! * [`params`] — request parameters exactly as sync-protocol.md §2.1
//!   (query + body + path + `cud`, Rack nesting, rhoconnect.js junk keys)
//!   and the helpers that read `p_size`, `token`, `client_id`, …;
//! * [`values`] — attribute normalisation and the canonical object body
//!   (sync-engine.md §3);
//! * [`diff`] — the per-object (attribute, value) diff (sync-engine.md §7.1);
//! * [`model`] — the versioned partition model (master document + change
//!   index + history; per client a cursor, a few pinned exceptions and a
//!   per-cycle sent map) that replaces RC7's full client documents, the page
//!   planner over it, md change producers and RC7 document names;
//! * [`page`] — new-page assembly, resend, reset carry, pass-through pages,
//!   token generation (sync-protocol.md §6.4–6.8); the token rule that picks
//!   between them lives in the server's query script, which decides it
//!   atomically;
//! * [`wire`] — exact JSON rendering and headers of query and search
//!   responses (sync-protocol.md §6.2, §8.2);
//! * [`search`] — search paging/ack/error rules (sync-protocol.md §8.3,
//!   sync-engine.md §9).

pub mod diff;
pub mod model;
pub mod page;
pub mod params;
pub mod search;
pub mod values;
pub mod wire;
