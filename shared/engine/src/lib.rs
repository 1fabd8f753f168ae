//! `rhosync-engine`: the RhoConnect protocol-3 sync engine without I/O.
//!
//! Everything here is a pure function over plain data; the Redis store and
//! the HTTP routes live elsewhere and call in. What lives where:
//!
//! * [`params`] — request parameters exactly as docs/device-protocol.md §2.1
//!   (query + body + path + `cud`, Rack nesting, rhoconnect.js junk keys)
//!   and the helpers that read `p_size`, `token`, `client_id`, …;
//! * [`values`] — attribute normalisation and the canonical object body
//!   (docs/sync-engine.md §2);
//! * [`diff`] — the per-object (attribute, value) diff (docs/sync-engine.md §5.1);
//! * [`model`] — the versioned partition model (master document + change
//!   index + history; per client a cursor, a few pinned exceptions and a
//!   per-cycle sent map) that replaces RC7's full client documents, the page
//!   planner over it, md change producers and RC7 document names;
//! * [`page`] — new-page assembly, resend, reset carry, pass-through pages,
//!   token generation (docs/device-protocol.md §5.4–5.7); the token rule that picks
//!   between them lives in the server's query script, which decides it
//!   atomically;
//! * [`wire`] — exact JSON rendering and headers of query and search
//!   responses (docs/device-protocol.md §5.2, §7.2);
//! * [`search`] — search paging/ack/error rules (docs/device-protocol.md §7.3,
//!   docs/sync-engine.md §7).

pub mod diff;
pub mod model;
pub mod page;
pub mod params;
pub mod search;
pub mod values;
pub mod wire;
