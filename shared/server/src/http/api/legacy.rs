//! Every legacy form of the REST API (docs/rest-api.md §3, §9), declared once as a table and
//! served generically.
//!
//! A legacy call is rewritten into its v1 request — v1 method, v1 path with the path
//! parameters taken from same-named body/query parameters, the same headers, query and
//! body — and handed to the v1 router, so both forms share one implementation. The answer
//! gets the `Warning: Use of the <VERB> <path> is deprecated…` header (docs/rest-api.md §1.4),
//! errors included. Token routes check the token before complaining about a missing path
//! parameter, which then gets the v1 route's "unknown" error. The three legacy-only routes
//! (L1 `get_api_token`, L2 `create_client`, L3 `upload_file`) have small handlers here.
//! The `readstate`/`read_state` spellings of T1 are compat aliases without the header.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, MethodRouter};
use axum::Router;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use tower::ServiceExt;

use super::input::{param, MAX_ID_BYTES};
use super::reply;
use crate::auth::session;
use crate::auth::tokens::random_token;
use crate::http::admin::require_admin;
use crate::http::request::{deprecation_warning, MAX_BODY_BYTES};
use crate::http::throttle::{self, SourceAddr};
use crate::http::{ApiRequest, HttpError, Parsed};
use crate::registry::cache::{self, Counter};
use crate::registry::{login::check_password, ClientRecord};
use crate::AppState;

/// Marks a request that arrived on a legacy alias; v1 handlers that answer differently
/// there (the license object's first key) look for it.
#[derive(Debug, Clone)]
pub struct LegacyCall {
    pub path: String,
}

/// What to do when a path parameter is missing from a legacy call.
#[derive(Debug, Clone, Copy)]
enum Missing {
    /// `Unknown user ''`.
    User,
    Client,
    Source,
    Doc,
    /// Use this value.
    Default(&'static str),
    /// The user that owns the API token (`update_user`, docs/rest-api.md §3).
    TokenUser,
}

/// One `{name}` of the v1 path and the legacy parameters that may carry it, in order.
#[derive(Debug, Clone, Copy)]
struct Slot {
    name: &'static str,
    from: &'static [&'static str],
    missing: Missing,
}

const USER: Slot = Slot { name: "user_id", from: &["user_id"], missing: Missing::User };
const UPDATE_USER: Slot = Slot { name: "user_id", from: &["user_id"], missing: Missing::TokenUser };
const CLIENT: Slot = Slot { name: "client_id", from: &["client_id"], missing: Missing::Client };
const SOURCE: Slot = Slot { name: "source_id", from: &["source_id"], missing: Missing::Source };
const PUSH_SOURCE: Slot = Slot { name: "source", from: &["source_id"], missing: Missing::Source };
const DOC: Slot = Slot { name: "doc", from: &["doc"], missing: Missing::Doc };
const PARTITION_TYPE: Slot =
    Slot { name: "partition_type", from: &["partition_type"], missing: Missing::Default("all") };
const READ_STATE_USER: Slot = Slot { name: "user_id", from: &["user_name", "user_id"], missing: Missing::User };
const READ_STATE_SOURCE: Slot =
    Slot { name: "source_id", from: &["source_name", "source_id"], missing: Missing::Source };

#[derive(Debug, Clone)]
enum Target {
    /// Rewrite to a v1 route; `token` says whether it needs the API token.
    V1 {
        method: Method,
        path: &'static str,
        slots: &'static [Slot],
        token: bool,
    },
    GetApiToken,
    CreateClient,
    UploadFile,
}

/// One row of docs/rest-api.md §3's alias table: every path is `POST`.
#[derive(Debug, Clone)]
pub struct Alias {
    paths: &'static [&'static str],
    target: Target,
}

const fn v1(paths: &'static [&'static str], method: Method, path: &'static str, slots: &'static [Slot]) -> Alias {
    Alias { paths, target: Target::V1 { method, path, slots, token: true } }
}

