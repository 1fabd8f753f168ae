//! The HTTP side of the benchmark: a [`Target`] (the runner's base URL, loopback only), a
//! simulated [`Device`] speaking the v1 device routes (docs/device-protocol.md §3–§6), and an
//! [`Admin`] calling the backend push routes with the API token (docs/rest-api.md §8).
//!
//! Every device request is timed and appended to the device's [`Device::log`], so a
//! scenario can read latencies per request kind after the fact.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use reqwest::header::{HeaderMap, COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde_json::{json, Map, Value};

/// Header carrying the client id (docs/device-protocol.md §2.2).
pub const CLIENT_ID_HEADER: &str = "X-RhoConnect-CLIENT-ID";
/// Header carrying the page token (docs/device-protocol.md §5.2).
pub const PAGE_TOKEN_HEADER: &str = "X-Rhoconnect-PAGE-TOKEN";
/// Header carrying the admin API token (docs/rest-api.md §1.3).
pub const API_TOKEN_HEADER: &str = "X-RhoConnect-API-TOKEN";

/// The server under test: a loopback base URL and one shared connection pool.
#[derive(Clone, Debug)]
pub struct Target {
    base: Url,
    http: reqwest::Client,
}

impl Target {
    /// Refuses anything but a plain-HTTP loopback address: the benchmark never sends
    /// traffic off the machine.
    pub fn new(base_url: &str) -> Result<Target> {
        let base = Url::parse(base_url).with_context(|| format!("bad base URL {base_url}"))?;
        let host = base.host_str().unwrap_or_default();
        if base.scheme() != "http" || !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            bail!("the benchmark only talks to http://127.0.0.1 (got {base_url})");
        }
        let http = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(512)
            .timeout(Duration::from_secs(120))
            .build()
            .context("building the HTTP client")?;
        Ok(Target { base, http })
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `path` (starting with `/`) resolved against the base URL.
    pub fn url(&self, path: &str) -> Result<Url> {
        self.base.join(path.trim_start_matches('/')).with_context(|| format!("bad path {path}"))
    }

    pub fn request(&self, method: Method, path: &str) -> Result<reqwest::RequestBuilder> {
        Ok(self.http.request(method, self.url(path)?))
    }

    /// A GET answering 200, or an error naming the status and body.
    pub async fn get_ok(&self, path: &str) -> Result<String> {
        let resp = self.request(Method::GET, path)?.send().await.with_context(|| format!("GET {path}"))?;
        expect_ok(resp, &format!("GET {path}")).await.map(|(_, body)| body)
    }
}

/// Reads the body and fails unless the status is 200.
async fn expect_ok(resp: reqwest::Response, what: &str) -> Result<(HeaderMap, String)> {
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.text().await.with_context(|| format!("{what}: reading the body"))?;
    if status != StatusCode::OK {
        let shown: String = body.chars().take(300).collect();
        bail!("{what}: HTTP {status}: {shown}");
    }
    Ok((headers, body))
}

/// One parsed query page (docs/device-protocol.md §5.2).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    pub token: String,
    pub count: u64,
    pub total_count: u64,
    /// Objects in `insert`.
    pub inserted: usize,
    /// Attribute values in `insert`.
    pub inserted_values: usize,
    /// Objects in `delete`.
    pub deleted: usize,
    pub links: usize,
    /// Keys of the command object other than insert/delete/links (errors, metadata …).
    pub other_keys: Vec<String>,
    /// Response body size.
    pub bytes: usize,
}

