//! `rhosync-admin import-rhoconnect`: reads a running RhoConnect 7 (or RhoSync 3)
//! deployment's Redis and sends its users, admin tokens, clients, source poll intervals and
//! app server URL to `POST /rc/v1/system/import` (docs/migrating.md §2). It only reads the
//! old Redis (SCAN, never KEYS) and only writes through the REST API, like every other
//! command here.
//!
//! Order of work, so that a failure leaves nothing half-written: recognise the layout
//! (refusing an empty Redis or one it does not know), parse every record into typed
//! records (a malformed one aborts with its key named), send every batch once as a dry
//! run (the server checks it whole), then send them for real. The `rhoadmin` record comes
//! last: once its token is imported, the token this run logged in with may be gone.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use indicatif::{ProgressBar, ProgressStyle};
use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::CliError;

/// The admin login RhoConnect bootstraps.
const ADMIN_LOGIN: &str = "rhoadmin";

/// The device fields a client record carries (RhoSync 3 has only the first three).
const DEVICE_FIELDS: [&str; 7] =
    ["device_type", "device_pin", "device_port", "device_push_type", "phone_id", "device_app_id", "device_app_version"];

/// Keys read per pipelined round trip.
const READ_CHUNK: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct User {
    pub login: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hashed_password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    pub admin: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Client {
    pub id: String,
    pub user_id: String,
    pub app_id: String,
    pub device: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub name: String,
    pub poll_interval: i64,
}

/// Which deployment the Redis belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// RhoConnect 4–7: the `user:count` / `client:count` counters are there.
    RhoConnect,
    /// RhoSync 3 (and early RhoConnect): the same records without the counters.
    RhoSync3,
}

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Layout::RhoConnect => "RhoConnect 4-7",
            Layout::RhoSync3 => "RhoSync 3",
        }
    }
}

/// Everything read from the old Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub layout: Layout,
    pub users: Vec<User>,
    pub clients: Vec<Client>,
    pub sources: Vec<Source>,
    pub appserver: Option<String>,
    /// Records left out, each with why (not errors: RhoConnect itself ignores them).
    pub problems: Vec<String>,
}

fn refuse(message: String) -> CliError {
    CliError::Import(message)
}

async fn scan(conn: &mut MultiplexedConnection, pattern: &str) -> Result<Vec<String>, CliError> {
    let mut cursor: u64 = 0;
    let mut out = Vec::new();
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .map_err(redis_error)?;
        out.extend(keys);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn redis_error(e: redis::RedisError) -> CliError {
    refuse(format!("reading the RhoConnect Redis: {e}"))
}

/// `user:<id>:rho__id` → `<id>`.
fn middle<'a>(key: &'a str, prefix: &str, suffix: &str) -> Option<&'a str> {
    key.strip_prefix(prefix)?.strip_suffix(suffix).filter(|m| !m.is_empty())
}

/// Reads `fields` of each record `<prefix>:<id>:<field>`, one pipelined MGET per record.
async fn read_records(
    conn: &mut MultiplexedConnection,
    prefix: &str,
    ids: &[String],
    fields: &[&str],
    progress: &ProgressBar,
) -> Result<Vec<Vec<Option<String>>>, CliError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(READ_CHUNK) {
        let mut pipe = redis::pipe();
        for id in chunk {
            let mut mget = redis::cmd("MGET");
            for field in fields {
                mget.arg(format!("{prefix}:{id}:{field}"));
            }
            pipe.add_command(mget);
        }
        let rows: Vec<Vec<Option<String>>> = pipe.query_async(conn).await.map_err(redis_error)?;
        progress.inc(chunk.len() as u64);
        out.extend(rows);
    }
    Ok(out)
}

