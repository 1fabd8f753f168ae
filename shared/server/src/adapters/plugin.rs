//! The `plugin` adapter: a backend in any language serving RhoConnect's HTTP callbacks
//! (docs/adapters.md §4), so rhoconnect-rb, rhoconnect-java and rhoconnect.NET backends
//! work unchanged.
//!
//! Every data call is `POST {base}/rhoconnect/{query,create,update,delete}` with
//! `{"resource","partition","attributes","api_token","user_id"}`
//! (docs/adapters.md §4.1, §4.3–4.4); the device login goes to `/rhoconnect/authenticate`
//! through [`PluginAuthenticator`] (docs/adapters.md §4.2). The base URL is the app server URL
//! (docs/adapters.md §4.7: set at run time through the API, defaulting to the `:appserver:`
//! setting) and, when none is configured, the source's own `url:` setting (an extension for
//! settings-only deployments). There are no search, metadata, schema or per-sync login
//! callbacks (docs/adapters.md §3.2), so those trait methods keep their defaults.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, StatusCode, Url};
use rhosync_engine::values::{bodies_from_json, BodyMap, JsonObjects};
use serde_json::{json, Map, Value};

use super::deps::{AdapterDeps, AppServerUrl};
use super::http_backend::{self, json_request, Reply};
use super::{AdapterCtx, AdapterError, AuthOutcome, Authenticator, RawAttrs, RawObjects, SourceAdapter};
use crate::config::SourceConfig;
use crate::registry::{Registry, ADMIN_LOGIN};

/// The message when a callback is needed and no app server URL is known (docs/adapters.md §4.5).
pub const NO_APP_SERVER: &str = "Please set uri in your settings or through console";
/// The query error for a 2xx body that is not a JSON object (or empty array) (docs/adapters.md §4.3).
pub const INVALID_QUERY_RESPONSE: &str = "Invalid query response";

/// A fixed app server URL (the `:appserver:` setting), for when nothing can change it.
#[derive(Debug, Clone)]
pub struct FixedAppServer(pub Option<String>);

#[async_trait]
impl AppServerUrl for FixedAppServer {
    async fn app_server_url(&self) -> Result<Option<String>, AdapterError> {
        Ok(self.0.clone().filter(|url| !url.trim().is_empty()))
    }
}

/// What both the adapter and the authenticator need to reach the backend.
#[derive(Clone)]
struct Backend {
    http: reqwest::Client,
    registry: Arc<dyn Registry>,
    app_server: Arc<dyn AppServerUrl>,
    /// The source's `url:` setting, used when no app server URL is configured.
    fallback: Option<String>,
    timeout: Duration,
}

/// A resolved callback target: the base URL without userinfo, and the token to send.
struct Target {
    base: Url,
    api_token: String,
}

impl Backend {
    fn from_deps(deps: &AdapterDeps, fallback: Option<String>) -> Self {
        Self {
            http: deps.http.clone(),
            registry: Arc::clone(&deps.registry),
            app_server: deps.app_server.clone().unwrap_or_else(|| Arc::new(FixedAppServer(deps.app.appserver.clone()))),
            fallback: fallback.filter(|url| !url.trim().is_empty()),
            timeout: Duration::from_secs(deps.app.plugin_timeout.max(1)),
        }
    }

    /// The base URL and `api_token` for the next call (docs/adapters.md §4.7, §4.1).
    /// `source_url`: the calling source's `url:` as in effect now (it may have been changed
    /// through the REST API); `None` falls back to the one the adapter was built with.
    async fn target(&self, source_url: Option<&str>) -> Result<Target, AdapterError> {
        let fallback = source_url.filter(|url| !url.trim().is_empty()).or(self.fallback.as_deref());
        let configured = match self.app_server.app_server_url().await? {
            Some(url) => url,
            None => fallback.map(str::to_owned).ok_or_else(|| AdapterError::Backend(NO_APP_SERVER.into()))?,
        };
        // Never echo the URL: its userinfo may be a token.
        let mut base = http_backend::parse_url(configured.trim())
            .map_err(|_| AdapterError::Backend("Invalid app server URL".into()))?;
        let userinfo = Some(base.username().to_owned()).filter(|user| !user.is_empty());
        // Both calls only fail for URLs that cannot carry userinfo, which http(s) can.
        let _ = base.set_username("");
        let _ = base.set_password(None);
        let token =
            self.registry.user_token(ADMIN_LOGIN).await.map_err(|err| AdapterError::Backend(err.to_string()))?;
        // The server's token wins; the userinfo only stands in when there is none (docs/adapters.md §4.7).
        let api_token = token.or(userinfo).unwrap_or_default();
        Ok(Target { base, api_token })
    }

