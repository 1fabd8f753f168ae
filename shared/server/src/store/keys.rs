//! Redis key layout of the sync store.
//!
//! Every key of one (source, partition) — master document, change index, history, head,
//! source docs, read state — and every per-client key of that source's clients in that
//! partition share one hash tag, so each step is one Lua script on one cluster slot:
//!
//! | key | type | content |
//! |---|---|---|
//! | `md` | hash | object id → canonical body (`rhosync_engine::values`) |
//! | `idx` | zset | object id → version of its latest change (tombstones too) |
//! | `hist` | hash | object id → JSON list `[[version, body-before or null], …]` |
//! | `hlog` | zset | one member `<version>:<unix secs>:<id>` per retained history event, scored by version (pruning order) |
//! | `head` | hash | `v` version, `h` history horizon, `n` md_size |
//! | `src` | hash | `errors` (JSON), `metadata`, `metadata_sha1`, `schema`, `schema_sha1` |
//! | `rs` | hash | read state: `refresh_time`, `prev_refresh_time`, `retry_counter` |
//! | `c:<id>:st` | hash | client cursor `base` (`e` or version), `scan`, `fin` (base once the page is acknowledged), `msha`, `ssha`, `tok`, `lt`, `gen` |
//! | `c:<id>:pin` | hash | pinned exceptions: id → body (`""` = absent) |
//! | `c:<id>:sent` | hash | sent map of the running cycle: id → version |
//! | `c:<id>:page` | string | the unacknowledged page (JSON `StoredPage`) |
//! | `c:<id>:links`, `cerr`, `uerr`, `derr`, `urb`, `cdel` | hash | pending links, CUD errors, rollbacks, CUD deletes |
//! | `c:<id>:search` | string | search state (JSON) |
//!
//! Everything else lives under its own tag, one unit per tag:
//!
//! | tag | keys | content |
//! |---|---|---|
//! | `client:<id>` | `rec` | cached client record (JSON) |
//! | `src:<source>` | `poll_interval` | poll-interval override |
//! | `doc:<name>` | `v` | adapter scratch document |
//! | `login:<login>` | `exists`, `revoked` | session markers of one login (`crate::sync::sessions`) |
//! | `sessions` | `reset_at` | time of the last system reset (µs) |
//! | `registry` | `user:count`, `client:count`, `appserver_url` | registry records kept in the cache (`crate::registry::cache`) |
//! | `registry` | `cache_gen` | generation of the registry read cache, replaced by `system/reset` (`crate::registry::cached`) |
//! | `reg:<kind>:<id>` | `e` | hash: one cached registry read — `v` value (JSON), `g` generation it was read under, `n` writes seen (`crate::registry::cached`); a token's id is its SHA-256 |
//! | `stats` | `stat:<metric>` | statistics: zset of `<value>:<bucket start>` scored by bucket, or a string |
//! | `cudw:<write key>` | `rec` | hash: one client write's record (`c:<op>:<i>`, `r:<op>:<i>`, `persisted`) |
//! | `cud:<source>:<client>` | `last`, `seq` | last accepted write key, write counter (`crate::sync::cud::records`) |
//! | `job:<id>` | `done` | job ledger entry (`crate::jobs::ledger`) |
//! | `job-error:<message id>` | `e` | why a job's message last failed, JSON (`crate::jobs::errors`) |
//! | `jobs` | `pings` | list of the last pings' results, JSON, newest first (`crate::jobs::history`) |
//! | `throttle:login:<login>`, `throttle:addr:<address>` | `<window start>` | failed (or in-flight) logins in that window (`crate::auth::throttle`) |
//!
//! The last three tags take their names as they are (no escaping), as they always have.

use crate::edges::redis::Keys;

/// The partition key of app-partitioned sources (docs/sync-engine.md §1.2).
pub const SHARED_PARTITION: &str = "__shared__";

