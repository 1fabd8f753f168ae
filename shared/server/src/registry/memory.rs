//! [`Registry`] in memory, answering exactly as [`super::DynamoRegistry`] does (the
//! contract test `tests/contracts.rs` runs the same operations against both).
//!
//! It keeps the DynamoDB layout's records as maps — user profiles, the app's user and
//! source memberships, each user's client memberships, clients, tokens, source overrides —
//! and each operation takes the same steps in the same order as the DynamoDB one, so the
//! corners agree too: a profile keeps its `token` attribute across rewrites and after
//! [`Registry::delete_token`]; setting a token for a login without a profile creates a bare
//! profile (listed nowhere); `create_user` refuses when any profile exists; a key over
//! DynamoDB's size limits is never found, deleting it does nothing and writing it fails
//! (after the steps before it took effect).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::dynamo::{MAX_PK_BYTES, MAX_SK_BYTES};
use super::{ClientRecord, Registry, RegistryError, SourceOverrides, User};

/// The `pk` prefixes and `sk`s of the DynamoDB layout, for the key size limits.
const USER: &str = "USER#";
const CLIENT: &str = "CLIENT#";
const TOKEN: &str = "TOKEN#";
const SOURCE: &str = "SOURCE#";
const PROFILE: &str = "PROFILE";
const APP: &str = "APP#application";

/// A user profile record: the user's fields and the token attribute.
#[derive(Debug, Clone, Default)]
struct Profile {
    password_hash: Option<String>,
    email: Option<String>,
    admin: bool,
    token: Option<String>,
}

#[derive(Debug, Default)]
struct Tables {
    /// `USER#<login>` / `PROFILE`.
    profiles: HashMap<String, Profile>,
    /// `APP#application` / `USER#<login>`.
    app_users: BTreeSet<String>,
    /// `USER#<login>` / `CLIENT#<id>`; no empty sets.
    user_clients: BTreeMap<String, BTreeSet<String>>,
    /// `CLIENT#<id>` / `PROFILE`.
    clients: HashMap<String, ClientRecord>,
    /// `TOKEN#<token>` / `TOKEN`: the owner's login.
    tokens: HashMap<String, String>,
    /// `SOURCE#<name>` / `PROFILE`.
    sources: HashMap<String, SourceOverrides>,
    /// `APP#application` / `SOURCE#<name>`.
    app_sources: BTreeSet<String>,
}

/// Whether DynamoDB would accept the key `<pk prefix><pk id>` / `<sk prefix><sk id>`.
fn fits((pk_prefix, pk_id): (&str, &str), (sk_prefix, sk_id): (&str, &str)) -> bool {
    pk_prefix.len() + pk_id.len() <= MAX_PK_BYTES && sk_prefix.len() + sk_id.len() <= MAX_SK_BYTES
}

/// A write DynamoDB would refuse: the key is over its size limits.
fn writable(pk: (&str, &str), sk: (&str, &str)) -> Result<(), RegistryError> {
    if fits(pk, sk) {
        Ok(())
    } else {
        Err(RegistryError::Store(format!(
            "key {}{}… is over the size limit",
            pk.0,
            pk.1.chars().take(32).collect::<String>()
        )))
    }
}

impl Tables {
    fn save_user(&mut self, user: &User, only_if_new: bool) -> Result<bool, RegistryError> {
        writable((USER, &user.login), ("", PROFILE))?;
        if only_if_new && self.profiles.contains_key(&user.login) {
            return Ok(false);
        }
        let profile = self.profiles.entry(user.login.clone()).or_default();
        profile.password_hash = user.password_hash.clone();
        profile.email = user.email.clone();
        profile.admin = user.admin;
        Ok(true)
    }

    fn list_user(&mut self, login: &str) -> Result<(), RegistryError> {
        writable(("", APP), (USER, login))?;
        self.app_users.insert(login.to_owned());
        Ok(())
    }

