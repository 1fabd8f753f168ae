//! The connection behind [`super::redis::RedisEdge`]: one Redis node through the crate's
//! auto-reconnecting `ConnectionManager`, or a Redis Cluster through its async cluster
//! client. Both are one [`RedisConn`], a `redis::aio::ConnectionLike`, so the store writes
//! its commands, scripts and pipelines once (docs/README.md §3 "Where data lives").
//!
//! What a cluster changes is handled here, not in the store:
//!
//! * a script or a transaction (`MULTI`) goes whole to the master of its keys' slot, so its
//!   keys must share one slot — the hash tags of `crate::store::keys` see to that, and
//!   [`SlotLog`] records what the store sends so a test proves it
//!   (`shared/server/tests/slots.rs`);
//! * a plain pipeline (batched reads or writes of unrelated keys) may name several slots:
//!   it is split into one sub-pipeline per slot, sent concurrently, and the answers are put
//!   back in order;
//! * `SCAN` walks every master in turn ([`RedisConn::scan_step`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::future::{try_join_all, FutureExt};
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, Slot, SlotAddr};
use redis::{Arg, Cmd, Pipeline, RedisFuture, RedisResult, Value};

/// A SCAN cursor of a cluster walk keeps the master's index above this many bits and the
/// node's own cursor below. A node's cursor is bounded by its hash table size, far below
/// 2^48 buckets.
const NODE_SHIFT: u32 = 48;
const NODE_CURSOR_MASK: u64 = (1 << NODE_SHIFT) - 1;

/// A Redis connection handle; cheap to clone (clones share the connection).
#[derive(Clone)]
pub enum RedisConn {
    /// One node (`redis://`, `rediss://`).
    Single(ConnectionManager),
    /// A Redis Cluster (`redis+cluster://`, `rediss+cluster://`).
    Cluster(ClusterConnection),
    /// Either of the above, recording the keys of every script and transaction it sends.
    Recorded(Box<RedisConn>, SlotLog),
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
            Self::Recorded(conn, log) => {
                if is_script(cmd) {
                    log.push(command_name(cmd), command_keys(cmd));
                }
                conn.req_packed_command(cmd)
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => {
                let groups = if pipeline.is_transaction() { Vec::new() } else { slot_groups(pipeline) };
                if groups.len() > 1 {
                    split_by_slot(conn.clone(), pipeline, groups).boxed()
                } else {
                    // One slot (or a transaction, or empty): as the crate sends it.
                    conn.req_packed_commands(pipeline, offset, count)
                }
            }
            Self::Recorded(conn, log) => {
                if pipeline.is_transaction() {
                    let names: Vec<String> = pipeline.cmd_iter().map(command_name).collect();
                    let keys = pipeline.cmd_iter().flat_map(command_keys).collect();
                    log.push(format!("MULTI {}", names.join(" ")), keys);
                } else {
                    for cmd in pipeline.cmd_iter().filter(|c| is_script(c)) {
                        log.push(command_name(cmd), command_keys(cmd));
                    }
                }
                conn.req_packed_commands(pipeline, offset, count)
            }
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
            Self::Recorded(conn, _) => conn.get_db(),
        }
    }
}

impl RedisConn {
    /// Whether this is a cluster connection.
    pub fn is_cluster(&self) -> bool {
        match self {
            Self::Single(_) => false,
            Self::Cluster(_) => true,
            Self::Recorded(conn, _) => conn.is_cluster(),
        }
    }

    /// This connection, recording into `log` (see [`SlotLog`]).
    pub fn recorded(self, log: SlotLog) -> Self {
        Self::Recorded(Box::new(self), log)
    }

    /// One `SCAN cursor MATCH pattern COUNT count` step: the next cursor (0 at the end) and
    /// this step's keys (a key may come twice over a whole walk).
    ///
    /// On a cluster the walk visits every master in turn, in slot order: the cursor's top
    /// bits name the master ([`NODE_SHIFT`]), the rest is that node's own cursor. A walk
    /// that spans a resharding may miss or repeat keys, like a SCAN over a resizing table.
    pub async fn scan_step(&mut self, cursor: u64, pattern: &str, count: usize) -> RedisResult<(u64, Vec<String>)> {
        let mut scan = redis::cmd("SCAN");
        let conn = match self {
            Self::Cluster(conn) => conn,
            Self::Recorded(inner, _) => return Box::pin(inner.scan_step(cursor, pattern, count)).await,
            Self::Single(_) => {
                return scan.arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(count).query_async(self).await
            }
        };
        let masters = master_slots(conn).await?;
        let node = (cursor >> NODE_SHIFT) as usize;
        let Some(slot) = masters.get(node) else {
            return Ok((0, Vec::new()));
        };
        scan.arg(cursor & NODE_CURSOR_MASK).arg("MATCH").arg(pattern).arg("COUNT").arg(count);
        let routing =
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::with_slot(*slot, SlotAddr::Master)));
        let (next, keys): (u64, Vec<String>) = redis::from_redis_value(conn.route_command(scan, routing).await?)?;
        if next > NODE_CURSOR_MASK {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Client,
                "SCAN cursor beyond the range a cluster walk can carry",
            )));
        }
        let next = match (next, node + 1 < masters.len()) {
            (0, true) => ((node as u64) + 1) << NODE_SHIFT,
            (0, false) => 0,
            (n, _) => ((node as u64) << NODE_SHIFT) | n,
        };
        Ok((next, keys))
    }
}