fn tag_part(s: &str) -> std::borrow::Cow<'_, str> {
    // Braces would end the hash tag early; `|` separates the two parts. Most names have
    // none, and key building is on every request's path: borrow them as they are.
    if s.contains(['{', '}', '|']) {
        s.replace('{', "%7B").replace('}', "%7D").replace('|', "%7C").into()
    } else {
        s.into()
    }
}

/// Keys of one (source, partition).
#[derive(Debug, Clone)]
pub struct PartitionKeys {
    tag: String,
    keys: Keys,
    pub md: String,
    pub idx: String,
    pub hist: String,
    pub hlog: String,
    pub head: String,
    pub src: String,
    pub rs: String,
}

impl PartitionKeys {
    pub fn new(keys: &Keys, source: &str, partition: &str) -> Self {
        let tag = format!("{}|{}", tag_part(source), tag_part(partition));
        let k = |name: &str| keys.key(&tag, name);
        Self {
            md: k("md"),
            idx: k("idx"),
            hist: k("hist"),
            hlog: k("hlog"),
            head: k("head"),
            src: k("src"),
            rs: k("rs"),
            tag,
            keys: keys.clone(),
        }
    }

    /// The keys of one client's documents for this source, in the same slot.
    pub fn client(&self, client_id: &str) -> ClientKeys {
        let prefix = format!("c:{}:", tag_part(client_id));
        let k = |name: &str| {
            let mut name_in_tag = String::with_capacity(prefix.len() + name.len());
            name_in_tag.push_str(&prefix);
            name_in_tag.push_str(name);
            self.keys.key(&self.tag, &name_in_tag)
        };
        ClientKeys {
            st: k("st"),
            pin: k("pin"),
            sent: k("sent"),
            page: k("page"),
            links: k("links"),
            cerr: k("cerr"),
            uerr: k("uerr"),
            derr: k("derr"),
            urb: k("urb"),
            cdel: k("cdel"),
            search: k("search"),
        }
    }

    /// All partition keys (for deletion).
    pub fn all(&self) -> [&str; 7] {
        [&self.md, &self.idx, &self.hist, &self.hlog, &self.head, &self.src, &self.rs]
    }
}

/// Keys of one client's documents for one source.
#[derive(Debug, Clone)]
pub struct ClientKeys {
    pub st: String,
    pub pin: String,
    pub sent: String,
    pub page: String,
    pub links: String,
    pub cerr: String,
    pub uerr: String,
    pub derr: String,
    pub urb: String,
    pub cdel: String,
    pub search: String,
}

impl ClientKeys {
    /// Every client key (clientreset deletes them all).
    pub fn all(&self) -> [&str; 11] {
        [
            &self.st,
            &self.pin,
            &self.sent,
            &self.page,
            &self.links,
            &self.cerr,
            &self.uerr,
            &self.derr,
            &self.urb,
            &self.cdel,
            &self.search,
        ]
    }

    /// The pending-document hashes, in the order the scripts use.
    pub fn pending(&self) -> [&str; 6] {
        [&self.links, &self.cerr, &self.uerr, &self.derr, &self.urb, &self.cdel]
    }
}

/// Cached client record.
pub fn client_record(keys: &Keys, client_id: &str) -> String {
    keys.key(&format!("client:{}", tag_part(client_id)), "rec")
}

/// Poll-interval override set through the read-state API.
pub fn poll_interval(keys: &Keys, source: &str) -> String {
    keys.key(&format!("src:{}", tag_part(source)), "poll_interval")
}

/// Session checks of one login (see `crate::sync::sessions`): `exists` (short-lived cache
/// of the registry lookup) and `revoked` (sessions issued before this time are void).
pub fn login_session(keys: &Keys, login: &str, name: &str) -> String {
    keys.key(&format!("login:{}", tag_part(login)), name)
}

/// Time of the last system reset: every session issued at or before it is void.
pub fn sessions_reset(keys: &Keys) -> String {
    keys.key("sessions", "reset_at")
}