    /// `POST {base}/rhoconnect/{callback}` with `body` (+ `api_token`); the reply whatever
    /// its status.
    async fn exchange(
        &self,
        callback: &str,
        mut body: Map<String, Value>,
        key: Option<&str>,
        source_url: Option<&str>,
    ) -> Result<Reply, AdapterError> {
        let target = self.target(source_url).await?;
        body.insert("api_token".into(), Value::String(target.api_token));
        let url = callback_url(&target.base, callback)?;
        let request = json_request(&self.http, Method::POST, url, Some(&Value::Object(body)));
        let request = http_backend::with_idempotency_key(request, key);
        http_backend::exchange(request, self.timeout).await
    }

    /// As [`Backend::exchange`], but a non-2xx status is an error (docs/adapters.md §4.5).
    /// `ctx`'s idempotency key (client writes) goes out as the `Idempotency-Key` header.
    async fn call(&self, callback: &str, body: Map<String, Value>, ctx: &AdapterCtx) -> Result<Reply, AdapterError> {
        let reply = self.exchange(callback, body, ctx.idempotency_key.as_deref(), Some(&ctx.source.url)).await?;
        if reply.status.is_success() {
            Ok(reply)
        } else {
            Err(AdapterError::Backend(http_backend::status_message(reply.status)))
        }
    }
}

/// Base URL with one trailing `/` removed, then `/rhoconnect/<callback>` (docs/adapters.md §4.1).
fn callback_url(base: &Url, callback: &str) -> Result<Url, AdapterError> {
    let text = base.as_str();
    let trimmed = text.strip_suffix('/').unwrap_or(text);
    Url::parse(&format!("{trimmed}/rhoconnect/{callback}"))
        .map_err(|_| AdapterError::Backend("Invalid app server URL".into()))
}

/// The adapter of one plugin-served source.
#[derive(Clone)]
pub struct PluginAdapter {
    backend: Backend,
}

impl PluginAdapter {
    /// The adapter for `source`, calling the `:appserver:` setting's URL (or the source's
    /// `url:` when that is unset) with `:plugin_timeout:`.
    pub fn new(source: &SourceConfig, deps: &AdapterDeps) -> Result<Self, AdapterError> {
        Ok(Self { backend: Backend::from_deps(deps, Some(source.url.clone())) })
    }

    /// Reads the app server URL from `app_server` on every call instead of the setting
    /// (wire the cache key `appserver_url` here, docs/adapters.md §4.7).
    pub fn with_app_server(mut self, app_server: Arc<dyn AppServerUrl>) -> Self {
        self.backend.app_server = app_server;
        self
    }

    /// Overrides the call timeout (default `:plugin_timeout:` seconds).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.backend.timeout = timeout;
        self
    }

    /// The body common to the four data callbacks (docs/adapters.md §4.1). `partition` is the
    /// acting user's login even for app-partitioned sources; `user_id` repeats it for
    /// rhoconnect.NET.
    fn data_body(ctx: &AdapterCtx, attributes: Value) -> Map<String, Value> {
        let mut body = Map::new();
        body.insert("resource".into(), Value::String(ctx.source.name.clone()));
        body.insert("partition".into(), Value::String(ctx.login.clone()));
        body.insert("attributes".into(), attributes);
        body.insert("user_id".into(), Value::String(ctx.login.clone()));
        body
    }

    /// The `query` callback with the device's `query` parameter as its attributes.
    async fn call_query(&self, ctx: &AdapterCtx, params: Option<&Value>) -> Result<Reply, AdapterError> {
        let attributes = params.cloned().unwrap_or(Value::Null);
        self.backend.call("query", Self::data_body(ctx, attributes), ctx).await
    }

    /// update and delete carry the object id in `attributes` (docs/adapters.md §4.4).
    fn require_id(attrs: &RawAttrs) -> Result<(), AdapterError> {
        if attrs.contains_key("id") {
            Ok(())
        } else {
            Err(AdapterError::Backend("Missing object id".into()))
        }
    }
}