/// The alias table (docs/rest-api.md §3, in table order).
pub static ALIASES: &[Alias] = &[
    Alias {
        paths: &["/login", "/api/admin/login"],
        target: Target::V1 { method: Method::POST, path: "/rc/v1/system/login", slots: &[], token: false },
    },
    v1(&["/api/get_license_info", "/api/admin/get_license_info"], Method::GET, "/rc/v1/system/license", &[]),
    v1(&["/api/reset", "/api/admin/reset"], Method::POST, "/rc/v1/system/reset", &[]),
    v1(&["/api/get_adapter", "/api/source/get_adapter"], Method::GET, "/rc/v1/system/appserver", &[]),
    v1(&["/api/save_adapter", "/api/source/save_adapter"], Method::POST, "/rc/v1/system/appserver", &[]),
    v1(&["/api/stats", "/api/admin/stats"], Method::GET, "/rc/v1/system/stats", &[]),
    v1(&["/api/get_db_doc", "/api/source/get_db_doc"], Method::GET, "/rc/v1/store/{doc}", &[DOC]),
    v1(&["/api/set_db_doc", "/api/source/set_db_doc"], Method::POST, "/rc/v1/store/{doc}", &[DOC]),
    v1(&["/api/list_users", "/api/user/list_users"], Method::GET, "/rc/v1/users", &[]),
    v1(&["/api/create_user", "/api/user/create_user"], Method::POST, "/rc/v1/users", &[]),
    v1(&["/api/update_user", "/api/user/update_user"], Method::PUT, "/rc/v1/users/{user_id}", &[UPDATE_USER]),
    v1(&["/api/delete_user", "/api/user/delete_user"], Method::DELETE, "/rc/v1/users/{user_id}", &[USER]),
    v1(&["/api/list_clients", "/api/client/list_clients"], Method::GET, "/rc/v1/users/{user_id}/clients", &[USER]),
    v1(
        &["/api/delete_client", "/api/client/delete_client"],
        Method::DELETE,
        "/rc/v1/users/{user_id}/clients/{client_id}",
        &[USER, CLIENT],
    ),
    v1(
        &["/api/list_source_docs", "/api/source/list_source_docs"],
        Method::GET,
        "/rc/v1/users/{user_id}/sources/{source_id}/docnames",
        &[USER, SOURCE],
    ),
    v1(&["/api/ping", "/api/client/ping"], Method::POST, "/rc/v1/users/ping", &[]),
    v1(
        &["/api/get_client_params", "/api/client/get_client_params"],
        Method::GET,
        "/rc/v1/clients/{client_id}",
        &[CLIENT],
    ),
    v1(
        &["/api/list_client_docs", "/api/client/list_client_docs"],
        Method::GET,
        "/rc/v1/clients/{client_id}/sources/{source_id}/docnames",
        &[CLIENT, SOURCE],
    ),
    v1(
        &["/api/list_sources", "/api/source/list_sources"],
        Method::GET,
        "/rc/v1/sources/type/{partition_type}",
        &[PARTITION_TYPE],
    ),
    v1(
        &["/api/get_source_params", "/api/source/get_source_params"],
        Method::GET,
        "/rc/v1/sources/{source_id}",
        &[SOURCE],
    ),
    v1(
        &["/api/set_refresh_time", "/api/source/set_refresh_time"],
        Method::PUT,
        "/rc/v1/readstate/users/{user_id}/sources/{source_id}",
        &[READ_STATE_USER, READ_STATE_SOURCE],
    ),
    v1(
        &["/api/push_objects", "/api/source/push_objects"],
        Method::POST,
        "/app/v1/{source}/push_objects",
        &[PUSH_SOURCE],
    ),
    v1(
        &["/api/push_deletes", "/api/source/push_deletes"],
        Method::POST,
        "/app/v1/{source}/push_deletes",
        &[PUSH_SOURCE],
    ),
    v1(&["/api/fast_insert", "/api/source/fast_insert"], Method::POST, "/app/v1/{source}/fast_insert", &[PUSH_SOURCE]),
    v1(&["/api/fast_update", "/api/source/fast_update"], Method::POST, "/app/v1/{source}/fast_update", &[PUSH_SOURCE]),
    v1(&["/api/fast_delete", "/api/source/fast_delete"], Method::POST, "/app/v1/{source}/fast_delete", &[PUSH_SOURCE]),
    Alias { paths: &["/api/get_api_token", "/api/admin/get_api_token"], target: Target::GetApiToken },
    Alias { paths: &["/api/create_client", "/api/client/create_client"], target: Target::CreateClient },
    Alias { paths: &["/api/upload_file", "/api/source/upload_file"], target: Target::UploadFile },
];

/// The read-state spellings served without a warning (docs/rest-api.md §3, last paragraph).
const READ_STATE_COMPAT: [(&str, &str); 3] = [
    ("POST", "/rc/v1/readstate/users/{user_id}/sources/{source_id}"),
    ("PUT", "/rc/v1/read_state/users/{user_id}/sources/{source_id}"),
    ("POST", "/rc/v1/read_state/users/{user_id}/sources/{source_id}"),
];
const READ_STATE_V1: &str = "/rc/v1/readstate/users/{user_id}/sources/{source_id}";