/// An adapter scratch document (or any document name without a mapping).
pub fn scratch(keys: &Keys, name: &str) -> String {
    keys.key(&format!("doc:{}", tag_part(name)), "v")
}

/// Hash tag of the small registry records (counters, app server URL).
const RECORDS_TAG: &str = "registry";
/// Hash tag of the statistics.
const STATS_TAG: &str = "stats";
/// The app server URL's RhoConnect name (a [`registry_record`]).
pub const APPSERVER_DOC: &str = "appserver_url";

/// A registry record kept in the cache, by its RhoConnect name (`user:count`,
/// `client:count`, `appserver_url`).
pub fn registry_record(keys: &Keys, docname: &str) -> String {
    keys.key(RECORDS_TAG, docname)
}

/// The generation of the registry read cache (`crate::registry::cached`).
pub fn registry_cache_generation(keys: &Keys) -> String {
    keys.key(RECORDS_TAG, "cache_gen")
}

/// One cached registry read: `kind` is `u` (user), `ut` (user → token), `t` (token →
/// user) or `c` (client). A token's value never appears in a key name: its id is its
/// SHA-256; other ids longer than 128 bytes are digested too.
pub fn registry_entry(keys: &Keys, kind: &str, id: &str) -> String {
    use sha2::Digest;
    let id: std::borrow::Cow<'_, str> = if kind == "t" || id.len() > THROTTLE_NAME_MAX {
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(id.as_bytes()))).into()
    } else {
        tag_part(id)
    };
    keys.key(&format!("reg:{kind}:{id}"), "e")
}

/// The statistics metric `metric` (RhoConnect name `stat:<metric>`).
pub fn stat(keys: &Keys, metric: &str) -> String {
    keys.key(STATS_TAG, &format!("stat:{metric}"))
}

/// What every statistics key starts with (the metric name follows).
pub fn stats_prefix(keys: &Keys) -> String {
    stat(keys, "")
}

/// The record of one client write (`crate::sync::cud::records`).
pub fn write_record(keys: &Keys, write_key: &str) -> String {
    keys.key(&format!("cudw:{write_key}"), "rec")
}

/// The last accepted write key and the write counter of one (source, client).
pub fn write_claim(keys: &Keys, source: &str, client_id: &str) -> (String, String) {
    let tag = format!("cud:{source}:{client_id}");
    (keys.key(&tag, "last"), keys.key(&tag, "seq"))
}

/// Logins longer than this are counted under a digest: a key name stays small whatever a
/// client sends.
const THROTTLE_NAME_MAX: usize = 128;

/// A login-throttle counter: the attempts of one login or one source address (`scope`
/// `login` / `addr`) in the window starting at `window_start`.
pub fn throttle(keys: &Keys, scope: &str, name: &str, window_start: u64) -> String {
    use sha2::Digest;
    let name: std::borrow::Cow<'_, str> = if name.len() > THROTTLE_NAME_MAX {
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(name.as_bytes()))).into()
    } else {
        tag_part(name)
    };
    keys.key(&format!("throttle:{scope}:{name}"), &window_start.to_string())
}

/// The job ledger's entry for job `job_id`.
pub fn job_done(keys: &Keys, job_id: &str) -> String {
    keys.key(&format!("job:{job_id}"), "done")
}

