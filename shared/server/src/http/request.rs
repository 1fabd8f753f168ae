//! The request extractor every route uses: method, path, headers and the merged parameter
//! map of docs/device-protocol.md §2.1, built by the engine's pure parser. Body parsing fails
//! before anything else runs, with the 500 text clients expect.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, Method, Uri};
use rhosync_engine::params::{build_params, Body, Params, ParamsError, Part, RequestParams};

use super::error::HttpError;

/// Largest request body we read: Lambda's synchronous payload limit.
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// A parsed request: the parameters plus what routes need from the envelope.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub params: Params,
    /// File parts of a multipart body (blob sync).
    pub uploads: Vec<Part>,
}

impl Parsed {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn param_str(&self, name: &str) -> Option<&str> {
        self.params.get(name).and_then(|v| v.as_str())
    }
}

/// Device-route parameters: strict about content types.
pub struct DeviceRequest(pub Parsed);

/// REST-API parameters: also reads a JSON object body sent without a content type
/// (docs/rest-api.md §1.2, what some backend libraries send).
pub struct ApiRequest(pub Parsed);

impl<S: Send + Sync> FromRequest<S> for DeviceRequest {
    type Rejection = HttpError;

    async fn from_request(req: Request, _: &S) -> Result<Self, HttpError> {
        let parsed = parse(req, false).await?;
        check_id_lengths(&parsed)?;
        Ok(Self(parsed))
    }
}

/// The longest login or client id a device may send (docs/device-protocol.md §2.6): far
/// above any real one (Rhodes' client ids have 32 characters), well below what the registry
/// can key on.
pub const MAX_ID_BYTES: usize = 255;

/// The header a device names its client in.
pub const CLIENT_ID_HEADER: &str = "x-rhoconnect-client-id";

/// Refuses a login or client id over [`MAX_ID_BYTES`] before anything reads or writes it.
fn check_id_lengths(req: &Parsed) -> Result<(), HttpError> {
    let param_len = |name: &str| match req.params.get(name) {
        Some(serde_json::Value::String(s)) => s.len(),
        Some(other) => other.to_string().len(),
        None => 0,
    };
    if param_len("login") > MAX_ID_BYTES {
        return Err(HttpError::BadRequest(format!("login is too long (at most {MAX_ID_BYTES} bytes)")));
    }
    let header_len = req.header(CLIENT_ID_HEADER).map_or(0, str::len);
    if header_len.max(param_len("client_id")) > MAX_ID_BYTES {
        return Err(HttpError::BadRequest(format!("client id is too long (at most {MAX_ID_BYTES} bytes)")));
    }
    Ok(())
}

impl<S: Send + Sync> FromRequest<S> for ApiRequest {
    type Rejection = HttpError;

    async fn from_request(req: Request, _: &S) -> Result<Self, HttpError> {
        parse(req, true).await.map(Self)
    }
}

async fn parse(req: Request, lenient_json: bool) -> Result<Parsed, HttpError> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| HttpError::BadRequest(format!("request body larger than {MAX_BODY_BYTES} bytes")))?;
    let content_type =
        parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let RequestParams { params, uploads } = params_of(parts.uri.query(), &content_type, bytes, lenient_json).await?;
    Ok(Parsed { method: parts.method, uri: parts.uri, headers: parts.headers, params, uploads })
}

/// The parameters of a request from its query, `Content-Type` and body: a multipart body
/// split into parts by `multer`, any other through the engine's parser; `lenient_json`
/// reads a `{`-led body sent without a content type as JSON (REST-API requests). Public for
/// the fuzz target (docs/fuzzing.md).
pub async fn params_of(
    query: Option<&str>,
    content_type: &str,
    bytes: Bytes,
    lenient_json: bool,
) -> Result<RequestParams, HttpError> {
    let media = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if media == "multipart/form-data" {
        let parts = multipart_parts(content_type, bytes).await?;
        return build_params(query, Body::Multipart(parts), &[]).map_err(params_error);
    }
    let looks_like_json = lenient_json && media.is_empty() && bytes.trim_ascii_start().first() == Some(&b'{');
    let body = if bytes.is_empty() && media.is_empty() {
        Body::None
    } else if looks_like_json {
        Body::Raw { content_type: "application/json", bytes: &bytes }
    } else {
        Body::Raw { content_type, bytes: &bytes }
    };
    build_params(query, body, &[]).map_err(params_error)
}

/// A body nested past the parser's depth limit is refused with 400 and the limit; any other
/// unparsable body gets RhoConnect's client-data error, which clients match on.
fn params_error(err: ParamsError) -> HttpError {
    match err {
        ParamsError::NestingTooDeep => HttpError::BadRequest(err.to_string()),
        _ => HttpError::ClientData,
    }
}

async fn multipart_parts(content_type: &str, bytes: Bytes) -> Result<Vec<Part>, HttpError> {
    let boundary = multer::parse_boundary(content_type).map_err(|_| HttpError::ClientData)?;
    let stream = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(bytes) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut parts = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(|_| HttpError::ClientData)? {
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(|m| m.to_string());
        let data = field.bytes().await.map_err(|_| HttpError::ClientData)?;
        parts.push(Part { name, filename, content_type, bytes: data.to_vec() });
    }
    Ok(parts)
}

/// The `Warning` header of a legacy alias (docs/device-protocol.md §2.5, docs/rest-api.md §1.4).
pub fn deprecation_warning(method: &Method, path: &str) -> String {
    format!("Use of the {method} {path} is deprecated. Use Rhoconnect API v1 instead.")
}