impl Page {
    /// Parses and checks a page: six elements in order, version 3, a numeric or empty
    /// token equal to the header when the header is present, and `count` = inserts + deletes.
    pub fn parse(body: &str, header_token: Option<&str>) -> Result<Page> {
        let value: Value = serde_json::from_str(body).context("query page is not JSON")?;
        let items = value.as_array().ok_or_else(|| anyhow!("query page is not an array"))?;
        if items.len() != 6 {
            bail!("query page has {} elements, not 6", items.len());
        }
        let field = |i: usize, key: &str| -> Result<&Value> {
            items[i].get(key).ok_or_else(|| anyhow!("query page element {i} lacks {key:?}"))
        };
        if field(0, "version")?.as_u64() != Some(3) {
            bail!("query page version is not 3");
        }
        let token = field(1, "token")?.as_str().ok_or_else(|| anyhow!("token is not a string"))?.to_owned();
        if !token.is_empty() && token.parse::<u64>().map_or(true, |t| t < 2) {
            bail!("token {token:?} is not a decimal integer > 1");
        }
        if let Some(header) = header_token {
            if header != token {
                bail!("page token header {header:?} differs from the body's {token:?}");
            }
        }
        let count = field(2, "count")?.as_u64().ok_or_else(|| anyhow!("count is not a number"))?;
        field(3, "progress_count")?;
        let total_count = field(4, "total_count")?.as_u64().ok_or_else(|| anyhow!("total_count is not a number"))?;
        let command = items[5].as_object().ok_or_else(|| anyhow!("command element is not an object"))?;
        let map_len = |key: &str| command.get(key).and_then(Value::as_object).map_or(0, Map::len);
        let inserted_values = command
            .get("insert")
            .and_then(Value::as_object)
            .map_or(0, |m| m.values().filter_map(Value::as_object).map(Map::len).sum());
        let page = Page {
            token,
            count,
            total_count,
            inserted: map_len("insert"),
            inserted_values,
            deleted: map_len("delete"),
            links: map_len("links"),
            other_keys: command
                .keys()
                .filter(|k| !matches!(k.as_str(), "insert" | "delete" | "links"))
                .cloned()
                .collect(),
            bytes: body.len(),
        };
        if page.count != (page.inserted + page.deleted) as u64 {
            bail!("count {} but {} inserts + {} deletes", page.count, page.inserted, page.deleted);
        }
        Ok(page)
    }
}

/// Totals of one sync cycle: the request without a token, then one per acknowledged page.
#[derive(Debug, Clone, Default)]
pub struct Cycle {
    pub requests: usize,
    pub inserted: usize,
    pub inserted_values: usize,
    pub deleted: usize,
    pub total_count: u64,
    pub bytes: usize,
    pub elapsed: Duration,
    /// Command-object keys other than insert/delete/links seen in the cycle.
    pub other_keys: Vec<String>,
}