    /// The profile and its app membership, all or nothing (one transaction in DynamoDB:
    /// a membership key over the limit refuses the profile too).
    fn save_listed_user(&mut self, user: &User, only_if_new: bool) -> Result<bool, RegistryError> {
        writable(("", APP), (USER, &user.login))?;
        if !self.save_user(user, only_if_new)? {
            return Ok(false);
        }
        self.list_user(&user.login)?;
        Ok(true)
    }

    fn create_user(&mut self, user: &User) -> Result<bool, RegistryError> {
        self.save_listed_user(user, true)
    }

    fn user_token(&self, login: &str) -> Option<String> {
        self.profiles.get(login).and_then(|p| p.token.clone())
    }

    fn delete_token(&mut self, token: &str) {
        if fits((TOKEN, token), ("", "TOKEN")) {
            self.tokens.remove(token);
        }
    }

    fn put_client_record(&mut self, client: &ClientRecord) -> Result<(), RegistryError> {
        writable((CLIENT, &client.id), ("", PROFILE))?;
        self.clients.insert(client.id.clone(), client.clone());
        Ok(())
    }

    fn add_membership(&mut self, login: &str, id: &str) -> Result<(), RegistryError> {
        writable((USER, login), (CLIENT, id))?;
        self.user_clients.entry(login.to_owned()).or_default().insert(id.to_owned());
        Ok(())
    }

    fn remove_membership(&mut self, login: &str, id: &str) {
        if !fits((USER, login), (CLIENT, id)) {
            return;
        }
        if let Some(ids) = self.user_clients.get_mut(login) {
            ids.remove(id);
            if ids.is_empty() {
                self.user_clients.remove(login);
            }
        }
    }

    fn create_client(&mut self, client: &ClientRecord) -> Result<(), RegistryError> {
        // One transaction in DynamoDB: both records or neither.
        writable((CLIENT, &client.id), ("", PROFILE))?;
        writable((USER, &client.user_id), (CLIENT, &client.id))?;
        self.put_client_record(client)?;
        self.add_membership(&client.user_id, &client.id)
    }

    fn put_client_owned_by(&mut self, client: &ClientRecord, stored_owner: Option<&str>) -> Result<(), RegistryError> {
        match stored_owner {
            None => self.create_client(client),
            Some(owner) if owner == client.user_id => self.put_client_record(client),
            Some(owner) => {
                self.put_client_record(client)?;
                self.remove_membership(owner, &client.id);
                self.add_membership(&client.user_id, &client.id)
            }
        }
    }

    fn delete_client(&mut self, id: &str) {
        if let Some(owner) = self.clients.get(id).map(|c| c.user_id.clone()) {
            self.remove_membership(&owner, id);
        }
        self.clients.remove(id);
    }

    fn clients_of(&self, login: &str) -> Vec<String> {
        self.user_clients.get(login).map(|ids| ids.iter().cloned().collect()).unwrap_or_default()
    }

    fn set_user_token(&mut self, login: &str, token: &str) -> Result<(), RegistryError> {
        if let Some(old) = self.user_token(login) {
            if old != token {
                self.delete_token(&old);
            }
        }
        writable((TOKEN, token), ("", "TOKEN"))?;
        self.tokens.insert(token.to_owned(), login.to_owned());
        // An update of the profile: creates a bare one when the login has none.
        writable((USER, login), ("", PROFILE))?;
        self.profiles.entry(login.to_owned()).or_default().token = Some(token.to_owned());
        Ok(())
    }

    fn put_source_overrides(&mut self, name: &str, overrides: &SourceOverrides) -> Result<(), RegistryError> {
        writable((SOURCE, name), ("", PROFILE))?;
        self.sources.insert(name.to_owned(), overrides.clone());
        writable(("", APP), (SOURCE, name))?;
        self.app_sources.insert(name.to_owned());
        Ok(())
    }
}

/// The registry in a mutex of maps; for tests and for running without DynamoDB.
#[derive(Debug, Default)]
pub struct MemoryRegistry {
    tables: Mutex<Tables>,
}