/// Connects, recognises the layout and parses every record; writes nothing anywhere.
pub async fn read(url: &str, progress: &ProgressBar) -> Result<Export, CliError> {
    let client = redis::Client::open(url).map_err(|e| refuse(format!("bad Redis URL {url}: {e}")))?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| refuse(format!("cannot reach the RhoConnect Redis at {url}: {e}")))?;
    let size: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await.map_err(redis_error)?;
    if size == 0 {
        return Err(refuse(format!("the Redis at {url} is empty: nothing to import (is it the right database?)")));
    }
    let user_keys = scan(&mut conn, "user:*:rho__id").await?;
    let app: Vec<Option<String>> = redis::cmd("MGET")
        .arg("app:application:rho__id")
        .arg("app:application:name")
        .arg("user:count")
        .arg("client:count")
        .query_async(&mut conn)
        .await
        .map_err(redis_error)?;
    let has_app = app.first().is_some_and(Option::is_some) || app.get(1).is_some_and(Option::is_some);
    if user_keys.is_empty() && !has_app {
        return Err(refuse(foreign(&mut conn, url, size).await?));
    }
    let layout = if app.get(2).is_some_and(Option::is_some) || app.get(3).is_some_and(Option::is_some) {
        Layout::RhoConnect
    } else {
        Layout::RhoSync3
    };
    let client_keys = scan(&mut conn, "client:*:rho__id").await?;
    let source_keys = scan(&mut conn, "source:*:poll_interval").await?;
    progress.set_length((user_keys.len() + client_keys.len() + source_keys.len()) as u64);
    progress.set_message("reading");
    let mut problems = Vec::new();

    let logins: Vec<String> =
        user_keys.iter().filter_map(|k| middle(k, "user:", ":rho__id")).map(str::to_owned).collect();
    let fields = ["rho__id", "email", "salt", "hashed_password", "admin", "token_id"];
    let rows = read_records(&mut conn, "user", &logins, &fields, progress).await?;
    let mut users = Vec::with_capacity(logins.len());
    for (login, row) in logins.iter().zip(rows) {
        users.push(parse_user(login, &row)?);
    }
    // Admin tokens: the record must exist and name its user, as RhoConnect checks.
    for user in &mut users {
        let Some(token) = user.token.take() else { continue };
        if !user.admin {
            problems.push(format!("user:{}:token_id: the token of a non-admin user is not imported", user.login));
            continue;
        }
        let owner: Option<String> = redis::cmd("GET")
            .arg(format!("api_token:{token}:user_id"))
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        if owner.as_deref() == Some(user.login.as_str()) {
            user.token = Some(token);
        } else {
            problems.push(format!("user:{}:token_id: no api_token record of that user; not imported", user.login));
        }
    }

    let ids: Vec<String> =
        client_keys.iter().filter_map(|k| middle(k, "client:", ":rho__id")).map(str::to_owned).collect();
    let mut fields = vec!["user_id", "app_id", "last_sync"];
    fields.extend(DEVICE_FIELDS);
    let rows = read_records(&mut conn, "client", &ids, &fields, progress).await?;
    let known: HashSet<&str> = logins.iter().map(String::as_str).collect();
    let mut clients = Vec::with_capacity(ids.len());
    for (id, row) in ids.iter().zip(rows) {
        let client = parse_client(id, &row)?;
        if known.contains(client.user_id.as_str()) {
            clients.push(client);
        } else {
            problems.push(format!("client:{id}:user_id: user {} does not exist; not imported", client.user_id));
        }
    }

    let names: Vec<String> =
        source_keys.iter().filter_map(|k| middle(k, "source:", ":poll_interval")).map(str::to_owned).collect();
    let mut sources = Vec::with_capacity(names.len());
    for (name, key) in names.iter().zip(&source_keys) {
        let value: Option<String> = redis::cmd("GET").arg(key).query_async(&mut conn).await.map_err(redis_error)?;
        progress.inc(1);
        let Some(value) = value else { continue };
        let poll_interval =
            value.trim().parse().map_err(|_| refuse(format!("{key}: {value:?} is not a number of seconds")))?;
        sources.push(Source { name: name.clone(), poll_interval });
    }
    let appserver: Option<String> =
        redis::cmd("GET").arg("appserver_url").query_async(&mut conn).await.map_err(redis_error)?;
    Ok(Export { layout, users, clients, sources, appserver: appserver.filter(|u| !u.is_empty()), problems })
}

/// The refusal for a Redis that holds keys, none of them RhoConnect's.
async fn foreign(conn: &mut MultiplexedConnection, url: &str, size: u64) -> Result<String, CliError> {
    let (_, sample): (u64, Vec<String>) =
        redis::cmd("SCAN").arg(0).arg("COUNT").arg(100).query_async(conn).await.map_err(redis_error)?;
    let mut shown: Vec<&str> = sample.iter().map(String::as_str).take(5).collect();
    shown.sort_unstable();
    let ours = sample.iter().any(|k| k.contains(":{"));
    let hint = if ours { " (keys with {hash tags}: this looks like a rhosync Redis, not RhoConnect's)" } else { "" };
    Ok(format!(
        "the Redis at {url} does not hold a RhoConnect or RhoSync layout: no user:<login>:rho__id or \
         app:application:* keys among its {size} keys; found e.g. {}{hint}",
        shown.join(", ")
    ))
}

