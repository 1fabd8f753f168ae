//! RC7 document names: the store API and the console address data by the
//! Redis key names RC7 used, which this model no longer stores one for one.
//! [`DocName`] parses such a name into what it designates, so the caller can
//! map it onto the partition and client keys, and prints it back. Kept apart
//! from the model proper because it only names things.

/// A parsed RC7 document name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocName {
    /// `source:application:<partition>:<source>:<doc>` (`md`, `md_size`, `errors`, …).
    Source { partition: String, source: String, doc: String },
    /// `client:application:<login>:<client id>:<source>:<doc>` (`cd`, `page`, …).
    Client { login: String, client_id: String, source: String, doc: String },
    /// `source:application:<source>:<create|update|delete>`.
    CudQueue { source: String, op: String },
    /// `read_state:application:<partition>:<source>:<field>`.
    ReadState { partition: String, source: String, field: String },
    /// `source:<source>:poll_interval`.
    PollInterval { source: String },
    /// `user:count` / `client:count`.
    Counter { kind: String },
    /// `<type>:<id>:<field>` with type `user`, `client`, `app`, `api_token`, `bulk_data`.
    Record { kind: String, id: String, field: String },
    /// `lock:<docname>`.
    Lock(Box<DocName>),
    /// Anything else (adapter scratch data such as `test_db_storage:application:<user>`).
    Scratch(String),
}

impl DocName {
    /// Parses a document name. Names that fit no pattern are [`DocName::Scratch`].
    pub fn parse(name: &str) -> DocName {
        if let Some(inner) = name.strip_prefix("lock:") {
            return DocName::Lock(Box::new(DocName::parse(inner)));
        }
        let parts: Vec<&str> = name.split(':').collect();
        let s = |i: usize| parts[i].to_owned();
        match parts.as_slice() {
            ["source", "application", _, _, _] => DocName::Source { partition: s(2), source: s(3), doc: s(4) },
            ["source", "application", _, "create" | "update" | "delete"] => {
                DocName::CudQueue { source: s(2), op: s(3) }
            }
            ["source", _, "poll_interval"] => DocName::PollInterval { source: s(1) },
            ["client", "application", _, _, _, _] => {
                DocName::Client { login: s(2), client_id: s(3), source: s(4), doc: s(5) }
            }
            ["read_state", "application", _, _, _] => DocName::ReadState { partition: s(2), source: s(3), field: s(4) },
            ["user" | "client", "count"] => DocName::Counter { kind: s(0) },
            ["user" | "client" | "app" | "api_token" | "bulk_data", _, _] => {
                DocName::Record { kind: s(0), id: s(1), field: s(2) }
            }
            _ => DocName::Scratch(name.to_owned()),
        }
    }

    /// The RC7 name again.
    pub fn to_name(&self) -> String {
        match self {
            DocName::Source { partition, source, doc } => format!("source:application:{partition}:{source}:{doc}"),
            DocName::Client { login, client_id, source, doc } => {
                format!("client:application:{login}:{client_id}:{source}:{doc}")
            }
            DocName::CudQueue { source, op } => format!("source:application:{source}:{op}"),
            DocName::ReadState { partition, source, field } => {
                format!("read_state:application:{partition}:{source}:{field}")
            }
            DocName::PollInterval { source } => format!("source:{source}:poll_interval"),
            DocName::Counter { kind } => format!("{kind}:count"),
            DocName::Record { kind, id, field } => format!("{kind}:{id}:{field}"),
            DocName::Lock(inner) => format!("lock:{}", inner.to_name()),
            DocName::Scratch(name) => name.clone(),
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_names_round_trip() {
        for (name, expected) in [
            (
                "source:application:testuser:Product:md",
                DocName::Source { partition: "testuser".into(), source: "Product".into(), doc: "md".into() },
            ),
            (
                "client:application:u:abc:MockAdapter:cd",
                DocName::Client {
                    login: "u".into(),
                    client_id: "abc".into(),
                    source: "MockAdapter".into(),
                    doc: "cd".into(),
                },
            ),
            ("source:application:Product:create", DocName::CudQueue { source: "Product".into(), op: "create".into() }),
            (
                "read_state:application:__shared__:Catalog:refresh_time",
                DocName::ReadState {
                    partition: "__shared__".into(),
                    source: "Catalog".into(),
                    field: "refresh_time".into(),
                },
            ),
            ("source:Product:poll_interval", DocName::PollInterval { source: "Product".into() }),
            ("user:count", DocName::Counter { kind: "user".into() }),
            (
                "client:abc:user_id",
                DocName::Record { kind: "client".into(), id: "abc".into(), field: "user_id".into() },
            ),
            ("test_db_storage:application:u", DocName::Scratch("test_db_storage:application:u".into())),
        ] {
            let parsed = DocName::parse(name);
            assert_eq!(parsed, expected, "{name}");
            assert_eq!(parsed.to_name(), name);
        }
        let lock = DocName::parse("lock:source:application:u:P:md");
        assert!(matches!(lock, DocName::Lock(_)));
        assert_eq!(lock.to_name(), "lock:source:application:u:P:md");
    }
}