/// Every legacy path with its v1 method and path (for tests and the route table).
pub fn table() -> Vec<(&'static str, Option<(Method, &'static str)>)> {
    ALIASES
        .iter()
        .flat_map(|a| {
            let target = match &a.target {
                Target::V1 { method, path, .. } => Some((method.clone(), *path)),
                _ => None,
            };
            a.paths.iter().map(move |p| (*p, target.clone()))
        })
        .collect()
}

/// The legacy routes, dispatching into `v1` (the v1 router without these aliases).
pub fn routes(v1: Router<AppState>) -> Router<AppState> {
    let mut router = Router::new();
    for alias in ALIASES {
        for path in alias.paths {
            let v1 = v1.clone();
            let handler = move |State(state): State<AppState>, req: Request| async move {
                let warning = deprecation_warning(req.method(), req.uri().path());
                let response = match serve(alias, v1, state, req).await {
                    Ok(response) => response,
                    Err(err) => err.into_response(),
                };
                with_warning(response, &warning)
            };
            router = router.route(path, post(handler));
        }
    }
    for (method, path) in READ_STATE_COMPAT {
        let v1 = v1.clone();
        let handler = move |State(state): State<AppState>,
                            Path((user, source)): Path<(String, String)>,
                            req: Request| async move {
            let target = fill(READ_STATE_V1, &[("user_id", user), ("source_id", source)]);
            match rewrite(v1, state, req, Method::PUT, &target).await {
                Ok(response) => response,
                Err(err) => err.into_response(),
            }
        };
        let route: MethodRouter<AppState> = match method {
            "PUT" => axum::routing::put(handler),
            _ => post(handler),
        };
        router = router.route(path, route);
    }
    router
}

fn with_warning(mut response: Response, warning: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(warning) {
        response.headers_mut().insert("warning", value);
    }
    response
}

/// Reads the whole body so it can be parsed here and replayed to the v1 route.
async fn split(req: Request) -> Result<(axum::http::request::Parts, Bytes), HttpError> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| HttpError::BadRequest(format!("request body larger than {MAX_BODY_BYTES} bytes")))?;
    Ok((parts, bytes))
}

fn rebuild(parts: &axum::http::request::Parts, method: Method, uri: Uri, bytes: Bytes) -> Request {
    let mut req = Request::new(Body::from(bytes));
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.headers_mut() = parts.headers.clone();
    req
}

async fn parse(state: &AppState, parts: &axum::http::request::Parts, bytes: &Bytes) -> Result<Parsed, HttpError> {
    let req = rebuild(parts, parts.method.clone(), parts.uri.clone(), bytes.clone());
    ApiRequest::from_request(req, state).await.map(|ApiRequest(p)| p)
}

async fn serve(
    alias: &'static Alias,
    v1: Router<AppState>,
    state: AppState,
    req: Request,
) -> Result<Response, HttpError> {
    let (parts, bytes) = split(req).await?;
    // Body errors come first (docs/rest-api.md §1.2), then the token, then path parameters.
    let parsed = parse(&state, &parts, &bytes).await?;
    match &alias.target {
        Target::V1 { method, path, slots, token } => {
            let login = if *token { Some(require_admin(&state, &parsed).await?) } else { None };
            let mut values = Vec::with_capacity(slots.len());
            for slot in slots.iter() {
                let given = slot.from.iter().find_map(|name| param(&parsed, name).filter(|v| !v.is_empty()));
                let value = match (given, slot.missing) {
                    (Some(v), _) => v,
                    (None, Missing::Default(v)) => v.to_owned(),
                    (None, Missing::TokenUser) => login.clone().unwrap_or_default(),
                    (None, Missing::User) => return Err(HttpError::UnknownUser(String::new())),
                    (None, Missing::Client) => return Err(HttpError::UnknownClient),
                    (None, Missing::Source) => return Err(HttpError::UnknownSource),
                    (None, Missing::Doc) => return Err(HttpError::BadRequest("Missing doc".into())),
                };
                values.push((slot.name, value));
            }
            let target = fill(path, &values);
            let legacy = LegacyCall { path: parts.uri.path().to_owned() };
            dispatch(v1, state, &parts, bytes, method.clone(), &target, Some(legacy)).await
        }
        Target::GetApiToken => get_api_token(&state, &SourceAddr::of(&parts), &parsed).await,
        Target::CreateClient => create_client(&state, &parsed).await,
        Target::UploadFile => {
            require_admin(&state, &parsed).await?;
            Err(HttpError::NotSupported)
        }
    }
}

