//! URL templates of the `rest` adapter: `https://api.example.com/users/{login}/items/{id}`.
//!
//! Placeholders are `{id}` (the object id; update and delete only), `{login}` (the acting
//! user), `{partition}` (the partition key: the login, or `__shared__` for app sources) and
//! `{source}` (the source name). Substituted values are percent-encoded, so an id such as
//! `a/b c` cannot escape its path segment. A template starting with `/` is relative to the
//! source's `url:` setting.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::Url;

use crate::adapters::http_backend;

/// Everything but RFC 3986's unreserved characters is encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The values a template may refer to.
#[derive(Debug, Clone, Copy)]
pub struct Vars<'a> {
    pub id: Option<&'a str>,
    pub login: &'a str,
    pub partition: &'a str,
    pub source: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Id,
    Login,
    Partition,
    Source,
}

/// A parsed, validated URL template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate {
    pieces: Vec<Piece>,
}

impl UrlTemplate {
    /// Parses `raw`, resolving a leading `/` against `base` (the source `url:`), and
    /// checks that it yields an absolute http(s) URL. `{id}` is refused unless `allow_id`.
    pub fn parse(raw: &str, base: &str, allow_id: bool) -> Result<Self, String> {
        let full = if raw.starts_with('/') {
            let base = base.trim();
            if base.is_empty() {
                return Err(format!("'{raw}' is relative but the source has no url: setting to resolve it against"));
            }
            format!("{}{raw}", base.strip_suffix('/').unwrap_or(base))
        } else {
            raw.to_owned()
        };
        let mut pieces = Vec::new();
        let mut rest = full.as_str();
        while let Some(open) = rest.find('{') {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or_else(|| format!("'{raw}': unclosed '{{'"))?;
            pieces.push(match &after[..close] {
                "id" if allow_id => Piece::Id,
                "id" => return Err(format!("'{raw}': {{id}} is only available to update and delete")),
                "login" => Piece::Login,
                "partition" => Piece::Partition,
                "source" => Piece::Source,
                other => {
                    return Err(format!(
                        "'{raw}': unknown placeholder {{{other}}} (known: id, login, partition, source)"
                    ))
                }
            });
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        let template = Self { pieces };
        let sample = Vars { id: Some("1"), login: "user", partition: "user", source: "Source" };
        template.expand(&sample)?;
        Ok(template)
    }

    /// Whether the template mentions `{id}`.
    pub fn uses_id(&self) -> bool {
        self.pieces.contains(&Piece::Id)
    }

    /// The URL for `vars`.
    pub fn expand(&self, vars: &Vars<'_>) -> Result<Url, String> {
        let mut out = String::new();
        for piece in &self.pieces {
            let value = match piece {
                Piece::Text(text) => {
                    out.push_str(text);
                    continue;
                }
                Piece::Id => vars.id.unwrap_or_default(),
                Piece::Login => vars.login,
                Piece::Partition => vars.partition,
                Piece::Source => vars.source,
            };
            out.extend(utf8_percent_encode(value, COMPONENT));
        }
        http_backend::parse_url(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(id: &str) -> Vars<'_> {
        Vars { id: Some(id), login: "ann lee", partition: "__shared__", source: "Product" }
    }

    #[test]
    fn expands_and_encodes() {
        let t = UrlTemplate::parse("/u/{login}/{source}/{id}?p={partition}", "http://h:1/api/", true).expect("parse");
        assert_eq!(
            t.expand(&vars("a/b")).expect("expand").as_str(),
            "http://h:1/api/u/ann%20lee/Product/a%2Fb?p=__shared__"
        );
        assert!(t.uses_id());
    }

    #[test]
    fn refuses_bad_templates() {
        assert!(UrlTemplate::parse("/x", "", false).is_err());
        assert!(UrlTemplate::parse("http://h/{id}", "", false).is_err());
        assert!(UrlTemplate::parse("http://h/{nope}", "", true).is_err());
        assert!(UrlTemplate::parse("http://h/{id", "", true).is_err());
        assert!(UrlTemplate::parse("ftp://h/x", "", true).is_err());
        assert!(UrlTemplate::parse("not a url", "", true).is_err());
    }
}
