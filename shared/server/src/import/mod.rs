//! Importing a running RhoConnect deployment's records (docs/migrating.md §2): the rules of
//! `POST /rc/v1/system/import`. `rhosync-admin import-rhoconnect` reads the old Redis and
//! sends what it found in [`Batch`]es; this module checks a whole batch first
//! ([`validate`]) and only then writes it through the registry port, the source settings
//! and the app server URL (`crate::sync::sources`, `crate::registry::cache`) — or, for a
//! dry run, only works out what it would write.
//!
//! Every record is merged, so a second import of the same data changes nothing:
//!
//! * a user is created, or its email and admin flag are brought in line. Its RhoConnect
//!   SHA-1 hash is stored as a legacy record (`sha1$<salt>$<hex>`, which the login upgrades
//!   to argon2id, `crate::registry::login`) unless the user already has a password of ours
//!   (set or upgraded here): that one wins. `rhoadmin` is the exception while its token is
//!   not yet the old deployment's: the first import replaces the bootstrap password too.
//! * an admin's API token is given to it unchanged (`Registry::set_user_token`): backend
//!   scripts keep working. For `rhoadmin` that makes the old token the server's token, and
//!   the bootstrap token stops working.
//! * a client keeps its id, owner and device registration (`device_type`, `device_pin`, ...)
//!   so pings reach it on day one.
//! * a source's poll interval (the one source setting RhoConnect kept in Redis) becomes an
//!   override only when it differs from this stack's settings; sources this stack does not
//!   know are skipped and reported.
//! * the app server URL is set where `POST /rc/v1/system/appserver` keeps it.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::registry::cache::{self, Counter};
use crate::registry::{ClientRecord, RegistryError, User, ADMIN_LOGIN, DEVICE_FIELDS};
use crate::store::StoreError;
use crate::sync::sources::{self, SourcesError};
use crate::sync::SyncServices;

/// Most records one batch may carry.
pub const MAX_BATCH: usize = 1000;
/// Longest login, client id, token or source name accepted (as the REST API's limits).
const MAX_ID: usize = 256;
/// The partition name RhoConnect reserves for app-partitioned data.
const SHARED_PARTITION: &str = "__shared__";

/// A user as RhoConnect stored it (`user:<login>:*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ImportUser {
    pub login: String,
    #[serde(default)]
    pub email: Option<String>,
    /// 40 hex characters: SHA-1 of password + salt. Absent for users without a password.
    #[serde(default)]
    pub hashed_password: Option<String>,
    #[serde(default)]
    pub salt: Option<String>,
    #[serde(default)]
    pub admin: bool,
    /// The admin's API token value (admins only).
    #[serde(default)]
    pub token: Option<String>,
}

/// A client (device install) as RhoConnect stored it (`client:<id>:*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ImportClient {
    pub id: String,
    pub user_id: String,
    #[serde(default)]
    pub app_id: Option<String>,
    /// `device_type`, `device_push_type`, `device_pin`, `device_port`, `phone_id`,
    /// `device_app_id`, `device_app_version`.
    #[serde(default)]
    pub device: BTreeMap<String, String>,
    #[serde(default)]
    pub last_sync: Option<String>,
}

/// A source setting RhoConnect kept in Redis (`source:<name>:poll_interval`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ImportSource {
    pub name: String,
    pub poll_interval: i64,
}

/// One request's worth of records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Batch {
    #[serde(default)]
    pub users: Vec<ImportUser>,
    #[serde(default)]
    pub clients: Vec<ImportClient>,
    #[serde(default)]
    pub sources: Vec<ImportSource>,
    /// The app server URL; absent: left as it is.
    #[serde(default)]
    pub appserver: Option<String>,
    /// Check and count only; nothing is written.
    #[serde(default)]
    pub dry_run: bool,
}

/// Created / already there and equal / brought in line, for one kind of record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Tally {
    pub created: u64,
    pub unchanged: u64,
    pub updated: u64,
}

