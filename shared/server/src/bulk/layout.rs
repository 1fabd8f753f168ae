//! The SQLite layout of a bulk file as plain data and SQL text (docs/bulk-data.md §4): the
//! base tables, the `sources` row of each partition source, the table and indexes of a
//! fixed-schema source. No I/O here; [`super::writer`] executes it.

use serde_json::Value;

/// The base tables, exactly as Rhodes expects them (docs/bulk-data.md §4.1). Rhodes copies
/// its own `client_info` and `changed_values` rows into the file by column name.
pub const BASE_TABLES: &str = r#"
CREATE TABLE client_info ("client_id" VARCHAR(255) default NULL, "session" VARCHAR(255) default NULL, "token" VARCHAR(255) default NULL, "token_sent" BIGINT default 0, "reset" BIGINT default 0, "port" VARCHAR(10) default NULL, "last_sync_success" VARCHAR(100) default NULL);
CREATE TABLE object_values ("source_id" BIGINT default NULL, "attrib" varchar(255) default NULL, "object" varchar(255) default NULL, "value" varchar default NULL);
CREATE TABLE changed_values ("source_id" BIGINT default NULL, "attrib" varchar(255) default NULL, "object" varchar(255) default NULL, "value" varchar default NULL, "attrib_type" varchar(255) default NULL, "update_type" varchar(255) default NULL, "sent" BIGINT default 0);
CREATE TABLE sources ("source_id" BIGINT PRIMARY KEY, "name" VARCHAR(255) default NULL, "token" BIGINT default NULL, "sync_priority" BIGINT, "partition" VARCHAR(255), "sync_type" VARCHAR(255), "metadata" varchar default NULL, "last_updated" BIGINT default 0, "last_inserted_size" BIGINT default 0, "last_deleted_size" BIGINT default 0, "last_sync_duration" BIGINT default 0, "last_sync_success" BIGINT default 0, "backend_refresh_time" BIGINT default 0, "source_attribs" varchar default NULL, "schema" varchar default NULL, "schema_version" varchar default NULL, "associations" varchar default NULL, "blob_attribs" varchar default NULL);
"#;

/// The indexes of `object_values`, created once every row is in (docs/bulk-data.md §4.3).
pub const BASE_INDEXES: &str = r#"
CREATE INDEX by_src_id on object_values ("source_id");
CREATE UNIQUE INDEX by_src_object on object_values ("object", "attrib", "source_id");
CREATE INDEX by_src_value on object_values ("attrib", "source_id", "value");
"#;

/// One property-bag row.
pub const INSERT_OBJECT_VALUE: &str =
    r#"INSERT INTO object_values ("source_id", "attrib", "object", "value") VALUES (?1, ?2, ?3, ?4)"#;

/// One `sources` row, every written column in table order.
pub const INSERT_SOURCE: &str = r#"INSERT INTO sources ("source_id", "name", "token", "sync_priority", "partition", "sync_type", "metadata", "last_updated", "last_inserted_size", "last_deleted_size", "last_sync_duration", "last_sync_success", "backend_refresh_time", "source_attribs", "schema", "schema_version", "associations", "blob_attribs") VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?6, 0, ?7, 0, 0, 0, ?8, ?9, ?10, ?11, ?12, ?13)"#;

/// A double-quoted SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The values of one `sources` row (docs/bulk-data.md §4.1, the "written value" column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRow {
    pub source_id: i64,
    pub name: String,
    pub sync_priority: i64,
    pub partition: String,
    /// `incremental`, `bulk_sync_only`, or `none` for a partition source not selected.
    pub sync_type: String,
    pub metadata: Option<String>,
    pub last_inserted_size: i64,
    pub backend_refresh_time: i64,
    pub source_attribs: String,
    pub schema: Option<String>,
    pub schema_version: Option<String>,
    pub associations: Option<String>,
    pub blob_attribs: String,
}

/// A fixed schema as an adapter returns it: the properties in schema order, with their type
/// lists, and the named indexes (only the object form of `index` / `unique_index`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schema {
    pub version: Option<String>,
    pub properties: Vec<(String, String)>,
    pub indexes: Vec<(String, Vec<String>)>,
    pub unique_indexes: Vec<(String, Vec<String>)>,
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn named_columns(value: Option<&Value>) -> Vec<(String, Vec<String>)> {
    let Some(Value::Object(map)) = value else { return Vec::new() };
    map.iter()
        .map(|(name, cols)| {
            let cols = text_of(cols).split(',').map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()).collect();
            (name.clone(), cols)
        })
        .collect()
}

impl Schema {
    /// Parses the schema text; `None` when it is not a JSON object (then the source is
    /// written as a property bag, as without a schema).
    pub fn parse(text: &str) -> Option<Schema> {
        let Ok(Value::Object(root)) = serde_json::from_str::<Value>(text) else { return None };
        let properties = match root.get("property") {
            Some(Value::Object(props)) => props.iter().map(|(k, v)| (k.clone(), text_of(v))).collect(),
            _ => Vec::new(),
        };
        Some(Schema {
            version: root.get("version").filter(|v| !v.is_null()).map(text_of),
            properties,
            indexes: named_columns(root.get("index")),
            unique_indexes: named_columns(root.get("unique_index")),
        })
    }

