//! [`Registry`] on one DynamoDB table with string keys `pk`/`sk`:
//!
//! | item | pk | sk |
//! |---|---|---|
//! | user | `USER#<login>` | `PROFILE` |
//! | user's client (membership) | `USER#<login>` | `CLIENT#<id>` |
//! | app's user (membership, for listing) | `APP#application` | `USER#<login>` |
//! | client | `CLIENT#<id>` | `PROFILE` |
//! | API token | `TOKEN#<token>` | `TOKEN` |
//! | source setting overrides (JSON text in `overrides`) | `SOURCE#<name>` | `PROFILE` |
//! | app's source (membership, for listing) | `APP#application` | `SOURCE#<name>` |
//!
//! Lookups are single-item gets; listings are one-partition queries. The only scan is
//! [`Registry::clear`], run by `system/reset`.
//!
//! A listed user (profile + app membership) is written in one `TransactWriteItems` call,
//! the creation's "only if new" as its condition. User profiles are written as updates,
//! so the `token` attribute that
//! [`Registry::set_user_token`] maintains survives password or flag changes. A profile
//! migrated from RhoConnect may hold a 40-hex SHA-1 `password_hash` with a separate `salt`;
//! it is read as `sha1$<salt>$<hex>` so [`super::password::verify`] recognises it.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::{ClientRecord, Registry, RegistryError, SourceOverrides, User};

const PROFILE: &str = "PROFILE";
const APP_USERS: &str = "APP#application";

#[derive(Clone, Debug)]
pub struct DynamoRegistry {
    client: Client,
    table: String,
}

type Item = HashMap<String, AttributeValue>;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn err<E>(e: aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>) -> RegistryError
where
    E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + 'static,
{
    let outage = crate::edges::aws::is_outage(&e);
    let message = crate::edges::AwsError::sdk("dynamodb", e).to_string();
    if outage {
        RegistryError::Unavailable(message)
    } else {
        RegistryError::Store(message)
    }
}

type TransactError = aws_sdk_dynamodb::error::SdkError<
    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
    aws_sdk_dynamodb::config::http::HttpResponse,
>;

/// Why DynamoDB canceled a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Canceled {
    /// One of its conditions failed (the profile existed): nothing was written.
    Condition,
    /// Another transaction held one of its items: nothing was written, and trying again
    /// is right (the SDK does not retry this one by itself).
    Conflict,
    /// Anything else.
    Other,
}

/// The reason of a cancellation from its per-item reason codes (and, for emulators that
/// send none, its message).
fn cancel_kind(codes: &[Option<&str>], message: Option<&str>) -> Canceled {
    let named = |code: &str| codes.contains(&Some(code)) || message.is_some_and(|m| m.contains(code));
    if named("ConditionalCheckFailed") {
        Canceled::Condition
    } else if named("TransactionConflict") {
        Canceled::Conflict
    } else {
        Canceled::Other
    }
}

fn canceled(e: &TransactError) -> Option<Canceled> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match e.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(c) => {
            let codes: Vec<Option<&str>> = c.cancellation_reasons().iter().map(|r| r.code()).collect();
            Some(cancel_kind(&codes, c.message()))
        }
        _ => None,
    }
}

/// How often a transaction that lost a conflict is sent (two devices of a new user
/// logging in at once both write its profile).
const TRANSACTION_ATTEMPTS: u32 = 4;

/// A request that could not be built (a bug of ours, not an outage).
fn build_err(e: impl std::error::Error) -> RegistryError {
    RegistryError::Store(crate::edges::AwsError::sdk("dynamodb", e).to_string())
}

/// DynamoDB's key size limits: 2048 bytes for the partition key, 1024 for the sort key.
/// Ids from requests (logins, client ids, tokens) can be longer than any stored one.
pub const MAX_PK_BYTES: usize = 2048;
pub const MAX_SK_BYTES: usize = 1024;

fn key_fits(pk: &str, sk: &str) -> bool {
    pk.len() <= MAX_PK_BYTES && sk.len() <= MAX_SK_BYTES
}

fn get_s(item: &Item, key: &str) -> Option<String> {
    item.get(key).and_then(|v| v.as_s().ok()).cloned()
}

impl DynamoRegistry {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, RegistryError> {
        if !key_fits(&pk, sk) {
            // No such item can exist; asking DynamoDB would only fail validation.
            return Ok(None);
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(err)?;
        Ok(out.item)
    }