fn parse_user(login: &str, row: &[Option<String>]) -> Result<User, CliError> {
    let get = |i: usize| row.get(i).cloned().flatten().filter(|v| !v.is_empty());
    let key = |field: &str| format!("user:{login}:{field}");
    if get(0).as_deref() != Some(login) {
        return Err(refuse(format!("{}: does not name the user {login}", key("rho__id"))));
    }
    let hashed_password = get(3);
    if let Some(hash) = &hashed_password {
        if hash.len() != 40 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(refuse(format!("{}: not a SHA-1 hex digest", key("hashed_password"))));
        }
    }
    let salt = get(2);
    if salt.as_deref().is_some_and(|s| s.contains('$')) {
        return Err(refuse(format!("{}: contains '$'", key("salt"))));
    }
    let admin = match get(4).as_deref().map(str::trim) {
        None | Some("0") => false,
        Some("1") => true,
        Some(other) => return Err(refuse(format!("{}: {other:?} is not 0 or 1", key("admin")))),
    };
    Ok(User {
        login: login.to_owned(),
        email: get(1),
        hashed_password,
        salt,
        admin: admin || login == ADMIN_LOGIN,
        token: get(5),
    })
}

fn parse_client(id: &str, row: &[Option<String>]) -> Result<Client, CliError> {
    let get = |i: usize| row.get(i).cloned().flatten().filter(|v| !v.is_empty());
    let Some(user_id) = get(0) else {
        return Err(refuse(format!("client:{id}:user_id: missing")));
    };
    let app_id = get(1).unwrap_or_else(|| "application".to_owned());
    if app_id != "application" {
        return Err(refuse(format!("client:{id}:app_id: {app_id:?} is not 'application'")));
    }
    let device =
        DEVICE_FIELDS.iter().enumerate().filter_map(|(i, f)| get(3 + i).map(|v| ((*f).to_owned(), v))).collect();
    Ok(Client { id: id.to_owned(), user_id, app_id, device, last_sync: get(2) })
}

/// The request bodies, in the order they are sent: users, clients, sources and the app
/// server URL, then `rhoadmin` alone.
pub fn batches(export: &Export, size: usize) -> Vec<Value> {
    let size = size.max(1);
    let mut out = Vec::new();
    let (admin, users): (Vec<&User>, Vec<&User>) = export.users.iter().partition(|u| u.login == ADMIN_LOGIN);
    for chunk in users.chunks(size) {
        out.push(json!({ "users": chunk }));
    }
    for chunk in export.clients.chunks(size) {
        out.push(json!({ "clients": chunk }));
    }
    let mut tail = json!({ "sources": export.sources });
    if let Some(url) = &export.appserver {
        tail["appserver"] = json!(url);
    }
    out.push(tail);
    if !admin.is_empty() {
        out.push(json!({ "users": admin }));
    }
    out
}