    /// `blob_attribs`: `name,1` (blob with overwrite) or `name,0` (blob) for every blob
    /// property, the pairs sorted as strings and comma-joined.
    pub fn blob_attribs(&self) -> String {
        let mut pairs: Vec<String> = self
            .properties
            .iter()
            .filter_map(|(name, types)| {
                let types: Vec<&str> = types.split(',').map(str::trim).collect();
                types.contains(&"blob").then(|| format!("{name},{}", u8::from(types.contains(&"overwrite"))))
            })
            .collect();
        pairs.sort();
        pairs.join(",")
    }

    /// The property columns, in schema order.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.properties.iter().map(|(name, _)| name.as_str())
    }

    /// `CREATE TABLE` of the source's own table.
    pub fn create_table(&self, source: &str) -> String {
        let mut sql = format!("CREATE TABLE {} (\"object\" varchar(255) PRIMARY KEY", quote_ident(source));
        for column in self.columns() {
            sql.push_str(&format!(", {} varchar default NULL", quote_ident(column)));
        }
        sql.push(')');
        sql
    }

    /// `INSERT` of one row of the source's table: `object`, then every property.
    pub fn insert_row(&self, source: &str) -> String {
        let columns: Vec<String> = std::iter::once("object").chain(self.columns()).map(quote_ident).collect();
        let params: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
        format!("INSERT INTO {} ({}) VALUES ({})", quote_ident(source), columns.join(", "), params.join(", "))
    }

    /// The source's `CREATE [UNIQUE] INDEX` statements (plain ones first).
    pub fn create_indexes(&self, source: &str) -> Vec<String> {
        let one = |unique: bool, (name, cols): &(String, Vec<String>)| {
            let cols: Vec<String> = cols.iter().map(|c| quote_ident(c)).collect();
            format!(
                "CREATE {}INDEX {} on {} ({})",
                if unique { "UNIQUE " } else { "" },
                quote_ident(name),
                quote_ident(source),
                cols.join(", ")
            )
        };
        self.indexes.iter().map(|i| one(false, i)).chain(self.unique_indexes.iter().map(|i| one(true, i))).collect()
    }
}

/// `source_attribs` of a property-bag source: `attr,count` pairs sorted by attribute name,
/// count = objects having the attribute; empty when there are none.
pub fn source_attribs<'a>(counts: impl IntoIterator<Item = (&'a String, &'a u64)>) -> String {
    let mut pairs: Vec<(&String, &u64)> = counts.into_iter().collect();
    pairs.sort();
    pairs.iter().map(|(name, n)| format!("{name},{n}")).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_parses_properties_in_order_and_blob_attribs_sort_as_strings() {
        let text = r#"{"version":"1.0","property":{"name":"string","image_url_cropped":"blob,overwrite","image_url":"blob","qty":"integer"},"index":{"by_name":"name, qty"},"unique_index":{"by_qty":"qty"}}"#;
        let schema = Schema::parse(text).expect("a schema");
        assert_eq!(schema.version.as_deref(), Some("1.0"));
        assert_eq!(schema.columns().collect::<Vec<_>>(), ["name", "image_url_cropped", "image_url", "qty"]);
        assert_eq!(schema.blob_attribs(), "image_url,0,image_url_cropped,1");
        assert_eq!(
            schema.create_table("Pro\"duct"),
            r#"CREATE TABLE "Pro""duct" ("object" varchar(255) PRIMARY KEY, "name" varchar default NULL, "image_url_cropped" varchar default NULL, "image_url" varchar default NULL, "qty" varchar default NULL)"#
        );
        assert_eq!(
            schema.create_indexes("P"),
            [r#"CREATE INDEX "by_name" on "P" ("name", "qty")"#, r#"CREATE UNIQUE INDEX "by_qty" on "P" ("qty")"#]
        );
        assert_eq!(
            schema.insert_row("P"),
            r#"INSERT INTO "P" ("object", "name", "image_url_cropped", "image_url", "qty") VALUES (?1, ?2, ?3, ?4, ?5)"#
        );
        assert_eq!(Schema::parse("not json"), None);
        assert_eq!(Schema::parse(r#"{"version":2}"#).map(|s| s.blob_attribs()), Some(String::new()));
    }

    #[test]
    fn source_attribs_sort_by_name() {
        let counts = std::collections::HashMap::from([("b".to_owned(), 2u64), ("a".to_owned(), 5u64)]);
        assert_eq!(source_attribs(&counts), "a,5,b,2");
        assert_eq!(source_attribs(&std::collections::HashMap::new()), "");
    }
}
