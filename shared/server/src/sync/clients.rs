//! Device login and client records (docs/device-protocol.md §3–4, docs/sync-engine.md §8).
//!
//! Client records are durable in DynamoDB (the registry) and cached in Redis, written
//! through on every change, so the query path reads one Redis key instead of DynamoDB.
//! The cache entry expires after [`CLIENT_CACHE_TTL_SECS`] so that a client deleted
//! through the admin API stops resolving even if the deleting code path did not call
//! [`forget`].

use std::collections::BTreeMap;

use rhosync_engine::model::FirstLook;
use serde_json::Value;

use super::sessions;
use super::SyncError;
use super::SyncServices;
use crate::adapters::{AuthOutcome, Authenticator};
use crate::auth::session::Session;
use crate::config::DeviceAuth;
use crate::registry::{password, ClientRecord, ADMIN_LOGIN, DEVICE_FIELDS};
use crate::store::keys::{self, ClientKeys, PartitionKeys};
use crate::store::BeginReply;

/// Lifetime of a cached client record.
pub const CLIENT_CACHE_TTL_SECS: u64 = 300;

/// The outcome of a device login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Logged in as this login.
    Allowed(String),
    /// 401 `Unable to authenticate '<login>'`.
    Denied,
    /// 401 with the authenticator's own message (a login error).
    Refused(String),
    /// 500 with the message: the authenticator itself failed.
    Failed(String),
}

/// Device login (docs/device-protocol.md §3). While an app server URL is configured the plugin
/// backend's `/rhoconnect/authenticate` decides and may rename the user
/// (docs/adapters.md §4.2); otherwise local users (`device_auth: local`) or anyone
/// (`open`). The user record is created on success.
pub async fn login(
    svc: &SyncServices,
    login: &str,
    pass: &str,
    params: &serde_json::Map<String, Value>,
) -> Result<LoginOutcome, SyncError> {
    if login.is_empty() || login == ADMIN_LOGIN || login == keys::SHARED_PARTITION {
        return Ok(LoginOutcome::Denied);
    }
    let registry = svc.registry();
    let delegated = match svc.authenticator.is_configured().await {
        Ok(configured) => configured,
        // The app server URL lives in the cache: failing to read it is the cache's outage.
        Err(err) => return Err(SyncError::Unavailable { what: "the cache (Redis)", detail: err.message().to_owned() }),
    };
    if delegated {
        return Ok(match svc.authenticator.authenticate(login, pass, params).await {
            AuthOutcome::Allow(name) if name == ADMIN_LOGIN || name == keys::SHARED_PARTITION => LoginOutcome::Denied,
            AuthOutcome::Allow(name) => {
                registry.ensure_user(&name).await?;
                LoginOutcome::Allowed(name)
            }
            AuthOutcome::Deny => LoginOutcome::Denied,
            AuthOutcome::LoginError(message) => LoginOutcome::Refused(message),
            AuthOutcome::Error(message) => LoginOutcome::Failed(message),
        });
    }
    match svc.settings.app.device_auth {
        DeviceAuth::Open => {
            registry.ensure_user(login).await?;
            Ok(LoginOutcome::Allowed(login.to_owned()))
        }
        DeviceAuth::Local => {
            let Some(user) = registry.user(login).await? else { return Ok(LoginOutcome::Denied) };
            let Some(hash) = user.password_hash.as_deref() else { return Ok(LoginOutcome::Denied) };
            match password::verify(pass, hash) {
                password::Verdict::Match => Ok(LoginOutcome::Allowed(login.to_owned())),
                password::Verdict::MatchLegacy => {
                    let upgraded = crate::registry::User { password_hash: Some(password::hash(pass)), ..user };
                    registry.put_user(&upgraded).await?;
                    Ok(LoginOutcome::Allowed(login.to_owned()))
                }
                password::Verdict::Mismatch => Ok(LoginOutcome::Denied),
            }
        }
    }
}

async fn cache(svc: &SyncServices, client: &ClientRecord) -> Result<(), SyncError> {
    let key = keys::client_record(svc.store.keys(), &client.id);
    let text = serde_json::to_string(client).map_err(|e| SyncError::Internal(e.to_string()))?;
    svc.store.set(&key, Some(&text), Some(CLIENT_CACHE_TTL_SECS)).await?;
    Ok(())
}