/// What was read, for the first line of the output.
pub fn summary(export: &Export, url: &str) -> String {
    let admins = export.users.iter().filter(|u| u.admin).count();
    let tokens = export.users.iter().filter(|u| u.token.is_some()).count();
    let pushable = export.clients.iter().filter(|c| c.device.contains_key("device_pin")).count();
    format!(
        "{} layout at {url}: {} users ({admins} admins), {tokens} API tokens, {} clients ({pushable} with a push \
         registration), {} source settings, app server URL {}",
        export.layout.name(),
        export.users.len(),
        export.clients.len(),
        export.sources.len(),
        if export.appserver.is_some() { "set" } else { "not set" },
    )
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
struct Tally {
    created: u64,
    unchanged: u64,
    updated: u64,
}

#[derive(Debug, Default, Deserialize)]
struct Report {
    users: Tally,
    tokens: Tally,
    clients: Tally,
    sources: Tally,
    appserver: Tally,
    #[serde(default)]
    skipped: Vec<String>,
}

/// Runs the command: `send(body)` posts one batch and returns the server's answer.
pub async fn run<F, Fut>(url: &str, dry_run: bool, batch: usize, mut send: F) -> Result<String, CliError>
where
    F: FnMut(Value) -> Fut,
    Fut: std::future::Future<Output = Result<String, CliError>>,
{
    let progress = ProgressBar::new(0);
    progress.set_style(
        ProgressStyle::with_template("{msg:>8} [{bar:30}] {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let export = read(url, &progress).await?;
    let mut out = summary(&export, url);
    if dry_run {
        progress.finish_and_clear();
        for problem in export.problems.iter().take(20) {
            let _ = write!(out, "\nskipped: {problem}");
        }
        out.push_str("\ndry run: nothing was sent");
        return Ok(out);
    }
    let bodies = batches(&export, batch);
    // First every batch as a dry run: the server refuses a bad batch before anything is written.
    progress.set_length(bodies.len() as u64 * 2);
    progress.set_position(0);
    progress.set_message("checking");
    for body in &bodies {
        let mut body = body.clone();
        body["dry_run"] = json!(true);
        send(body).await?;
        progress.inc(1);
    }
    progress.set_message("writing");
    let mut total = Report::default();
    let mut skipped = export.problems.clone();
    for body in bodies {
        let answer = send(body).await?;
        let report: Report = serde_json::from_str(&answer)
            .map_err(|e| refuse(format!("unexpected answer from the server ({e}): {answer}")))?;
        for (sum, part) in [
            (&mut total.users, report.users),
            (&mut total.tokens, report.tokens),
            (&mut total.clients, report.clients),
            (&mut total.sources, report.sources),
            (&mut total.appserver, report.appserver),
        ] {
            sum.created += part.created;
            sum.unchanged += part.unchanged;
            sum.updated += part.updated;
        }
        skipped.extend(report.skipped);
        progress.inc(1);
    }
    progress.finish_and_clear();
    for (name, t) in [
        ("users", total.users),
        ("tokens", total.tokens),
        ("clients", total.clients),
        ("sources", total.sources),
        ("app server URL", total.appserver),
    ] {
        let _ = write!(out, "\n{name}: {} created, {} already there, {} updated", t.created, t.unchanged, t.updated);
    }
    for problem in &skipped {
        let _ = write!(out, "\nskipped: {problem}");
    }
    if export.users.iter().any(|u| u.login == ADMIN_LOGIN && u.token.is_some())
        && total.tokens.created + total.tokens.updated > 0
    {
        out.push_str("\nnote: the API token is now the old deployment's rhoadmin token");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The refusal's own text, without the `import refused:` prefix of its Display.
    fn refusal<T>(result: Result<T, CliError>) -> Option<String> {
        match result {
            Err(CliError::Import(message)) => Some(message),
            _ => None,
        }
    }

    fn row(values: &[&str]) -> Vec<Option<String>> {
        values.iter().map(|v| if v.is_empty() { None } else { Some((*v).to_owned()) }).collect()
    }

    #[test]
    fn parses_users_and_names_the_key_of_a_malformed_one() {
        let hash = "a".repeat(40);
        let user = parse_user("alice", &row(&["alice", "a@x", "salt", &hash, "0", ""])).expect("user");
        assert_eq!((user.admin, user.hashed_password.as_deref()), (false, Some(hash.as_str())));
        let err = refusal(parse_user("bob", &row(&["bob", "", "s", "nothex", "0", ""])));
        assert_eq!(err.as_deref(), Some("user:bob:hashed_password: not a SHA-1 hex digest"));
        let err = refusal(parse_user("bob", &row(&["bob", "", "s", &hash, "yes", ""])));
        assert!(err.unwrap_or_default().starts_with("user:bob:admin"));
        assert!(parse_user(ADMIN_LOGIN, &row(&[ADMIN_LOGIN, "", "s", &hash, "", ""])).is_ok_and(|u| u.admin));
    }

    #[test]
    fn parses_clients_of_both_generations() {
        // RhoSync 3: device_type, device_pin and device_port only.
        let mut values = vec!["alice", "application", ""];
        values.extend(["iPhone", "tok", "100", "", "", "", ""]);
        let client = parse_client("c1", &row(&values)).expect("client");
        assert_eq!(client.device.get("device_pin").map(String::as_str), Some("tok"));
        assert!(!client.device.contains_key("device_push_type"));
        let err = refusal(parse_client("c2", &row(&["", "application"])));
        assert_eq!(err.as_deref(), Some("client:c2:user_id: missing"));
    }

    #[test]
    fn rhoadmin_is_sent_last() {
        let export = Export {
            layout: Layout::RhoConnect,
            users: vec![
                User { login: ADMIN_LOGIN.into(), admin: true, ..User::default() },
                User { login: "alice".into(), ..User::default() },
            ],
            clients: vec![],
            sources: vec![],
            appserver: None,
            problems: vec![],
        };
        let b = batches(&export, 10);
        assert_eq!(b.len(), 3);
        assert_eq!(b[2]["users"][0]["login"], ADMIN_LOGIN);
    }
}