async fn rewrite(
    v1: Router<AppState>,
    state: AppState,
    req: Request,
    method: Method,
    target: &str,
) -> Result<Response, HttpError> {
    let (parts, bytes) = split(req).await?;
    dispatch(v1, state, &parts, bytes, method, target, None).await
}

async fn dispatch(
    v1: Router<AppState>,
    state: AppState,
    parts: &axum::http::request::Parts,
    bytes: Bytes,
    method: Method,
    target: &str,
    legacy: Option<LegacyCall>,
) -> Result<Response, HttpError> {
    let uri = match parts.uri.query() {
        Some(q) => format!("{target}?{q}"),
        None => target.to_owned(),
    };
    let uri: Uri = uri.parse().map_err(|e| HttpError::BadRequest(format!("bad path: {e}")))?;
    let mut req = rebuild(parts, method, uri, bytes);
    // The login alias's throttle counts the original request's source.
    req.extensions_mut().insert(SourceAddr::of(parts));
    if let Some(legacy) = legacy {
        req.extensions_mut().insert(legacy);
    }
    match v1.with_state(state).oneshot(req).await {
        Ok(response) => Ok(response),
        Err(never) => match never {},
    }
}

/// Characters kept as they are in a path segment; everything else is percent-encoded
/// (the v1 routes decode path parameters).
const SEGMENT: &AsciiSet =
    &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b':').remove(b'*');

fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut path = template.to_owned();
    for (name, value) in values {
        let encoded = utf8_percent_encode(value, SEGMENT).to_string();
        path = path.replace(&format!("{{{name}}}"), &encoded);
    }
    path
}

/// L1: the API token of an admin identified by the session cookie of `POST /login`, or
/// by `login` + `password` (docs/rest-api.md §9).
async fn get_api_token(state: &AppState, source: &SourceAddr, req: &Parsed) -> Result<Response, HttpError> {
    let registry = state.registry();
    let settings = &state.config.settings.app;
    let now = session::now();
    let from_cookie = req
        .header("cookie")
        .map(|h| session::from_cookie_header(h, &settings.cookie_name))
        .unwrap_or_default()
        .into_iter()
        .find_map(|v| session::verify(&state.config.env.secret, &v, now, settings.cookie_expire))
        .map(|s| s.login);
    let login = match from_cookie {
        Some(login) => Some(login),
        None => match (param(req, "login"), param(req, "password")) {
            (Some(login), Some(pass)) => {
                let ticket = throttle::admit(state, source, &login).await?;
                let checked = check_password(registry, &login, &pass).await;
                throttle::settle(state, ticket, matches!(checked, Ok(None))).await;
                checked?.map(|u| u.login)
            }
            _ => None,
        },
    };
    let Some(login) = login else { return Err(HttpError::InvalidApiUser) };
    match (registry.user(&login).await?, registry.user_token(&login).await?) {
        (Some(user), Some(token)) if user.admin => Ok(reply::text(token)),
        _ => Err(HttpError::InvalidApiUser),
    }
}

/// L2: a new client record for `user_id`; answers its id.
async fn create_client(state: &AppState, req: &Parsed) -> Result<Response, HttpError> {
    require_admin(state, req).await?;
    let user_id = param(req, "user_id").unwrap_or_default();
    if user_id.len() > MAX_ID_BYTES || state.registry().user(&user_id).await?.is_none() {
        return Err(HttpError::UnknownUser(user_id));
    }
    let client =
        ClientRecord { id: random_token(), user_id, app_id: session::APP_NAME.to_owned(), ..ClientRecord::default() };
    state.registry().put_client(&client).await?;
    cache::bump(&*state.sync.store, state.config.settings.app.stats, Counter::Clients, 1).await?;
    Ok(reply::text(client.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_are_encoded_into_one_segment() {
        let path = fill("/rc/v1/store/{doc}", &[("doc", "source:application:u 1:P/x:md".into())]);
        assert_eq!(path, "/rc/v1/store/source:application:u%201:P%2Fx:md");
        assert_eq!(
            fill(
                "/rc/v1/users/{user_id}/sources/{source_id}/docnames",
                &[("user_id", "*".into()), ("source_id", "P".into())]
            ),
            "/rc/v1/users/*/sources/P/docnames"
        );
    }

    #[test]
    fn every_legacy_path_is_unique_and_post_only_paths_start_right() {
        let paths: Vec<&str> = table().into_iter().map(|(p, _)| p).collect();
        let mut unique = paths.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), paths.len());
        assert!(paths.iter().all(|p| p.starts_with("/api/") || *p == "/login"));
    }
}