/// A simulated device: a login session, a client id and a log of timed requests.
#[derive(Debug, Clone)]
pub struct Device {
    target: Target,
    pub login: String,
    password: String,
    cookie: Option<String>,
    pub client_id: Option<String>,
    /// `(request kind, latency)` of every request made, in order.
    pub log: Vec<(&'static str, Duration)>,
    /// `(request kind, X-Rhosync-Aws-Calls)` of every answer that carried the header.
    pub aws: Vec<(&'static str, Option<String>)>,
}

impl Device {
    pub fn new(target: &Target, login: &str, password: &str) -> Device {
        Device {
            target: target.clone(),
            login: login.to_owned(),
            password: password.to_owned(),
            cookie: None,
            client_id: None,
            log: Vec::new(),
            aws: Vec::new(),
        }
    }

    /// Sends a request with the session cookie and client id, times it, and returns the
    /// headers and body of a 200 answer.
    async fn call(
        &mut self,
        kind: &'static str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<(HeaderMap, String)> {
        let mut url = self.target.url(path)?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut req = self.target.http.request(method.clone(), url);
        if let Some(cookie) = &self.cookie {
            req = req.header(COOKIE, cookie);
        }
        if let Some(id) = &self.client_id {
            req = req.header(CLIENT_ID_HEADER, id);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let started = Instant::now();
        let what = format!("{kind}: {method} {path}");
        let resp = req.send().await.with_context(|| what.clone())?;
        let out = expect_ok(resp, &what).await;
        self.log.push((kind, started.elapsed()));
        if let Ok((headers, _)) = &out {
            let calls = headers.get("x-rhosync-aws-calls").and_then(|v| v.to_str().ok()).map(str::to_owned);
            if calls.is_some() {
                self.aws.push((kind, calls));
            }
        }
        out
    }

    /// `POST /rc/v1/app/login`; keeps every cookie of the answer, as Rhodes does.
    pub async fn login(&mut self) -> Result<()> {
        self.cookie = None;
        let body = json!({"login": self.login, "password": self.password});
        let (headers, _) = self.call("login", Method::POST, "/rc/v1/app/login", &[], Some(&body)).await?;
        let pairs: Vec<String> = headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .map(|pair| pair.trim().to_owned())
            .filter(|pair| pair.contains('='))
            .collect();
        if pairs.is_empty() {
            bail!("login of {} set no cookie", self.login);
        }
        self.cookie = Some(pairs.join("; "));
        Ok(())
    }

    /// `POST /rc/v1/clients`; remembers the new client id.
    pub async fn client_create(&mut self) -> Result<String> {
        self.client_id = None;
        let (_, body) = self.call("clientcreate", Method::POST, "/rc/v1/clients", &[], None).await?;
        let value: Value = serde_json::from_str(&body).context("clientcreate answer is not JSON")?;
        let id = value
            .pointer("/client/client_id")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("clientcreate answer lacks client.client_id: {body}"))?
            .to_owned();
        self.client_id = Some(id.clone());
        Ok(id)
    }

    /// `POST /rc/v1/clients/{id}/register` with push details.
    pub async fn client_register(&mut self) -> Result<()> {
        let id = self.client_id.clone().ok_or_else(|| anyhow!("clientregister before clientcreate"))?;
        let body = json!({"device_type": "APPLE", "device_pin": "bench-pin", "device_port": "100", "phone_id": id});
        self.call("clientregister", Method::POST, &format!("/rc/v1/clients/{id}/register"), &[], Some(&body))
            .await
            .map(drop)
    }

    /// `GET /app/v1/{source}` with an optional acknowledgement token.
    pub async fn query(
        &mut self,
        kind: &'static str,
        source: &str,
        p_size: usize,
        token: Option<&str>,
    ) -> Result<Page> {
        let p_size = p_size.to_string();
        let mut query = vec![("p_size", p_size.as_str())];
        if let Some(token) = token {
            query.push(("token", token));
        }
        let (headers, body) = self.call(kind, Method::GET, &format!("/app/v1/{source}"), &query, None).await?;
        let header_token = headers.get(PAGE_TOKEN_HEADER).and_then(|v| v.to_str().ok());
        Page::parse(&body, header_token).with_context(|| format!("{kind} on {source}"))
    }

    /// A whole sync cycle: query, then acknowledge each page until the token is empty.
    /// Stops with an error after `max_pages` pages.
    pub async fn sync(&mut self, source: &str, p_size: usize, max_pages: usize) -> Result<Cycle> {
        let started = Instant::now();
        let mut cycle = Cycle::default();
        let mut token: Option<String> = None;
        loop {
            let kind = if token.is_some() { "query-ack" } else { "query" };
            let page = self.query(kind, source, p_size, token.as_deref()).await?;
            cycle.requests += 1;
            cycle.inserted += page.inserted;
            cycle.inserted_values += page.inserted_values;
            cycle.deleted += page.deleted;
            cycle.total_count = page.total_count;
            cycle.bytes += page.bytes;
            for key in page.other_keys {
                if !cycle.other_keys.contains(&key) {
                    cycle.other_keys.push(key);
                }
            }
            if page.token.is_empty() {
                break;
            }
            if cycle.requests > max_pages {
                bail!("sync of {source} did not finish within {max_pages} pages");
            }
            token = Some(page.token);
        }
        cycle.elapsed = started.elapsed();
        Ok(cycle)
    }

    /// `POST /app/v1/{source}` with `{"create": objects}`.
    pub async fn create(&mut self, source: &str, objects: Map<String, Value>) -> Result<()> {
        let body = json!({"create": objects});
        self.call("create", Method::POST, &format!("/app/v1/{source}"), &[], Some(&body)).await.map(drop)
    }

    /// `POST /app/v1/{source}` with `{"update": objects}`.
    pub async fn update(&mut self, source: &str, objects: Map<String, Value>) -> Result<()> {
        let body = json!({"update": objects});
        self.call("update", Method::POST, &format!("/app/v1/{source}"), &[], Some(&body)).await.map(drop)
    }

    /// `DELETE /app/v1/{source}/{id}`.
    pub async fn delete_one(&mut self, source: &str, id: &str) -> Result<()> {
        self.call("delete", Method::DELETE, &format!("/app/v1/{source}/{id}"), &[], None).await.map(drop)
    }

    /// `POST /rc/v1/app/bulk_data` for `partition` and `sources`; the answer as JSON
    /// (`{"result": "wait" | "url" | "nop", …}`, docs/bulk-data.md §2).
    pub async fn bulk_data(&mut self, partition: &str, sources: &[&str]) -> Result<Value> {
        let body = json!({"partition": partition, "sources": sources});
        let (_, text) = self.call("bulk_data", Method::POST, "/rc/v1/app/bulk_data", &[], Some(&body)).await?;
        serde_json::from_str(&text).with_context(|| format!("bulk_data answer is not JSON: {text}"))
    }
}

/// The backend / admin side: data pushes with the API token.
#[derive(Debug, Clone)]
pub struct Admin {
    target: Target,
    token: String,
}

impl Admin {
    pub fn new(target: &Target, token: &str) -> Admin {
        Admin { target: target.clone(), token: token.to_owned() }
    }

    /// Posts `body` to `path` with the API token; fails unless the answer is 200, naming
    /// `what` with the status and the start of the body.
    async fn post_ok(&self, what: &str, path: &str, body: &Value) -> Result<()> {
        let resp = self
            .target
            .request(Method::POST, path)?
            .header(API_TOKEN_HEADER, &self.token)
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = resp.status();
        let text = resp.text().await.with_context(|| format!("POST {path}: reading the body"))?;
        if status != StatusCode::OK {
            bail!("{what}: HTTP {status}: {}", text.chars().take(300).collect::<String>());
        }
        Ok(())
    }

    /// `POST /app/v1/{source}/push_objects`: merge `objects` into `user`'s master document
    /// (the shared one for app-partitioned sources). Returns the latency.
    pub async fn push_objects(&self, source: &str, user: &str, objects: &Map<String, Value>) -> Result<Duration> {
        self.push("push_objects", source, user, objects).await
    }

    /// `POST /app/v1/{source}/push_deletes`. Returns the latency.
    pub async fn push_deletes(&self, source: &str, user: &str, ids: &[String]) -> Result<Duration> {
        self.push("push_deletes", source, user, ids).await
    }

    /// `POST /app/v1/{source}/{route}` of `objects` for `user`, one of the backend push
    /// routes. Returns the latency.
    async fn push<T: Serialize + ?Sized>(
        &self,
        route: &str,
        source: &str,
        user: &str,
        objects: &T,
    ) -> Result<Duration> {
        let started = Instant::now();
        let body = json!({"user_id": user, "objects": objects, "rebuild_md": false});
        self.post_ok(&format!("{route} to {source}"), &format!("/app/v1/{source}/{route}"), &body).await?;
        Ok(started.elapsed())
    }

    /// `GET path` with the API token: the JSON of a 200 answer, `None` for a 404.
    pub async fn get_json(&self, path: &str) -> Result<Option<Value>> {
        let resp = self
            .target
            .request(Method::GET, path)?
            .header(API_TOKEN_HEADER, &self.token)
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = resp.status();
        let text = resp.text().await.with_context(|| format!("GET {path}: reading the body"))?;
        match status {
            StatusCode::NOT_FOUND => Ok(None),
            StatusCode::OK => serde_json::from_str(&text).map(Some).with_context(|| format!("GET {path}: not JSON")),
            _ => bail!("GET {path}: HTTP {status}: {}", text.chars().take(300).collect::<String>()),
        }
    }

    /// `POST /rc/v1/store/{docname}` with `append`: the fallback seeding path.
    pub async fn store_append(&self, docname: &str, objects: &Map<String, Value>) -> Result<()> {
        let body = json!({"data": objects, "append": true});
        self.post_ok(&format!("store {docname}"), &format!("/rc/v1/store/{docname}"), &body).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_page_and_checks_its_shape() {
        let body = r#"[{"version":3},{"token":"473402519234881"},{"count":2},{"progress_count":0},{"total_count":2},
            {"insert":{"1":{"name":"iPhone","brand":"Apple"},"2":{"name":"G2"}}}]"#;
        let page = Page::parse(body, Some("473402519234881")).expect("valid page");
        assert_eq!((page.token.as_str(), page.count, page.total_count), ("473402519234881", 2, 2));
        assert_eq!((page.inserted, page.inserted_values, page.deleted), (2, 3, 0));

        let empty = r#"[{"version":3},{"token":""},{"count":0},{"progress_count":0},{"total_count":2},{}]"#;
        assert_eq!(Page::parse(empty, None).expect("empty page").token, "");

        let mismatch = Page::parse(body, Some("5")).expect_err("header differs");
        assert!(mismatch.to_string().contains("differs"), "{mismatch}");
        let bad_count = body.replace(r#"{"count":2}"#, r#"{"count":3}"#);
        assert!(Page::parse(&bad_count, None).is_err());
        let hex_token = body.replace("473402519234881", "abc");
        assert!(Page::parse(&hex_token, None).is_err());
        assert!(Page::parse("[1,2,3]", None).is_err());
    }

    #[test]
    fn refuses_non_loopback_targets() {
        assert!(Target::new("http://127.0.0.1:9292").is_ok());
        assert!(Target::new("http://example.com").is_err());
        assert!(Target::new("https://127.0.0.1:1").is_err());
    }
}