/// Drops a client record from the cache (call after deleting or changing it elsewhere).
pub async fn forget(svc: &SyncServices, client_id: &str) -> Result<(), SyncError> {
    svc.store.set(&keys::client_record(svc.store.keys(), client_id), None, None).await?;
    Ok(())
}

/// Writes a client through to the registry and the cache; `stored_owner` is the owner
/// its stored record has (`None`: not stored yet).
async fn save(svc: &SyncServices, client: &ClientRecord, stored_owner: Option<&str>) -> Result<(), SyncError> {
    svc.registry().put_client_owned_by(client, stored_owner).await?;
    cache(svc, client).await
}

fn parse_cached(text: Option<String>) -> Option<ClientRecord> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

/// The client record (cache first), or `None`.
pub async fn find(svc: &SyncServices, client_id: &str) -> Result<Option<ClientRecord>, SyncError> {
    let key = keys::client_record(svc.store.keys(), client_id);
    if let Some(client) = parse_cached(svc.store.get(&key).await?) {
        return Ok(Some(client));
    }
    load_durable(svc, client_id).await
}

async fn load_durable(svc: &SyncServices, client_id: &str) -> Result<Option<ClientRecord>, SyncError> {
    match svc.registry().client(client_id).await? {
        Some(client) => {
            cache(svc, &client).await?;
            Ok(Some(client))
        }
        None => Ok(None),
    }
}

/// What the query route reads before its script: the client, the poll-interval override
/// of the source, whether the session still names a user, and what a probe read.
#[derive(Debug, Clone)]
pub struct QueryLookup {
    /// `false`: answer 401 (`super::sessions`).
    pub session_valid: bool,
    pub client: Option<ClientRecord>,
    pub poll_override: Option<i64>,
    /// The query script's probe reply and the refresh time it saw, when a probe was asked
    /// for and found nothing that needs the full step.
    pub probed: Option<(BeginReply, f64)>,
    /// What the probe saw pending ([`FirstLook::Unknown`] without a probe): the query's
    /// first look, for the rule of simultaneous queries (docs/sync-engine.md §5.7).
    pub first_look: FirstLook,
}

/// What to probe along with the lookup: a query without a token of one (client, source).
pub struct ProbeRequest<'a> {
    pub partition: &'a PartitionKeys,
    pub client: &'a ClientKeys,
    pub slice_limit: usize,
}

/// The client record, the poll-interval override of `source` and the session check's keys
/// — and, for a query without a token, the query script's read-only probe — in one round
/// trip: a no-change sync needs no other, and a page's read is already done.
pub async fn find_with_poll(
    svc: &SyncServices,
    client_id: &str,
    source: &str,
    session: &Session,
    probe: Option<ProbeRequest<'_>>,
) -> Result<QueryLookup, SyncError> {
    let [exists, revoked, reset] = sessions::check_keys(svc, &session.login);
    let rec_key = keys::client_record(svc.store.keys(), client_id);
    let poll_key = keys::poll_interval(svc.store.keys(), source);
    let gets = [rec_key.as_str(), &poll_key, &exists, &revoked, &reset];
    let (mut values, probed, first_look) = match probe {
        Some(p) => {
            let (values, reply, refresh_time) =
                svc.store.get_many_and_probe(&gets, p.partition, p.client, p.slice_limit).await?;
            // A probe answers anything but `busy` only when no page is pending.
            let (probed, first_look) = match (reply, refresh_time) {
                (BeginReply::Busy { pending }, _) => (None, FirstLook::from_pending(pending.as_deref())),
                (_, None) => (None, FirstLook::NoPage),
                (reply, Some(rt)) => (Some((reply, rt)), FirstLook::NoPage),
            };
            (values, probed, first_look)
        }
        None => (svc.store.get_many(&gets).await?, None, FirstLook::Unknown),
    };
    let session_values = values.split_off(2.min(values.len()));
    let session_valid = sessions::decide(svc, session, &session_values)
        .await
        .map_err(|e| SyncError::Internal(format!("checking the session user: {e}")))?;
    let mut values = values.into_iter();
    let (rec, poll) = (values.next().flatten(), values.next().flatten());
    let poll_override = poll.and_then(|p| p.trim().parse().ok());
    if !session_valid {
        return Ok(QueryLookup { session_valid, client: None, poll_override, probed: None, first_look });
    }
    let client = match parse_cached(rec) {
        Some(c) => Some(c),
        None => load_durable(svc, client_id).await?,
    };
    Ok(QueryLookup { session_valid, client, poll_override, probed, first_look })
}

