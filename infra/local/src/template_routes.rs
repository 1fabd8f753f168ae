//! The HTTP API's route table, read from `template.yaml`, and API Gateway's route selection.
//!
//! The local runner must send each request to the function the deployed API would, so it
//! does not keep its own list: it reads the `HttpApi` events of every function in the SAM
//! template and picks a route the way API Gateway HTTP APIs do — the most specific path wins
//! (literal segments over `{param}` over `{proxy+}`), and a route for the request's method
//! wins over `ANY`.

use std::path::Path;

use rhosync_server::http::FunctionName;
use serde_yaml_ng::Value;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("template.yaml is not valid YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    #[error("template.yaml: {0}")]
    Shape(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param,
    Greedy,
}

/// One `Method Path → function` entry of the HTTP API.
#[derive(Debug, Clone)]
pub struct Route {
    pub method: Option<String>,
    pub path: String,
    pub function: FunctionName,
    segments: Vec<Segment>,
}

/// All routes of the template.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| TemplateError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let doc: Value = serde_yaml_ng::from_str(text)?;
        let resources = doc
            .get("Resources")
            .and_then(Value::as_mapping)
            .ok_or_else(|| TemplateError::Shape("no Resources".into()))?;
        let mut routes = Vec::new();
        for (logical_id, resource) in resources {
            if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
                continue;
            }
            let binary = resource
                .get("Metadata")
                .and_then(|m| m.get("BuildProperties"))
                .and_then(|b| b.get("Binary"))
                .and_then(Value::as_str);
            let events = resource.get("Properties").and_then(|p| p.get("Events")).and_then(Value::as_mapping);
            let (Some(binary), Some(events)) = (binary, events) else { continue };
            let http_events: Vec<_> =
                events.values().filter(|e| e.get("Type").and_then(Value::as_str) == Some("HttpApi")).collect();
            if http_events.is_empty() {
                continue;
            }
            let function = FunctionName::parse(binary).ok_or_else(|| {
                TemplateError::Shape(format!("{logical_id:?}: HTTP events on unknown binary {binary}"))
            })?;
            for event in http_events {
                let props = event.get("Properties");
                let path = props
                    .and_then(|p| p.get("Path"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| TemplateError::Shape(format!("{logical_id:?}: HttpApi event without Path")))?;
                let method = props
                    .and_then(|p| p.get("Method"))
                    .and_then(Value::as_str)
                    .map(str::to_ascii_uppercase)
                    .filter(|m| m != "ANY");
                routes.push(Route { method, path: path.to_owned(), function, segments: segments(path) });
            }
        }
        if routes.is_empty() {
            return Err(TemplateError::Shape("no HttpApi routes found".into()));
        }
        Ok(Self { routes })
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The function API Gateway would invoke for `method path`, if any route matches.
    pub fn select(&self, method: &str, path: &str) -> Option<FunctionName> {
        let request: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        self.routes
            .iter()
            .filter(|r| r.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method)))
            .filter_map(|r| specificity(&r.segments, &request).map(|score| (score, r.method.is_some(), r)))
            .max_by_key(|(score, exact_method, _)| (score.clone(), *exact_method))
            .map(|(_, _, r)| r.function)
    }
}

fn segments(path: &str) -> Vec<Segment> {
    path.trim_start_matches('/')
        .split('/')
        .map(|s| {
            if s.starts_with('{') && s.ends_with("+}") {
                Segment::Greedy
            } else if s.starts_with('{') && s.ends_with('}') {
                Segment::Param
            } else {
                Segment::Literal(s.to_owned())
            }
        })
        .collect()
}

/// How specifically a route matches, or `None`. Compared lexicographically: for each
/// position, a literal beats a parameter, which beats a greedy tail.
fn specificity(route: &[Segment], request: &[&str]) -> Option<Vec<u8>> {
    let mut score = Vec::with_capacity(route.len());
    for (i, seg) in route.iter().enumerate() {
        match seg {
            Segment::Greedy => {
                // `{proxy+}` needs at least one non-empty segment.
                let rest = request.get(i..)?;
                if rest.is_empty() || rest.iter().all(|s| s.is_empty()) {
                    return None;
                }
                score.push(1);
                return Some(score);
            }
            Segment::Param => {
                if request.get(i).is_none_or(|s| s.is_empty()) {
                    return None;
                }
                score.push(2);
            }
            Segment::Literal(lit) => {
                if request.get(i) != Some(&lit.as_str()) {
                    return None;
                }
                score.push(3);
            }
        }
    }
    (request.len() == route.len()).then_some(score)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Resources:
  SyncFunction:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: rust-cargolambda, BuildProperties: {Binary: sync}}
    Properties:
      Events:
        Clients: {Type: HttpApi, Properties: {Path: /rc/v1/clients, Method: POST}}
        App: {Type: HttpApi, Properties: {Path: "/app/v1/{source}/{proxy+}", Method: ANY}}
        Queue: {Type: SQS, Properties: {Queue: x}}
  ApiFunction:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: api}}
    Properties:
      Events:
        Rc: {Type: HttpApi, Properties: {Path: "/rc/v1/{proxy+}", Method: ANY}}
        Push: {Type: HttpApi, Properties: {Path: "/app/v1/{source}/push_objects", Method: POST}}
"#;

    #[test]
    fn most_specific_route_wins() {
        let table = RouteTable::parse(TEMPLATE).expect("parses");
        assert_eq!(table.select("POST", "/rc/v1/clients"), Some(FunctionName::Sync));
        assert_eq!(table.select("GET", "/rc/v1/clients"), Some(FunctionName::Api), "method-specific");
        assert_eq!(table.select("POST", "/app/v1/Product/push_objects"), Some(FunctionName::Api));
        assert_eq!(table.select("PUT", "/app/v1/Product/42"), Some(FunctionName::Sync));
        assert_eq!(table.select("GET", "/app/v1/Product"), None, "proxy+ needs a segment");
        assert_eq!(table.select("GET", "/nothing"), None);
    }

    /// CORS preflights are answered by the functions (`rhosync_server::http::cors`), so in
    /// the real template every device and REST path must reach one with `OPTIONS`: `ANY`
    /// routes match it, as in API Gateway HTTP APIs.
    #[test]
    fn options_reach_a_function_on_device_and_rest_paths() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
        let table = RouteTable::load(Path::new(path)).expect("template.yaml loads");
        for (p, f) in [
            ("/application", FunctionName::Sync),
            ("/application/clientlogin", FunctionName::Sync),
            ("/api/application/query", FunctionName::Sync),
            ("/rc/v1/app/login", FunctionName::Sync),
            ("/app/v1/Product", FunctionName::Sync),
            ("/app/v1/Product/push_objects", FunctionName::Sync),
            ("/rc/v1/clients", FunctionName::Api),
            ("/rc/v1/users", FunctionName::Api),
        ] {
            assert_eq!(table.select("OPTIONS", p), Some(f), "OPTIONS {p}");
        }
    }
}