impl MemoryRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Tables> {
        // Each operation runs under the lock without awaiting; a panic elsewhere cannot
        // leave a record half-written.
        self.tables.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl Registry for MemoryRegistry {
    async fn user(&self, login: &str) -> Result<Option<User>, RegistryError> {
        Ok(self.lock().profiles.get(login).map(|p| User {
            login: login.to_owned(),
            password_hash: p.password_hash.clone(),
            email: p.email.clone(),
            admin: p.admin,
        }))
    }

    async fn put_user(&self, user: &User) -> Result<(), RegistryError> {
        self.lock().save_listed_user(user, false).map(drop)
    }

    async fn put_admin(&self, user: &User) -> Result<(), RegistryError> {
        self.lock().save_user(user, false).map(|_| ())
    }

    async fn ensure_user(&self, login: &str) -> Result<bool, RegistryError> {
        self.lock().create_user(&User { login: login.to_owned(), ..User::default() })
    }

    async fn delete_user(&self, login: &str) -> Result<(), RegistryError> {
        let mut tables = self.lock();
        for client in tables.clients_of(login) {
            tables.delete_client(&client);
        }
        if let Some(token) = tables.user_token(login) {
            tables.delete_token(&token);
        }
        tables.profiles.remove(login);
        tables.app_users.remove(login);
        Ok(())
    }

    async fn users(&self) -> Result<Vec<String>, RegistryError> {
        Ok(self.lock().app_users.iter().cloned().collect())
    }

    async fn client(&self, id: &str) -> Result<Option<ClientRecord>, RegistryError> {
        Ok(self.lock().clients.get(id).cloned())
    }

    async fn put_client(&self, client: &ClientRecord) -> Result<(), RegistryError> {
        let mut tables = self.lock();
        let stored_owner = tables.clients.get(&client.id).map(|c| c.user_id.clone());
        tables.put_client_owned_by(client, stored_owner.as_deref())
    }

    async fn create_client(&self, client: &ClientRecord) -> Result<(), RegistryError> {
        self.lock().create_client(client)
    }

    async fn put_client_owned_by(
        &self,
        client: &ClientRecord,
        stored_owner: Option<&str>,
    ) -> Result<(), RegistryError> {
        self.lock().put_client_owned_by(client, stored_owner)
    }

    async fn delete_client(&self, id: &str) -> Result<(), RegistryError> {
        self.lock().delete_client(id);
        Ok(())
    }

    async fn clients_of(&self, login: &str) -> Result<Vec<String>, RegistryError> {
        Ok(self.lock().clients_of(login))
    }

    async fn forget_device_pin(&self, id: &str, pin: &str) -> Result<bool, RegistryError> {
        let mut tables = self.lock();
        let Some(client) = tables.clients.get_mut(id) else { return Ok(false) };
        if client.device.get("device_pin").map(String::as_str) != Some(pin) {
            return Ok(false);
        }
        client.device.remove("device_pin");
        Ok(true)
    }

    async fn token_user(&self, token: &str) -> Result<Option<String>, RegistryError> {
        Ok(self.lock().tokens.get(token).cloned())
    }

    async fn user_token(&self, login: &str) -> Result<Option<String>, RegistryError> {
        Ok(self.lock().user_token(login))
    }

    async fn set_user_token(&self, login: &str, token: &str) -> Result<(), RegistryError> {
        self.lock().set_user_token(login, token)
    }

    async fn create_user(&self, user: &User) -> Result<bool, RegistryError> {
        self.lock().create_user(user)
    }

    async fn delete_token(&self, token: &str) -> Result<(), RegistryError> {
        self.lock().delete_token(token);
        Ok(())
    }

    async fn clear(&self) -> Result<(), RegistryError> {
        *self.lock() = Tables::default();
        Ok(())
    }

    async fn source_overrides(&self, name: &str) -> Result<Option<SourceOverrides>, RegistryError> {
        Ok(self.lock().sources.get(name).cloned())
    }

    async fn put_source_overrides(&self, name: &str, overrides: &SourceOverrides) -> Result<(), RegistryError> {
        self.lock().put_source_overrides(name, overrides)
    }

    async fn registered_sources(&self) -> Result<Vec<String>, RegistryError> {
        Ok(self.lock().app_sources.iter().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(login: &str, hash: Option<&str>) -> User {
        User { login: login.into(), password_hash: hash.map(str::to_owned), email: None, admin: false }
    }

    fn client(id: &str, owner: &str) -> ClientRecord {
        ClientRecord { id: id.into(), user_id: owner.into(), app_id: "application".into(), ..ClientRecord::default() }
    }

    #[tokio::test]
    async fn users_are_created_once_and_listed_unless_admin() {
        let r = MemoryRegistry::new();
        assert!(r.create_user(&user("bob", Some("h1"))).await.expect("create"));
        assert!(!r.create_user(&user("bob", Some("h2"))).await.expect("create"), "an existing login is not replaced");
        assert_eq!(r.user("bob").await.expect("user").and_then(|u| u.password_hash).as_deref(), Some("h1"));
        assert!(r.ensure_user("amy").await.expect("ensure"));
        assert!(!r.ensure_user("amy").await.expect("ensure"));
        r.put_admin(&User { admin: true, ..user("rhoadmin", None) }).await.expect("admin");
        assert_eq!(r.users().await.expect("users"), ["amy", "bob"], "sorted, without the admin");
        assert!(r.user("rhoadmin").await.expect("user").is_some_and(|u| u.admin));
        r.put_user(&user("bob", None)).await.expect("put");
        assert_eq!(r.user("bob").await.expect("user"), Some(user("bob", None)), "put replaces the fields");
    }

    #[tokio::test]
    async fn tokens_follow_their_owner_and_survive_profile_rewrites() {
        let r = MemoryRegistry::new();
        r.put_user(&user("bob", None)).await.expect("put");
        r.set_user_token("bob", "t1").await.expect("token");
        r.set_user_token("bob", "t2").await.expect("token");
        assert_eq!(r.token_user("t1").await.expect("lookup"), None, "the previous token is dropped");
        assert_eq!(r.token_user("t2").await.expect("lookup").as_deref(), Some("bob"));
        r.put_user(&user("bob", Some("h"))).await.expect("put");
        assert_eq!(r.user_token("bob").await.expect("token").as_deref(), Some("t2"));
        r.delete_token("t2").await.expect("delete");
        assert_eq!(r.token_user("t2").await.expect("lookup"), None);
        assert_eq!(r.user_token("bob").await.expect("token").as_deref(), Some("t2"), "the profile keeps its attribute");
        // A token for a login without a profile leaves a bare, unlisted profile.
        r.set_user_token("ghost", "t3").await.expect("token");
        assert_eq!(r.user("ghost").await.expect("user"), Some(user("ghost", None)));
        assert!(!r.users().await.expect("users").contains(&"ghost".to_owned()));
        assert!(!r.create_user(&user("ghost", None)).await.expect("create"));
    }

    #[tokio::test]
    async fn clients_move_between_users_and_go_with_them() {
        let r = MemoryRegistry::new();
        r.put_user(&user("amy", None)).await.expect("put");
        r.put_user(&user("bob", None)).await.expect("put");
        r.set_user_token("bob", "tb").await.expect("token");
        r.create_client(&client("c1", "amy")).await.expect("create");
        r.put_client(&client("c2", "amy")).await.expect("put");
        assert_eq!(r.clients_of("amy").await.expect("list"), ["c1", "c2"]);
        r.put_client(&client("c2", "bob")).await.expect("switch");
        assert_eq!(r.clients_of("amy").await.expect("list"), ["c1"]);
        assert_eq!(r.clients_of("bob").await.expect("list"), ["c2"]);
        r.put_client_owned_by(&ClientRecord { last_sync: Some("x".into()), ..client("c2", "bob") }, Some("bob"))
            .await
            .expect("rewrite");
        assert_eq!(r.client("c2").await.expect("client").and_then(|c| c.last_sync).as_deref(), Some("x"));
        r.delete_user("bob").await.expect("delete");
        assert_eq!(r.client("c2").await.expect("client"), None);
        assert_eq!(r.token_user("tb").await.expect("lookup"), None);
        assert_eq!(r.users().await.expect("users"), ["amy"]);
        r.delete_client("c1").await.expect("delete");
        assert!(r.clients_of("amy").await.expect("list").is_empty());
    }

    #[tokio::test]
    async fn a_dead_pin_is_forgotten_only_while_it_is_still_registered() {
        let r = MemoryRegistry::new();
        let mut c = client("c1", "amy");
        c.device.insert("device_pin".into(), "abcd".into());
        c.device.insert("device_type".into(), "APPLE".into());
        r.create_client(&c).await.expect("create");
        assert!(!r.forget_device_pin("c1", "other").await.expect("forget"), "another pin is kept");
        assert!(r.forget_device_pin("c1", "abcd").await.expect("forget"));
        let stored = r.client("c1").await.expect("client").expect("exists");
        assert_eq!(stored.device.get("device_pin"), None);
        assert_eq!(stored.device.get("device_type").map(String::as_str), Some("APPLE"), "the rest stays");
        assert!(!r.forget_device_pin("missing", "abcd").await.expect("forget"));
        let listed = r.clients(&["c1".into(), "missing".into()]).await.expect("clients");
        assert_eq!(listed.len(), 1);
    }

    #[tokio::test]
    async fn source_overrides_register_sources_and_clear_forgets_everything() {
        let r = MemoryRegistry::new();
        assert_eq!(r.source_overrides("Product").await.expect("get"), None);
        let mut overrides = SourceOverrides::new();
        overrides.insert("poll_interval".into(), 10.into());
        r.put_source_overrides("Product", &overrides).await.expect("put");
        r.put_source_overrides("Customer", &SourceOverrides::new()).await.expect("put");
        assert_eq!(r.source_overrides("Product").await.expect("get"), Some(overrides));
        assert_eq!(r.registered_sources().await.expect("list"), ["Customer", "Product"]);
        r.put_user(&user("bob", None)).await.expect("put");
        r.set_user_token("bob", "t").await.expect("token");
        r.create_client(&client("c1", "bob")).await.expect("client");
        r.clear().await.expect("clear");
        assert!(r.users().await.expect("users").is_empty());
        assert!(r.registered_sources().await.expect("list").is_empty());
        assert_eq!(r.client("c1").await.expect("client"), None);
        assert_eq!(r.token_user("t").await.expect("lookup"), None);
        assert_eq!(r.user("bob").await.expect("user"), None);
    }

    #[tokio::test]
    async fn keys_over_dynamodb_limits_are_never_found_and_never_written() {
        let r = MemoryRegistry::new();
        let long = "x".repeat(MAX_PK_BYTES);
        assert_eq!(r.user(&long).await.expect("lookup"), None);
        assert!(r.put_user(&user(&long, None)).await.is_err());
        assert!(r.users().await.expect("users").is_empty());
        r.delete_client(&long).await.expect("deleting is a no-op");
        // The profile's key fits, its membership's sort key is over 1024 bytes: the
        // transaction is refused whole.
        let medium = "y".repeat(MAX_SK_BYTES);
        assert!(r.put_user(&user(&medium, None)).await.is_err());
        assert!(r.create_user(&user(&medium, None)).await.is_err());
        assert_eq!(r.user(&medium).await.expect("lookup"), None, "a refused transaction writes no profile");
        assert!(r.users().await.expect("users").is_empty());
        assert!(r.create_client(&client(&medium, "amy")).await.is_err());
        assert_eq!(r.client(&medium).await.expect("lookup"), None, "a refused transaction writes nothing");
    }
}