    async fn put(&self, item: Item) -> Result<(), RegistryError> {
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(err)?;
        Ok(())
    }

    async fn delete(&self, pk: String, sk: String) -> Result<(), RegistryError> {
        if !key_fits(&pk, &sk) {
            return Ok(());
        }
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .send()
            .await
            .map_err(err)?;
        Ok(())
    }

    /// Deletes items by key, 25 per batch (DynamoDB's limit), retrying unprocessed ones.
    async fn delete_many(&self, keys: Vec<(String, String)>) -> Result<(), RegistryError> {
        use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
        for chunk in keys.chunks(25) {
            let mut requests = Vec::with_capacity(chunk.len());
            for (pk, sk) in chunk {
                let delete = DeleteRequest::builder()
                    .key("pk", s(pk.clone()))
                    .key("sk", s(sk.clone()))
                    .build()
                    .map_err(build_err)?;
                requests.push(WriteRequest::builder().delete_request(delete).build());
            }
            let mut pending = HashMap::from([(self.table.clone(), requests)]);
            for attempt in 0..8u32 {
                let out = self.client.batch_write_item().set_request_items(Some(pending)).send().await.map_err(err)?;
                pending = out.unprocessed_items.unwrap_or_default();
                pending.retain(|_, v| !v.is_empty());
                if pending.is_empty() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            if !pending.is_empty() {
                return Err(RegistryError::Store("dynamodb: batch delete left unprocessed items".into()));
            }
        }
        Ok(())
    }

    /// Every `sk` under `pk` that starts with `prefix`, with the prefix removed.
    async fn query_suffixes(&self, pk: String, prefix: &str) -> Result<Vec<String>, RegistryError> {
        let mut out = Vec::new();
        if !key_fits(&pk, prefix) {
            return Ok(out);
        }
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":prefix", s(prefix))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(err)?;
            for item in page.items.unwrap_or_default() {
                if let Some(sk) = get_s(&item, "sk") {
                    // Once: a login may itself start with the prefix.
                    out.push(sk.strip_prefix(prefix).unwrap_or(&sk).to_owned());
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    /// The profile update of `user`, keeping attributes it does not own (the token);
    /// `only_if_new`: refused when a profile exists.
    fn user_update(&self, user: &User, only_if_new: bool) -> Result<aws_sdk_dynamodb::types::Update, RegistryError> {
        let mut set = vec!["#login = :login", "#admin = :admin"];
        let mut remove = Vec::new();
        let mut update = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .key("pk", s(format!("USER#{}", user.login)))
            .key("sk", s(PROFILE))
            .expression_attribute_names("#login", "login")
            .expression_attribute_names("#admin", "admin")
            .expression_attribute_names("#hash", "password_hash")
            .expression_attribute_names("#email", "email")
            .expression_attribute_names("#salt", "salt")
            .expression_attribute_values(":login", s(user.login.clone()))
            .expression_attribute_values(":admin", AttributeValue::Bool(user.admin));
        match &user.password_hash {
            Some(hash) => {
                set.push("#hash = :hash");
                update = update.expression_attribute_values(":hash", s(hash.clone()));
            }
            None => remove.push("#hash"),
        }
        match &user.email {
            Some(email) => {
                set.push("#email = :email");
                update = update.expression_attribute_values(":email", s(email.clone()));
            }
            None => remove.push("#email"),
        }
        // A legacy salt is meaningless once the hash is rewritten.
        remove.push("#salt");
        update = update.update_expression(format!("SET {} REMOVE {}", set.join(", "), remove.join(", ")));
        if only_if_new {
            update = update.condition_expression("attribute_not_exists(pk)");
        }
        update.build().map_err(build_err)
    }

    /// Writes a user profile alone (the admin account: not listed), keeping the token.
    async fn save_user(&self, user: &User) -> Result<(), RegistryError> {
        let u = self.user_update(user, false)?;
        self.client
            .update_item()
            .table_name(u.table_name)
            .set_key(Some(u.key))
            .update_expression(u.update_expression)
            .set_expression_attribute_names(u.expression_attribute_names)
            .set_expression_attribute_values(u.expression_attribute_values)
            .send()
            .await
            .map_err(err)?;
        Ok(())
    }

    /// Writes a user profile and its app-list membership in one transaction (one call);
    /// false when `only_if_new` and a profile existed (nothing written).
    async fn save_listed_user(&self, user: &User, only_if_new: bool) -> Result<bool, RegistryError> {
        use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
        let update = TransactWriteItem::builder().update(self.user_update(user, only_if_new)?).build();
        let membership = Put::builder()
            .table_name(&self.table)
            .set_item(Some(Self::membership(APP_USERS.into(), format!("USER#{}", user.login))))
            .build()
            .map_err(build_err)?;
        match self.transact(vec![update, TransactWriteItem::builder().put(membership).build()]).await {
            Ok(()) => Ok(true),
            Err(e) if only_if_new && canceled(&e) == Some(Canceled::Condition) => Ok(false),
            Err(e) => Err(err(e)),
        }
    }

    /// Sends one transaction, again after a short pause while it loses a conflict.
    async fn transact(&self, items: Vec<aws_sdk_dynamodb::types::TransactWriteItem>) -> Result<(), TransactError> {
        let mut attempt = 1;
        loop {
            match self.client.transact_write_items().set_transact_items(Some(items.clone())).send().await {
                Ok(_) => return Ok(()),
                Err(e) if attempt < TRANSACTION_ATTEMPTS && canceled(&e) == Some(Canceled::Conflict) => {
                    tokio::time::sleep(std::time::Duration::from_millis(20 * u64::from(attempt))).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn client_item(client: &ClientRecord) -> Item {
        let mut item = Item::new();
        item.insert("pk".into(), s(format!("CLIENT#{}", client.id)));
        item.insert("sk".into(), s(PROFILE));
        item.insert("user_id".into(), s(client.user_id.clone()));
        item.insert("app_id".into(), s(client.app_id.clone()));
        item.insert(
            "device".into(),
            AttributeValue::M(client.device.iter().map(|(k, v)| (k.clone(), s(v.clone()))).collect()),
        );
        if let Some(last) = &client.last_sync {
            item.insert("last_sync".into(), s(last.clone()));
        }
        item
    }

    fn client_of_item(item: &Item) -> Result<ClientRecord, RegistryError> {
        let pk = get_s(item, "pk").unwrap_or_default();
        let id = pk.strip_prefix("CLIENT#").unwrap_or(&pk).to_owned();
        let device = match item.get("device") {
            Some(AttributeValue::M(map)) => {
                map.iter().filter_map(|(k, v)| v.as_s().ok().map(|v| (k.clone(), v.clone()))).collect()
            }
            _ => Default::default(),
        };
        Ok(ClientRecord {
            user_id: get_s(item, "user_id").ok_or_else(|| RegistryError::Corrupt(format!("client {id}")))?,
            app_id: get_s(item, "app_id").unwrap_or_else(|| "application".into()),
            device,
            last_sync: get_s(item, "last_sync"),
            id,
        })
    }

    fn membership(pk: String, sk: String) -> Item {
        HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
    }
}

#[async_trait]
impl Registry for DynamoRegistry {
    async fn user(&self, login: &str) -> Result<Option<User>, RegistryError> {
        let Some(item) = self.get(format!("USER#{login}"), PROFILE).await? else { return Ok(None) };
        let hash = get_s(&item, "password_hash");
        let password_hash = match (get_s(&item, "salt"), hash) {
            (Some(salt), Some(h)) if h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Some(format!("sha1${salt}${h}"))
            }
            (_, h) => h,
        };
        Ok(Some(User {
            login: get_s(&item, "login").unwrap_or_else(|| login.to_owned()),
            password_hash,
            email: get_s(&item, "email"),
            admin: item.get("admin").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
        }))
    }

    async fn put_user(&self, user: &User) -> Result<(), RegistryError> {
        self.save_listed_user(user, false).await.map(drop)
    }

    async fn put_admin(&self, user: &User) -> Result<(), RegistryError> {
        self.save_user(user).await
    }

    async fn ensure_user(&self, login: &str) -> Result<bool, RegistryError> {
        self.create_user(&User { login: login.to_owned(), ..User::default() }).await
    }

    /// One transaction: the profile (only if new) and the app-list membership.
    async fn create_user(&self, user: &User) -> Result<bool, RegistryError> {
        self.save_listed_user(user, true).await
    }

    async fn delete_token(&self, token: &str) -> Result<(), RegistryError> {
        self.delete(format!("TOKEN#{token}"), "TOKEN".into()).await
    }

    async fn clear(&self) -> Result<(), RegistryError> {
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .projection_expression("pk, sk")
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(err)?;
            let keys: Vec<(String, String)> = page
                .items
                .unwrap_or_default()
                .iter()
                .filter_map(|item| Some((get_s(item, "pk")?, get_s(item, "sk")?)))
                .collect();
            self.delete_many(keys).await?;
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(());
            }
        }
    }

    async fn source_overrides(&self, name: &str) -> Result<Option<SourceOverrides>, RegistryError> {
        let Some(item) = self.get(format!("SOURCE#{name}"), PROFILE).await? else { return Ok(None) };
        let text = get_s(&item, "overrides").unwrap_or_else(|| "{}".into());
        serde_json::from_str(&text).map(Some).map_err(|_| RegistryError::Corrupt(format!("source {name}")))
    }

    async fn put_source_overrides(&self, name: &str, overrides: &SourceOverrides) -> Result<(), RegistryError> {
        let text = serde_json::Value::Object(overrides.clone()).to_string();
        self.put(HashMap::from([
            ("pk".to_owned(), s(format!("SOURCE#{name}"))),
            ("sk".to_owned(), s(PROFILE)),
            ("overrides".to_owned(), s(text)),
        ]))
        .await?;
        self.put(Self::membership(APP_USERS.into(), format!("SOURCE#{name}"))).await
    }

    async fn registered_sources(&self) -> Result<Vec<String>, RegistryError> {
        self.query_suffixes(APP_USERS.into(), "SOURCE#").await
    }

    async fn delete_user(&self, login: &str) -> Result<(), RegistryError> {
        for client in self.clients_of(login).await? {
            self.delete_client(&client).await?;
        }
        if let Some(token) = self.user_token(login).await? {
            self.delete(format!("TOKEN#{token}"), "TOKEN".into()).await?;
        }
        self.delete(format!("USER#{login}"), PROFILE.into()).await?;
        self.delete(APP_USERS.into(), format!("USER#{login}")).await
    }

    async fn users(&self) -> Result<Vec<String>, RegistryError> {
        self.query_suffixes(APP_USERS.into(), "USER#").await
    }

    async fn client(&self, id: &str) -> Result<Option<ClientRecord>, RegistryError> {
        let Some(item) = self.get(format!("CLIENT#{id}"), PROFILE).await? else { return Ok(None) };
        Self::client_of_item(&item).map(Some)
    }

    async fn create_client(&self, client: &ClientRecord) -> Result<(), RegistryError> {
        // A fresh id has no previous owner: the record and its membership in one call.
        let put = |item: Item| -> Result<aws_sdk_dynamodb::types::TransactWriteItem, RegistryError> {
            let put = aws_sdk_dynamodb::types::Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build()
                .map_err(build_err)?;
            Ok(aws_sdk_dynamodb::types::TransactWriteItem::builder().put(put).build())
        };
        let membership = Self::membership(format!("USER#{}", client.user_id), format!("CLIENT#{}", client.id));
        self.transact(vec![put(Self::client_item(client))?, put(membership)?]).await.map_err(err)
    }

    async fn put_client_owned_by(
        &self,
        client: &ClientRecord,
        stored_owner: Option<&str>,
    ) -> Result<(), RegistryError> {
        match stored_owner {
            None => self.create_client(client).await,
            Some(owner) if owner == client.user_id => self.put(Self::client_item(client)).await,
            Some(owner) => {
                self.put(Self::client_item(client)).await?;
                self.delete(format!("USER#{owner}"), format!("CLIENT#{}", client.id)).await?;
                self.put(Self::membership(format!("USER#{}", client.user_id), format!("CLIENT#{}", client.id))).await
            }
        }
    }

    async fn put_client(&self, client: &ClientRecord) -> Result<(), RegistryError> {
        let stored = self.client(&client.id).await?;
        self.put_client_owned_by(client, stored.as_ref().map(|c| c.user_id.as_str())).await
    }

    async fn delete_client(&self, id: &str) -> Result<(), RegistryError> {
        if let Some(client) = self.client(id).await? {
            self.delete(format!("USER#{}", client.user_id), format!("CLIENT#{id}")).await?;
        }
        self.delete(format!("CLIENT#{id}"), PROFILE.into()).await
    }

    async fn clients_of(&self, login: &str) -> Result<Vec<String>, RegistryError> {
        self.query_suffixes(format!("USER#{login}"), "CLIENT#").await
    }

    async fn forget_device_pin(&self, id: &str, pin: &str) -> Result<bool, RegistryError> {
        let pk = format!("CLIENT#{id}");
        if !key_fits(&pk, PROFILE) {
            return Ok(false);
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(PROFILE))
            .update_expression("REMOVE #device.#pin")
            .condition_expression("#device.#pin = :pin")
            .expression_attribute_names("#device", "device")
            .expression_attribute_names("#pin", "device_pin")
            .expression_attribute_values(":pin", s(pin))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(err(e)),
        }
    }

    /// 100 keys per `BatchGetItem` (DynamoDB's limit), unprocessed keys asked again.
    async fn clients(&self, ids: &[String]) -> Result<Vec<ClientRecord>, RegistryError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut out = Vec::with_capacity(ids.len());
        let mut fitting: Vec<&String> = ids.iter().filter(|id| key_fits(&format!("CLIENT#{id}"), PROFILE)).collect();
        // BatchGetItem refuses a request naming one key twice.
        fitting.sort();
        fitting.dedup();
        for chunk in fitting.chunks(100) {
            let keys: Vec<Item> = chunk
                .iter()
                .map(|id| HashMap::from([("pk".to_owned(), s(format!("CLIENT#{id}"))), ("sk".to_owned(), s(PROFILE))]))
                .collect();
            let mut pending = Some(
                KeysAndAttributes::builder().set_keys(Some(keys)).consistent_read(true).build().map_err(build_err)?,
            );
            for attempt in 0..8u32 {
                let Some(request) = pending.take() else { break };
                let out_page = self
                    .client
                    .batch_get_item()
                    .request_items(self.table.clone(), request)
                    .send()
                    .await
                    .map_err(err)?;
                for item in out_page.responses.unwrap_or_default().remove(&self.table).unwrap_or_default() {
                    out.push(Self::client_of_item(&item)?);
                }
                pending =
                    out_page.unprocessed_keys.unwrap_or_default().remove(&self.table).filter(|k| !k.keys.is_empty());
                if pending.is_some() {
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                }
            }
            if pending.is_some() {
                return Err(RegistryError::Store("dynamodb: batch get left unprocessed keys".into()));
            }
        }
        Ok(out)
    }

    async fn token_user(&self, token: &str) -> Result<Option<String>, RegistryError> {
        Ok(self.get(format!("TOKEN#{token}"), "TOKEN").await?.and_then(|item| get_s(&item, "user_id")))
    }

    async fn user_token(&self, login: &str) -> Result<Option<String>, RegistryError> {
        Ok(self.get(format!("USER#{login}"), PROFILE).await?.and_then(|item| get_s(&item, "token")))
    }

    async fn set_user_token(&self, login: &str, token: &str) -> Result<(), RegistryError> {
        if let Some(old) = self.user_token(login).await? {
            if old != token {
                self.delete(format!("TOKEN#{old}"), "TOKEN".into()).await?;
            }
        }
        self.put(HashMap::from([
            ("pk".to_owned(), s(format!("TOKEN#{token}"))),
            ("sk".to_owned(), s("TOKEN")),
            ("user_id".to_owned(), s(login)),
        ]))
        .await?;
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("USER#{login}")))
            .key("sk", s(PROFILE))
            .update_expression("SET #t = :t")
            .expression_attribute_names("#t", "token")
            .expression_attribute_values(":t", s(token))
            .send()
            .await
            .map_err(err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{cancel_kind, Canceled};

    #[test]
    fn a_failed_condition_wins_over_a_conflict_and_a_conflict_is_retried() {
        assert_eq!(cancel_kind(&[Some("ConditionalCheckFailed"), Some("None")], None), Canceled::Condition);
        assert_eq!(
            cancel_kind(&[Some("TransactionConflict"), Some("ConditionalCheckFailed")], None),
            Canceled::Condition,
            "the profile existed: retrying cannot succeed"
        );
        assert_eq!(cancel_kind(&[Some("None"), Some("TransactionConflict")], None), Canceled::Conflict);
        assert_eq!(cancel_kind(&[], Some("Transaction cancelled [ConditionalCheckFailed]")), Canceled::Condition);
        assert_eq!(cancel_kind(&[Some("ValidationError")], Some("bad")), Canceled::Other);
        assert_eq!(cancel_kind(&[None, None], None), Canceled::Other);
    }
}