impl Tally {
    fn add(&mut self, change: Change) {
        match change {
            Change::Created => self.created += 1,
            Change::Unchanged => self.unchanged += 1,
            Change::Updated => self.updated += 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Created,
    Unchanged,
    Updated,
}

/// What a batch did (or, dry, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Report {
    pub users: Tally,
    pub tokens: Tally,
    pub clients: Tally,
    pub sources: Tally,
    pub appserver: Tally,
    /// Records left alone, each with why.
    pub skipped: Vec<String>,
    pub dry_run: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The batch is refused as a whole; nothing was written.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sources(#[from] SourcesError),
}

fn invalid(what: String) -> ImportError {
    ImportError::Invalid(what)
}

/// The stored form of a RhoConnect hash: what `crate::registry::password` verifies.
pub fn legacy_hash(hashed_password: &str, salt: &str) -> String {
    format!("sha1${salt}${}", hashed_password.to_ascii_lowercase())
}

fn check_id(kind: &str, id: &str) -> Result<(), ImportError> {
    if id.is_empty() {
        return Err(invalid(format!("{kind}: empty id")));
    }
    if id.len() > MAX_ID || id.chars().any(char::is_control) {
        return Err(invalid(format!("{kind} {id:?}: too long or has control characters")));
    }
    Ok(())
}

/// Checks a batch without reading anything: shapes, formats, duplicates.
pub fn validate_shape(batch: &Batch) -> Result<(), ImportError> {
    let total = batch.users.len() + batch.clients.len() + batch.sources.len();
    if total > MAX_BATCH {
        return Err(invalid(format!("a batch holds at most {MAX_BATCH} records, not {total}")));
    }
    let mut logins = HashSet::new();
    let mut tokens = HashSet::new();
    for user in &batch.users {
        check_id("user", &user.login)?;
        let login = &user.login;
        if login == SHARED_PARTITION {
            return Err(invalid(format!("user {login}: reserved login")));
        }
        if !logins.insert(login.as_str()) {
            return Err(invalid(format!("user {login}: twice in the batch")));
        }
        if user.email.as_deref().is_some_and(|e| e.len() > MAX_ID * 4)
            || user.salt.as_deref().is_some_and(|s| s.len() > MAX_ID)
        {
            return Err(invalid(format!("user {login}: email or salt too long")));
        }
        if let Some(hash) = &user.hashed_password {
            if hash.len() != 40 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(format!("user {login}: hashed_password is not a SHA-1 hex digest")));
            }
            if user.salt.as_deref().unwrap_or_default().contains('$') {
                return Err(invalid(format!("user {login}: salt contains '$'")));
            }
        }
        if let Some(token) = &user.token {
            check_id("token", token)?;
            if !user.admin {
                return Err(invalid(format!("user {login}: only admins keep an API token")));
            }
            if !tokens.insert(token.as_str()) {
                return Err(invalid(format!("user {login}: its token is another user's too")));
            }
        }
    }
    let mut ids = HashSet::new();
    for client in &batch.clients {
        check_id("client", &client.id)?;
        let id = &client.id;
        if !ids.insert(id.as_str()) {
            return Err(invalid(format!("client {id}: twice in the batch")));
        }
        check_id(&format!("client {id}: user"), &client.user_id)?;
        if let Some(app) = client.app_id.as_deref().filter(|a| !a.is_empty() && *a != crate::auth::session::APP_NAME) {
            return Err(invalid(format!("client {id}: app {app:?} is not 'application'")));
        }
        if let Some(field) = client.device.keys().find(|k| !DEVICE_FIELDS.contains(&k.as_str())) {
            return Err(invalid(format!("client {id}: unknown device field {field:?}")));
        }
        if client.device.values().chain(client.last_sync.iter()).any(|v| v.len() > MAX_ID * 16) {
            return Err(invalid(format!("client {id}: a device field is too long")));
        }
    }
    let mut names = HashSet::new();
    for source in &batch.sources {
        check_id("source", &source.name)?;
        if !names.insert(source.name.as_str()) {
            return Err(invalid(format!("source {}: twice in the batch", source.name)));
        }
    }
    Ok(())
}

/// What one user becomes, given what is stored: `None` when nothing changes.
fn merged_user(user: &ImportUser, stored: Option<&User>, token_is_imported: bool) -> (User, Change) {
    let imported_hash = user.hashed_password.as_deref().map(|h| legacy_hash(h, user.salt.as_deref().unwrap_or("")));
    let Some(stored) = stored else {
        let new = User {
            login: user.login.clone(),
            password_hash: imported_hash,
            email: user.email.clone(),
            admin: user.admin,
        };
        return (new, Change::Created);
    };
    let ours = stored.password_hash.as_deref().is_some_and(|h| !h.starts_with("sha1$"));
    // rhoadmin's bootstrap password is ours too, but the old deployment's wins until its
    // token was imported once (docs/migrating.md §2).
    let keep_ours = ours && (stored.login != ADMIN_LOGIN || token_is_imported);
    let password_hash = if keep_ours || imported_hash.is_none() { stored.password_hash.clone() } else { imported_hash };
    let admin = user.admin || stored.login == ADMIN_LOGIN;
    let new = User { login: user.login.clone(), password_hash, email: user.email.clone(), admin };
    let change = if &new == stored { Change::Unchanged } else { Change::Updated };
    (new, change)
}