#[async_trait]
impl SourceAdapter for PluginAdapter {
    async fn query(&self, ctx: &AdapterCtx, params: Option<&Value>) -> Result<RawObjects, AdapterError> {
        parse_query_reply(&self.call_query(ctx, params).await?.body)
    }

    async fn query_bodies(&self, ctx: &AdapterCtx, params: Option<&Value>) -> Result<BodyMap, AdapterError> {
        parse_query_reply_bodies(&self.call_query(ctx, params).await?.body)
    }

    async fn create(&self, ctx: &AdapterCtx, attrs: &mut RawAttrs) -> Result<Option<String>, AdapterError> {
        let reply = self.backend.call("create", Self::data_body(ctx, Value::Object(attrs.clone())), ctx).await?;
        Ok(created_id(&reply.body))
    }

    async fn update(&self, ctx: &AdapterCtx, attrs: &RawAttrs) -> Result<(), AdapterError> {
        Self::require_id(attrs)?;
        self.backend.call("update", Self::data_body(ctx, Value::Object(attrs.clone())), ctx).await?;
        Ok(())
    }

    async fn delete(&self, ctx: &AdapterCtx, attrs: &RawAttrs) -> Result<(), AdapterError> {
        Self::require_id(attrs)?;
        self.backend.call("delete", Self::data_body(ctx, Value::Object(attrs.clone())), ctx).await?;
        Ok(())
    }
}

/// A query reply: a JSON object (id → attributes) or `[]`/`{}` for nothing (docs/adapters.md §4.3).
/// Public for the fuzz target (docs/fuzzing.md).
pub fn parse_query_reply(body: &str) -> Result<RawObjects, AdapterError> {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(objects)) => Ok(objects),
        Ok(Value::Array(items)) if items.is_empty() => Ok(RawObjects::new()),
        _ => Err(AdapterError::Backend(INVALID_QUERY_RESPONSE.into())),
    }
}

/// [`parse_query_reply`]'s objects as canonical bodies, read straight from the text (the same
/// replies accepted, the same refused). Public for the fuzz target (docs/fuzzing.md).
pub fn parse_query_reply_bodies(body: &str) -> Result<BodyMap, AdapterError> {
    match bodies_from_json(body) {
        Ok(JsonObjects::Objects(bodies)) => Ok(bodies),
        Ok(JsonObjects::Array { empty: true }) => Ok(BodyMap::new()),
        _ => Err(AdapterError::Backend(INVALID_QUERY_RESPONSE.into())),
    }
}

/// A create reply: the trimmed body is the new id, verbatim; empty means none (docs/adapters.md §4.4).
/// A JSON string body (`"42"`) is unquoted, since some frameworks serialise a returned
/// string as JSON; anything else (`{"id":5}`) is kept as text, as the contract says.
/// Public for the fuzz target (docs/fuzzing.md).
pub fn created_id(body: &str) -> Option<String> {
    let text = body.trim();
    let id = match serde_json::from_str::<Value>(text) {
        Ok(Value::String(unquoted)) => unquoted.trim().to_owned(),
        _ => text.to_owned(),
    };
    (!id.is_empty()).then_some(id)
}

/// Device logins checked by the backend's `/rhoconnect/authenticate` (docs/adapters.md §4.2).
#[derive(Clone)]
pub struct PluginAuthenticator {
    backend: Backend,
}

impl PluginAuthenticator {
    /// Uses the `:appserver:` setting and `:plugin_timeout:` from `deps`; chain
    /// [`PluginAuthenticator::with_app_server`] to follow the run-time URL instead.
    pub fn new(deps: &AdapterDeps) -> Self {
        Self { backend: Backend::from_deps(deps, None) }
    }

    /// Reads the app server URL from `app_server` on every login.
    pub fn with_app_server(mut self, app_server: Arc<dyn AppServerUrl>) -> Self {
        self.backend.app_server = app_server;
        self
    }

