//! The `adapter_options:` of a `rest` source, read and checked once at construction so a
//! mistake in the settings file fails start-up with a message naming the key, instead of
//! failing every sync. The reference of the keys is in `adapters/README.md`.

use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Method;
use serde_json::{Map, Value};

use super::template::UrlTemplate;
use crate::config::SourceConfig;

/// One write operation: how to call it, or `None` when the source refuses it.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: Method,
    pub url: UrlTemplate,
}

/// The validated options of one `rest` source.
#[derive(Clone)]
pub struct RestOptions {
    pub list_method: Method,
    pub list_url: UrlTemplate,
    /// JSON pointer to the records in the list reply (`""`: the whole body).
    pub records_pointer: String,
    pub id_field: String,
    pub create: Option<Operation>,
    /// JSON pointer to the new id in the create reply.
    pub create_id_pointer: String,
    pub update: Option<Operation>,
    pub delete: Option<Operation>,
    /// backend attribute name → device attribute name.
    pub field_map: Vec<(String, String)>,
    pub drop_unmapped: bool,
    /// The auth header, its value marked sensitive (never logged).
    pub auth: Option<(HeaderName, HeaderValue)>,
    pub timeout: Duration,
}

/// Keys this module understands; anything else is a typo worth reporting.
const KNOWN_KEYS: [&str; 13] = [
    "list_url",
    "list_method",
    "records_pointer",
    "id_field",
    "create",
    "update",
    "delete",
    "field_map",
    "drop_unmapped",
    "auth_header",
    "auth_secret_env",
    "auth_prefix",
    "timeout_secs",
];

impl RestOptions {
    /// Reads `source.adapter_options`; `default_timeout` is `:plugin_timeout:`. Secrets are
    /// read from the environment through `env` (tests pass their own lookup).
    pub fn parse(
        source: &SourceConfig,
        default_timeout: Duration,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let opts = &source.adapter_options;
        if let Some(unknown) = opts.keys().find(|key| !KNOWN_KEYS.contains(&key.as_str())) {
            return Err(format!("unknown option '{unknown}' (known: {})", KNOWN_KEYS.join(", ")));
        }
        let base = source.url.as_str();
        let list_raw = string(opts, "list_url")?.ok_or("list_url is required")?;
        let list_url = UrlTemplate::parse(&list_raw, base, false).map_err(|e| format!("list_url: {e}"))?;
        let list_method = match string(opts, "list_method")? {
            Some(raw) => method(&raw).map_err(|e| format!("list_method: {e}"))?,
            None => Method::GET,
        };
        let records_pointer = string(opts, "records_pointer")?.unwrap_or_default();
        check_pointer("records_pointer", &records_pointer)?;
        let id_field = string(opts, "id_field")?.unwrap_or_else(|| "id".to_owned());
        if id_field.is_empty() {
            return Err("id_field must not be empty".into());
        }
        // Defaults for writes hang off the list URL, which only works when it is a plain
        // collection URL.
        let collection = (!list_raw.contains('?')).then_some(list_raw.as_str());
        let item = collection.map(|c| format!("{}/{{id}}", c.strip_suffix('/').unwrap_or(c)));
        let create = operation(opts, "create", Method::POST, collection, base, false)?;
        let update = operation(opts, "update", Method::PATCH, item.as_deref(), base, true)?;
        let delete = operation(opts, "delete", Method::DELETE, item.as_deref(), base, true)?;
        let create_id_pointer = match opts.get("create").and_then(Value::as_object) {
            Some(create) => string(create, "id_pointer").map_err(|e| format!("create.{e}"))?,
            None => None,
        }
        .unwrap_or_else(|| format!("/{}", id_field.replace('~', "~0").replace('/', "~1")));
        check_pointer("create.id_pointer", &create_id_pointer)?;
        let field_map = match opts.get("field_map") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(backend, device)| match device {
                    Value::String(device) if !device.is_empty() => Ok((backend.clone(), device.clone())),
                    _ => Err(format!("field_map.{backend} must be a non-empty device attribute name")),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("field_map must be a map of backend name: device name".into()),
        };
        let mut devices: Vec<&str> = field_map.iter().map(|(_, d)| d.as_str()).collect();
        devices.sort_unstable();
        if let Some(pair) = devices.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("field_map maps two backend fields to '{}'", pair[0]));
        }
        let drop_unmapped = match opts.get("drop_unmapped") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err("drop_unmapped must be true or false".into()),
        };
        let auth = auth(opts, env)?;
        let timeout = match opts.get("timeout_secs") {
            None | Some(Value::Null) => default_timeout,
            Some(value) => match value.as_f64() {
                Some(secs) if secs > 0.0 && secs <= 900.0 => Duration::from_secs_f64(secs),
                _ => return Err("timeout_secs must be a number of seconds above 0 and at most 900".into()),
            },
        };
        Ok(Self {
            list_method,
            list_url,
            records_pointer,
            id_field,
            create,
            create_id_pointer,
            update,
            delete,
            field_map,
            drop_unmapped,
            auth,
            timeout,
        })
    }
}