fn device_fields(params: &serde_json::Map<String, Value>) -> BTreeMap<String, String> {
    DEVICE_FIELDS
        .iter()
        .filter_map(|f| {
            params.get(*f).and_then(|v| match v {
                Value::Null => None,
                Value::String(s) => Some(((*f).to_owned(), s.clone())),
                other => Some(((*f).to_owned(), other.to_string())),
            })
        })
        .collect()
}

/// clientcreate (docs/device-protocol.md §4.1): a new client for `login`.
pub async fn create(
    svc: &SyncServices,
    login: &str,
    params: &serde_json::Map<String, Value>,
) -> Result<ClientRecord, SyncError> {
    let client = ClientRecord {
        id: crate::auth::tokens::random_token(),
        user_id: login.to_owned(),
        app_id: crate::auth::session::APP_NAME.to_owned(),
        device: device_fields(params),
        last_sync: None,
    };
    svc.registry().create_client(&client).await?;
    cache(svc, &client).await?;
    Ok(client)
}

/// clientregister (docs/device-protocol.md §4.2): create-if-missing, then store device fields.
pub async fn register(
    svc: &SyncServices,
    login: &str,
    client_id: &str,
    params: &serde_json::Map<String, Value>,
) -> Result<(), SyncError> {
    // The cached record is written through on every change, so it is as good as the registry's.
    let found = find(svc, client_id).await?;
    let stored_owner = found.as_ref().map(|c| c.user_id.clone());
    let mut client = match found.clone() {
        Some(c) => c,
        None => ClientRecord {
            id: client_id.to_owned(),
            user_id: login.to_owned(),
            app_id: crate::auth::session::APP_NAME.to_owned(),
            ..ClientRecord::default()
        },
    };
    if client.user_id != login {
        flush_documents(svc, &client, None).await?;
        client.user_id = login.to_owned();
    }
    client.device.extend(device_fields(params));
    // A returning device registers the same fields again: nothing to write (no registry call).
    if found.as_ref() == Some(&client) {
        return Ok(());
    }
    save(svc, &client, stored_owner.as_deref()).await
}

/// The client a request names, switched to the session's user if it belongs to another
/// (docs/sync-engine.md §8.2): its documents are flushed first.
pub async fn resolve(svc: &SyncServices, login: &str, client: Option<ClientRecord>) -> Result<ClientRecord, SyncError> {
    let mut client = client.ok_or(SyncError::UnknownClient)?;
    if client.user_id != login {
        flush_documents(svc, &client, None).await?;
        let stored_owner = std::mem::replace(&mut client.user_id, login.to_owned());
        save(svc, &client, Some(&stored_owner)).await?;
    }
    Ok(client)
}

/// Deletes the client's documents of every source, or only of `sources`
/// (clientreset, docs/sync-engine.md §8.1).
pub async fn flush_documents(
    svc: &SyncServices,
    client: &ClientRecord,
    sources: Option<&[String]>,
) -> Result<(), SyncError> {
    for config in &svc.settings.sources {
        if let Some(only) = sources {
            if !only.iter().any(|s| s == &config.name) {
                continue;
            }
        }
        let Some(source) = svc.source(&config.name).await? else { continue };
        let ck = source.keys(svc, &client.user_id).client(&client.id);
        svc.store.del(&ck.all()).await?;
    }
    Ok(())
}

/// The public settings of every source, for the clientreset body rhoconnect.js needs
/// (docs/device-protocol.md §4.3).
pub fn public_sources(svc: &SyncServices) -> Value {
    let sources: serde_json::Map<String, Value> = svc
        .settings
        .sources
        .iter()
        .map(|s| {
            let partition = match s.partition_type {
                crate::config::PartitionType::User => "user",
                crate::config::PartitionType::App => "app",
            };
            let sync_type = match s.sync_type {
                crate::config::SyncType::Incremental => "incremental",
                crate::config::SyncType::BulkOnly => "bulk_sync_only",
            };
            (
                s.name.clone(),
                serde_json::json!({
                    "poll_interval": s.poll_interval,
                    "partition_type": partition,
                    "sync_type": sync_type,
                    "priority": s.priority,
                    "pass_through": s.pass_through,
                }),
            )
        })
        .collect();
    serde_json::json!({ "sources": sources })
}