    /// Overrides the call timeout (default `:plugin_timeout:` seconds).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.backend.timeout = timeout;
        self
    }

    /// Whether an app server URL is configured now, i.e. whether device logins go to the
    /// backend (docs/adapters.md §5) rather than to the server's own authenticator.
    pub async fn is_configured(&self) -> Result<bool, AdapterError> {
        Ok(self.backend.app_server.app_server_url().await?.is_some())
    }
}

#[async_trait]
impl Authenticator for PluginAuthenticator {
    /// `login` is never empty or `rhoadmin` here: the login route refuses those first.
    /// Extra device parameters are not forwarded: the body is exactly the one in
    /// docs/adapters.md §4's table.
    async fn authenticate(&self, login: &str, password: &str, _params: &Map<String, Value>) -> AuthOutcome {
        let body = json!({ "login": login, "password": password });
        let Value::Object(body) = body else {
            return AuthOutcome::Error("internal error building the authenticate call".into());
        };
        let reply = match self.backend.exchange("authenticate", body, None, None).await {
            Ok(reply) => reply,
            Err(err) => return AuthOutcome::Error(err.message().to_owned()),
        };
        authenticate_outcome(login, reply.status, &reply.body)
    }
}

/// What an authenticate reply means for the login `login` (docs/adapters.md §4.2): a 2xx
/// body is the login to use, 401/403 a refusal, anything else a failure. Public for the
/// fuzz target (docs/fuzzing.md).
pub fn authenticate_outcome(login: &str, status: StatusCode, body: &str) -> AuthOutcome {
    if status.is_success() {
        let mapped = body.trim();
        // An empty body keeps the login as typed (docs/adapters.md §4.2; docs/differences.md §10).
        AuthOutcome::Allow(if mapped.is_empty() { login.to_owned() } else { mapped.to_owned() })
    } else if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        // A refusal, not a failure (docs/adapters.md §4.2).
        AuthOutcome::Deny
    } else {
        AuthOutcome::Error(http_backend::status_message(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_url_drops_one_trailing_slash() {
        let base = Url::parse("https://api.example.com/crm/").expect("url");
        assert_eq!(
            callback_url(&base, "query").expect("joined").as_str(),
            "https://api.example.com/crm/rhoconnect/query"
        );
        let bare = Url::parse("http://backend:3000").expect("url");
        assert_eq!(callback_url(&bare, "create").expect("joined").as_str(), "http://backend:3000/rhoconnect/create");
    }

    #[test]
    fn created_id_is_the_trimmed_body() {
        assert_eq!(created_id(" 42\n"), Some("42".into()));
        assert_eq!(created_id("\"42\""), Some("42".into()));
        assert_eq!(created_id("{\"id\":5}"), Some("{\"id\":5}".into()));
        assert_eq!(created_id("  "), None);
        assert_eq!(created_id("\"\""), None);
    }

    #[test]
    fn query_reply_must_be_an_object_or_empty_array() {
        assert_eq!(parse_query_reply("[]"), Ok(RawObjects::new()));
        assert_eq!(parse_query_reply("{}"), Ok(RawObjects::new()));
        for bad in ["[1]", "\"x\"", "3", "null", "{", ""] {
            assert_eq!(parse_query_reply(bad), Err(AdapterError::Backend(INVALID_QUERY_RESPONSE.into())), "{bad}");
            assert_eq!(parse_query_reply_bodies(bad), parse_query_reply(bad).map(|_| BodyMap::new()), "{bad}");
        }
    }

    #[test]
    fn query_reply_bodies_are_those_of_the_decoded_reply() {
        for reply in ["[]", "{}", r#"{"1":{"name":"a","id":"1","n":2.50},"2":{"id":"2"},"3":[1],"1":{"x":"y"}}"#] {
            let via_tree = parse_query_reply(reply)
                .map(|raw| rhosync_engine::values::normalize_bodies(&Value::Object(raw)).expect("an object map"));
            assert_eq!(parse_query_reply_bodies(reply), via_tree, "{reply}");
        }
        let bodies = parse_query_reply_bodies(r#"{"1":{"name":"a","n":2.50},"1":{"x":"y","w":true}}"#);
        assert_eq!(bodies, Ok(BodyMap::from([("1".into(), r#"{"w":"true","x":"y"}"#.into())])));
    }
}