fn string(opts: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match opts.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{key} must be a string")),
    }
}

fn method(raw: &str) -> Result<Method, String> {
    match raw.to_ascii_uppercase().as_str() {
        "GET" => Ok(Method::GET),
        "POST" => Ok(Method::POST),
        "PUT" => Ok(Method::PUT),
        "PATCH" => Ok(Method::PATCH),
        "DELETE" => Ok(Method::DELETE),
        _ => Err(format!("'{raw}' is not one of GET, POST, PUT, PATCH, DELETE")),
    }
}

fn check_pointer(key: &str, pointer: &str) -> Result<(), String> {
    if pointer.is_empty() || pointer.starts_with('/') {
        Ok(())
    } else {
        Err(format!("{key} must be a JSON pointer: empty or starting with '/', not '{pointer}'"))
    }
}

/// `create:`/`update:`/`delete:`: absent → the default, `false` → refused, or a map
/// `{method, url}` whose missing members take the defaults.
fn operation(
    opts: &Map<String, Value>,
    key: &str,
    default_method: Method,
    default_url: Option<&str>,
    base: &str,
    with_id: bool,
) -> Result<Option<Operation>, String> {
    let spec = match opts.get(key) {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Bool(false)) => return Ok(None),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err(format!("{key} must be a map {{method, url}} or false")),
    };
    let allowed: &[&str] = if key == "create" { &["method", "url", "id_pointer"] } else { &["method", "url"] };
    if let Some(unknown) = spec.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!("{key}.{unknown} is not an option (known: {})", allowed.join(", ")));
    }
    let method = match string(&spec, "method").map_err(|e| format!("{key}.{e}"))? {
        Some(raw) => self::method(&raw).map_err(|e| format!("{key}.method: {e}"))?,
        None => default_method,
    };
    let raw = match string(&spec, "url").map_err(|e| format!("{key}.{e}"))? {
        Some(url) => url,
        None => default_url
            .map(str::to_owned)
            .ok_or_else(|| format!("{key}.url is required because list_url has a query string"))?,
    };
    let url = UrlTemplate::parse(&raw, base, with_id).map_err(|e| format!("{key}.url: {e}"))?;
    if with_id && !url.uses_id() {
        return Err(format!("{key}.url must contain {{id}}"));
    }
    Ok(Some(Operation { method, url }))
}

fn auth(
    opts: &Map<String, Value>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(HeaderName, HeaderValue)>, String> {
    let header = string(opts, "auth_header")?;
    let var = string(opts, "auth_secret_env")?;
    let prefix = string(opts, "auth_prefix")?.unwrap_or_default();
    let (header, var) = match (header, var) {
        (None, None) if prefix.is_empty() => return Ok(None),
        (Some(header), Some(var)) => (header, var),
        _ => return Err("auth_header and auth_secret_env go together (auth_prefix needs both)".into()),
    };
    let name = HeaderName::from_bytes(header.as_bytes())
        .map_err(|_| format!("auth_header: '{header}' is not a valid header name"))?;
    let secret = env(&var)
        .filter(|value| !value.is_empty())
        .ok_or_else(|| format!("auth_secret_env: the environment variable {var} is not set"))?;
    // The message must not quote the value: it is a secret.
    let mut value = HeaderValue::from_str(&format!("{prefix}{secret}"))
        .map_err(|_| format!("auth_secret_env: the value of {var} is not a valid header value"))?;
    value.set_sensitive(true);
    Ok(Some((name, value)))
}