/// Escapes Redis glob metacharacters so `text` matches only itself.
pub fn escape_glob(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A `SCAN` pattern matching the `cerr`, `uerr` and `derr` documents of every client of
/// `source` in `partition` (every partition for `None`).
pub fn client_errors_pattern(keys: &Keys, source: &str, partition: Option<&str>) -> String {
    let part = partition.map_or_else(|| "*".to_owned(), |p| escape_glob(&tag_part(p)));
    format!("{}:{{{}|{part}}}:c:*:[cud]err", escape_glob(keys.namespace()), escape_glob(&tag_part(source)))
}

/// The partition, client id and operation of a key [`client_errors_pattern`] matched.
pub fn parse_client_error_key(keys: &Keys, key: &str) -> Option<(String, String, char)> {
    let rest = key.strip_prefix(keys.namespace())?.strip_prefix(":{")?;
    let (tag, name) = rest.split_once("}:c:")?;
    let (_, partition) = tag.rsplit_once('|')?;
    let (client, doc) = name.rsplit_once(':')?;
    let op = match doc {
        "cerr" => 'c',
        "uerr" => 'u',
        "derr" => 'd',
        _ => return None,
    };
    let unescape = |s: &str| s.replace("%7B", "{").replace("%7D", "}").replace("%7C", "|");
    Some((unescape(partition), unescape(client), op))
}

/// Why a job's message last failed (`crate::jobs::errors`), by SQS message id.
pub fn job_error(keys: &Keys, message_id: &str) -> String {
    keys.key(&format!("job-error:{}", tag_part(message_id)), "e")
}

/// The results of the last pings (`crate::jobs::history`), newest first.
pub fn recent_pings(keys: &Keys) -> String {
    keys.key("jobs", "pings")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_and_client_keys_share_one_tag() {
        let keys = Keys::new("rs");
        let p = PartitionKeys::new(&keys, "Product", "alice");
        let c = p.client("c1");
        assert_eq!(p.md, "rs:{Product|alice}:md");
        assert_eq!(c.st, "rs:{Product|alice}:c:c1:st");
        let odd = PartitionKeys::new(&keys, "P{x}", "a|b");
        assert_eq!(odd.md, "rs:{P%7Bx%7D|a%7Cb}:md");
    }

    #[test]
    fn client_error_keys_are_found_and_read_back() {
        let keys = Keys::new("rs");
        assert_eq!(client_errors_pattern(&keys, "Product", Some("amy")), "rs:{Product|amy}:c:*:[cud]err");
        assert_eq!(client_errors_pattern(&keys, "P*", None), "rs:{P\\*|*}:c:*:[cud]err");
        let ck = PartitionKeys::new(&keys, "Product", "a|b").client("c{1}");
        assert_eq!(parse_client_error_key(&keys, &ck.uerr), Some(("a|b".into(), "c{1}".into(), 'u')));
        assert_eq!(parse_client_error_key(&keys, &ck.st), None);
    }

    #[test]
    fn unit_tags_are_as_they_always_were() {
        let keys = Keys::new("rs");
        assert_eq!(registry_record(&keys, "user:count"), "rs:{registry}:user:count");
        assert_eq!(stat(&keys, "users"), "rs:{stats}:stat:users");
        assert_eq!(stats_prefix(&keys), "rs:{stats}:stat:");
        assert_eq!(write_record(&keys, "d.1"), "rs:{cudw:d.1}:rec");
        assert_eq!(write_claim(&keys, "P", "c1"), ("rs:{cud:P:c1}:last".to_owned(), "rs:{cud:P:c1}:seq".to_owned()));
        assert_eq!(job_done(&keys, "j1"), "rs:{job:j1}:done");
        assert_eq!(login_session(&keys, "a", "exists"), "rs:{login:a}:exists");
        assert_eq!(sessions_reset(&keys), "rs:{sessions}:reset_at");
        assert_eq!(throttle(&keys, "login", "a{b}", 60), "rs:{throttle:login:a%7Bb%7D}:60");
        assert!(throttle(&keys, "login", &"x".repeat(4096), 60).len() < 120);
        assert_eq!(registry_entry(&keys, "u", "a{b}"), "rs:{reg:u:a%7Bb%7D}:e");
        assert_eq!(registry_cache_generation(&keys), "rs:{registry}:cache_gen");
        let token = registry_entry(&keys, "t", "secret-token");
        assert!(token.starts_with("rs:{reg:t:sha256:") && !token.contains("secret"), "{token}");
    }
}