/// One slot of each master, in slot order (from `CLUSTER SLOTS`): routing a command to
/// that slot's master reaches each master once.
async fn master_slots(conn: &mut ClusterConnection) -> RedisResult<Vec<Slot>> {
    let reply = conn
        .route_command(
            redis::cmd("CLUSTER").arg("SLOTS").clone(),
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
        )
        .await?;
    Ok(first_slot_per_master(&reply).into_iter().filter_map(Slot::new).collect())
}

/// The lowest slot each master serves, sorted, from a `CLUSTER SLOTS` reply: an array of
/// `[start, end, [host, port, id, …], replicas…]`.
fn first_slot_per_master(reply: &Value) -> Vec<u16> {
    let Value::Array(ranges) = reply else { return Vec::new() };
    let mut first: HashMap<Vec<u8>, u16> = HashMap::new();
    for range in ranges {
        let Value::Array(parts) = range else { continue };
        let (Some(Value::Int(start)), Some(Value::Array(master))) = (parts.first(), parts.get(2)) else { continue };
        let Ok(start) = u16::try_from(*start) else { continue };
        // The node id names the master; without one (very old servers) host and port do.
        let name: Vec<u8> = match master.get(2) {
            Some(Value::BulkString(id)) => id.clone(),
            _ => format!("{:?}{:?}", master.first(), master.get(1)).into_bytes(),
        };
        first.entry(name).and_modify(|s| *s = (*s).min(start)).or_insert(start);
    }
    let mut slots: Vec<u16> = first.into_values().collect();
    slots.sort_unstable();
    slots
}

/// The slots a plain pipeline names and, for each, the indices of its commands, in the
/// order the slots first appear. Keyless commands go with the first group.
fn slot_groups(pipeline: &Pipeline) -> Vec<(Option<Slot>, Vec<usize>)> {
    let mut groups: Vec<(Option<Slot>, Vec<usize>)> = Vec::new();
    for (i, cmd) in pipeline.cmd_iter().enumerate() {
        let slot = command_keys(cmd).first().map(Slot::for_key);
        match groups.iter_mut().find(|(s, _)| slot.is_none() || s.is_none() || *s == slot) {
            Some((s, members)) => {
                if s.is_none() {
                    *s = slot;
                }
                members.push(i);
            }
            None => groups.push((slot, vec![i])),
        }
    }
    groups
}

/// Sends a plain pipeline as one sub-pipeline per slot group, concurrently, and returns
/// the answers in the pipeline's order.
async fn split_by_slot(
    conn: ClusterConnection,
    pipeline: &Pipeline,
    groups: Vec<(Option<Slot>, Vec<usize>)>,
) -> RedisResult<Vec<Value>> {
    let cmds: Vec<&Cmd> = pipeline.cmd_iter().collect();
    let sends = groups.iter().map(|(slot, members)| {
        let mut conn = conn.clone();
        let mut sub = redis::pipe();
        for &i in members {
            sub.add_command(cmds[i].clone());
        }
        let route = slot.map_or(SingleNodeRoutingInfo::RandomPrimary, |s| {
            SingleNodeRoutingInfo::SpecificNode(Route::with_slot(s, SlotAddr::Master))
        });
        async move { conn.route_pipeline(sub, 0, members.len(), route).await }
    });
    let answers = try_join_all(sends).await?;
    let mut values = vec![Value::Nil; cmds.len()];
    for ((_, members), answer) in groups.iter().zip(answers) {
        for (&i, value) in members.iter().zip(answer) {
            if let Some(v) = values.get_mut(i) {
                *v = value;
            }
        }
    }
    Ok(values)
}

fn simple_args(cmd: &Cmd) -> Vec<&[u8]> {
    cmd.args_iter()
        .filter_map(|a| match a {
            Arg::Simple(bytes) => Some(bytes),
            _ => None,
        })
        .collect()
}

fn command_name(cmd: &Cmd) -> String {
    simple_args(cmd).first().map(|n| String::from_utf8_lossy(n).to_ascii_uppercase()).unwrap_or_default()
}

fn is_script(cmd: &Cmd) -> bool {
    matches!(command_name(cmd).as_str(), "EVAL" | "EVALSHA" | "EVAL_RO" | "EVALSHA_RO" | "FCALL" | "FCALL_RO")
}