/// Checks a batch against what is stored, then (unless dry) writes it. Nothing is written
/// when any record is refused.
pub async fn apply(svc: &SyncServices, batch: &Batch) -> Result<Report, ImportError> {
    validate_shape(batch)?;
    let registry = svc.registry();
    let mut report = Report { dry_run: batch.dry_run, ..Report::default() };

    // Read everything the decisions need, and refuse conflicts, before the first write.
    let mut stored_users: HashMap<&str, Option<User>> = HashMap::new();
    let mut stored_tokens: HashMap<&str, Option<String>> = HashMap::new();
    for user in &batch.users {
        stored_users.insert(&user.login, registry.user(&user.login).await?);
        stored_tokens.insert(&user.login, registry.user_token(&user.login).await?);
        if let Some(token) = &user.token {
            match registry.token_user(token).await? {
                Some(owner) if owner != user.login => {
                    return Err(invalid(format!("user {}: its token already belongs to {owner}", user.login)));
                }
                _ => {}
            }
        }
    }
    let batch_logins: HashSet<&str> = batch.users.iter().map(|u| u.login.as_str()).collect();
    let mut clients = Vec::new();
    for client in &batch.clients {
        if !batch_logins.contains(client.user_id.as_str()) && registry.user(&client.user_id).await?.is_none() {
            report.skipped.push(format!("client {}: its user {} is not imported", client.id, client.user_id));
            continue;
        }
        let stored = registry.client(&client.id).await?;
        let device: BTreeMap<String, String> =
            client.device.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.clone(), v.clone())).collect();
        let new = ClientRecord {
            id: client.id.clone(),
            user_id: client.user_id.clone(),
            app_id: crate::auth::session::APP_NAME.to_owned(),
            device,
            last_sync: stored.as_ref().and_then(|c| c.last_sync.clone()).or_else(|| client.last_sync.clone()),
        };
        let change = match &stored {
            None => Change::Created,
            Some(s) if *s == new => Change::Unchanged,
            Some(_) => Change::Updated,
        };
        clients.push((new, stored.map(|s| s.user_id), change));
    }
    let mut source_changes = Vec::new();
    for source in &batch.sources {
        match sources::find(svc, &source.name).await? {
            None => report.skipped.push(format!("source {}: not configured here", source.name)),
            Some(view) => {
                let change = if view.config.poll_interval == source.poll_interval {
                    Change::Unchanged
                } else if view.overrides.contains_key("poll_interval") {
                    Change::Updated
                } else {
                    Change::Created
                };
                source_changes.push((source, change));
            }
        }
    }
    let appserver_change = match &batch.appserver {
        None => None,
        Some(url) => {
            let current = cache::appserver_url(&*svc.store).await?;
            Some(match current {
                Some(c) if &c == url => Change::Unchanged,
                Some(_) => Change::Updated,
                None if url.is_empty() => Change::Unchanged,
                None => Change::Created,
            })
        }
    };

    // Decide every user and token; rhoadmin's token goes last, so the token this request
    // came with works until the end.
    let mut users = Vec::new();
    let mut tokens = Vec::new();
    for user in &batch.users {
        let stored_token = stored_tokens.get(user.login.as_str()).cloned().flatten();
        let token_is_imported = user.token.is_some() && stored_token == user.token;
        let stored = stored_users.get(user.login.as_str()).and_then(Option::as_ref);
        let (new, change) = merged_user(user, stored, token_is_imported);
        users.push((new, change));
        if let Some(token) = &user.token {
            let change = match &stored_token {
                None => Change::Created,
                Some(t) if t == token => Change::Unchanged,
                Some(_) => Change::Updated,
            };
            tokens.push((user.login.as_str(), token.as_str(), change));
        }
    }
    tokens.sort_by_key(|(login, _, _)| *login == ADMIN_LOGIN);

    for (_, change) in &users {
        report.users.add(*change);
    }
    for (_, _, change) in &tokens {
        report.tokens.add(*change);
    }
    for (_, _, change) in &clients {
        report.clients.add(*change);
    }
    for (_, change) in &source_changes {
        report.sources.add(*change);
    }
    if let Some(change) = appserver_change {
        report.appserver.add(change);
    }
    if batch.dry_run {
        return Ok(report);
    }

    let stats = svc.settings.app.stats;
    for (user, change) in &users {
        match change {
            Change::Unchanged => {}
            _ if user.login == ADMIN_LOGIN => registry.put_admin(user).await?,
            Change::Created => {
                registry.put_user(user).await?;
                cache::bump(&*svc.store, stats, Counter::Users, 1).await?;
            }
            Change::Updated => registry.put_user(user).await?,
        }
    }
    for (client, owner, change) in &clients {
        match change {
            Change::Unchanged => {}
            Change::Created => {
                registry.put_client_owned_by(client, None).await?;
                cache::bump(&*svc.store, stats, Counter::Clients, 1).await?;
            }
            Change::Updated => registry.put_client_owned_by(client, owner.as_deref()).await?,
        }
    }
    for (source, change) in &source_changes {
        if *change != Change::Unchanged {
            sources::write_fields(svc, &source.name, &[("poll_interval".to_owned(), json!(source.poll_interval))])
                .await?;
        }
    }
    if let (Some(url), Some(Change::Created | Change::Updated)) = (&batch.appserver, appserver_change) {
        cache::set_appserver_url(&*svc.store, Some(url).filter(|u| !u.is_empty()).map(String::as_str)).await?;
    }
    for (login, token, change) in &tokens {
        if *change != Change::Unchanged {
            registry.set_user_token(login, token).await?;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(login: &str) -> ImportUser {
        ImportUser {
            login: login.into(),
            hashed_password: Some("a".repeat(40)),
            salt: Some("salt123456".into()),
            ..ImportUser::default()
        }
    }

    #[test]
    fn a_batch_is_refused_whole_for_any_bad_record() {
        let ok = Batch { users: vec![user("alice")], ..Batch::default() };
        assert!(validate_shape(&ok).is_ok());
        let bad = |b: Batch, text: &str| {
            let err = validate_shape(&b).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(text), "{err}");
        };
        bad(
            Batch { users: vec![ImportUser { hashed_password: Some("xyz".into()), ..user("a") }], ..Batch::default() },
            "SHA-1",
        );
        bad(Batch { users: vec![user("__shared__")], ..Batch::default() }, "reserved");
        bad(Batch { users: vec![user("a"), user("a")], ..Batch::default() }, "twice");
        bad(Batch { users: vec![ImportUser { token: Some("t".into()), ..user("a") }], ..Batch::default() }, "admins");
        let client = ImportClient { id: "c".into(), user_id: "a".into(), ..ImportClient::default() };
        let mut odd = client.clone();
        odd.device.insert("colour".into(), "red".into());
        bad(Batch { clients: vec![odd], ..Batch::default() }, "unknown device field");
        bad(
            Batch { clients: vec![ImportClient { app_id: Some("other".into()), ..client }], ..Batch::default() },
            "app",
        );
    }

    #[test]
    fn merging_keeps_a_password_of_ours_except_rhoadmins_first_import() {
        let imported = user("alice");
        let legacy = legacy_hash(&"a".repeat(40), "salt123456");
        let (new, change) = merged_user(&imported, None, false);
        assert_eq!((new.password_hash.as_deref(), change), (Some(legacy.as_str()), Change::Created));
        let (_, change) = merged_user(&imported, Some(&new), false);
        assert_eq!(change, Change::Unchanged);
        let upgraded = User { password_hash: Some("$argon2id$v=19$...".into()), ..new.clone() };
        let (kept, change) = merged_user(&imported, Some(&upgraded), false);
        assert_eq!((kept, change), (upgraded.clone(), Change::Unchanged));
        let admin = ImportUser { admin: true, token: Some("tok".into()), ..user(ADMIN_LOGIN) };
        let bootstrap = User { login: ADMIN_LOGIN.into(), admin: true, ..upgraded.clone() };
        let (first, change) = merged_user(&admin, Some(&bootstrap), false);
        assert_eq!((first.password_hash.as_deref(), change), (Some(legacy.as_str()), Change::Updated));
        let (again, change) = merged_user(&admin, Some(&bootstrap), true);
        assert_eq!((again, change), (bootstrap, Change::Unchanged));
    }
}