/// The keys a command names: a script's `KEYS`, every argument of the multi-key commands,
/// none for the keyless commands, else the first argument (the key of every single-key
/// command the store sends).
pub fn command_keys(cmd: &Cmd) -> Vec<Vec<u8>> {
    let args = simple_args(cmd);
    let name = command_name(cmd);
    match name.as_str() {
        "EVAL" | "EVALSHA" | "EVAL_RO" | "EVALSHA_RO" | "FCALL" | "FCALL_RO" => {
            let n = args
                .get(2)
                .and_then(|n| std::str::from_utf8(n).ok())
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(0);
            args.iter().skip(3).take(n).map(|k| k.to_vec()).collect()
        }
        "DEL" | "UNLINK" | "MGET" | "EXISTS" | "TOUCH" | "WATCH" => args.iter().skip(1).map(|k| k.to_vec()).collect(),
        // Commands without a key (of those a store might send).
        "PING" | "ECHO" | "SCRIPT" | "CLUSTER" | "INFO" | "MULTI" | "EXEC" | "DISCARD" | "SCAN" | "TIME" | "DBSIZE"
        | "CONFIG" | "CLIENT" | "COMMAND" | "FLUSHDB" | "FLUSHALL" | "SELECT" | "AUTH" | "HELLO" | "MEMORY" => {
            Vec::new()
        }
        _ => args.get(1).map(|k| vec![k.to_vec()]).unwrap_or_default(),
    }
}

/// What a [`RedisConn::Recorded`] connection saw: one entry per script call or
/// transaction, with the keys it named. Clones share the log.
#[derive(Clone, Default)]
pub struct SlotLog(Arc<Mutex<Vec<SlotUnit>>>);

/// One script call or transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotUnit {
    /// `EVALSHA`, or `MULTI` and the transaction's command names.
    pub what: String,
    pub keys: Vec<String>,
}

impl SlotUnit {
    /// Whether every key hashes to the same cluster slot.
    pub fn one_slot(&self) -> bool {
        let mut slots = self.keys.iter().map(Slot::for_key);
        match slots.next() {
            Some(first) => slots.all(|s| s == first),
            None => true,
        }
    }
}

impl SlotLog {
    fn push(&self, what: String, keys: Vec<Vec<u8>>) {
        let keys = keys.into_iter().map(|k| String::from_utf8_lossy(&k).into_owned()).collect();
        if let Ok(mut units) = self.0.lock() {
            units.push(SlotUnit { what, keys });
        }
    }

    /// Every unit recorded so far.
    pub fn units(&self) -> Vec<SlotUnit> {
        self.0.lock().map(|u| u.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn node(port: i64, id: &str) -> Value {
        Value::Array(vec![bulk("127.0.0.1"), Value::Int(port), bulk(id)])
    }

    #[test]
    fn one_slot_per_master_in_slot_order() {
        let reply = Value::Array(vec![
            Value::Array(vec![Value::Int(10923), Value::Int(16383), node(7002, "c")]),
            Value::Array(vec![Value::Int(0), Value::Int(5460), node(7000, "a"), node(7003, "r")]),
            Value::Array(vec![Value::Int(5461), Value::Int(10922), node(7001, "b")]),
            // A second range of master a.
            Value::Array(vec![Value::Int(16000), Value::Int(16001), node(7000, "a")]),
        ]);
        assert_eq!(first_slot_per_master(&reply), vec![0, 5461, 10923]);
        assert_eq!(first_slot_per_master(&Value::Nil), Vec::<u16>::new());
    }

    #[test]
    fn a_plain_pipeline_is_grouped_by_slot_in_first_seen_order() {
        let mut pipe = redis::pipe();
        pipe.cmd("GET").arg("rs:{a}:1").cmd("GET").arg("rs:{b}:1").cmd("PING").cmd("GET").arg("rs:{a}:2");
        let groups = slot_groups(&pipe);
        let members: Vec<Vec<usize>> = groups.iter().map(|(_, m)| m.clone()).collect();
        assert_eq!(members, vec![vec![0, 2, 3], vec![1]]);
        assert_eq!(groups[0].0, Some(Slot::for_key("rs:{a}:x")));
        assert!(slot_groups(&redis::pipe()).is_empty());
    }

    #[test]
    fn keys_of_scripts_and_commands() {
        let mut eval = redis::cmd("EVALSHA");
        eval.arg("abc").arg(2).arg("k1").arg("k2").arg("argv1");
        assert_eq!(command_keys(&eval), vec![b"k1".to_vec(), b"k2".to_vec()]);
        let mut del = redis::cmd("DEL");
        del.arg("a").arg("b");
        assert_eq!(command_keys(&del), vec![b"a".to_vec(), b"b".to_vec()]);
        let mut hset = redis::cmd("HSET");
        hset.arg("h").arg("f").arg("v");
        assert_eq!(command_keys(&hset), vec![b"h".to_vec()]);
        assert!(command_keys(&redis::cmd("PING")).is_empty());
    }

    #[test]
    fn a_unit_is_one_slot_only_when_its_tags_agree() {
        let unit =
            |keys: &[&str]| SlotUnit { what: "EVALSHA".into(), keys: keys.iter().map(|k| k.to_string()).collect() };
        assert!(unit(&["rs:{a}:x", "rs:{a}:y"]).one_slot());
        assert!(!unit(&["rs:{a}:x", "rs:{b}:y"]).one_slot());
        assert!(unit(&[]).one_slot());
    }
}
