//! Writing one bulk file on local disk (docs/bulk-data.md §3, §5): the SQLite database
//! through rusqlite, filled in one transaction a chunk of objects at a time (the caller
//! streams them in, so a partition never has to be held as rows), then its zip (`.rzip`)
//! and gzip variants. Synchronous: the job runs it on a blocking thread.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use rhosync_engine::values::Attrs;
use rusqlite::{params, Connection};

use super::layout::{self, Schema, SourceRow};
use super::BulkError;

impl From<rusqlite::Error> for BulkError {
    fn from(e: rusqlite::Error) -> Self {
        BulkError::File(format!("sqlite: {e}"))
    }
}

impl From<std::io::Error> for BulkError {
    fn from(e: std::io::Error) -> Self {
        BulkError::File(format!("io: {e}"))
    }
}

/// The pragmas of a bulk database being written: the file is scratch until
/// [`FileWriter::finish`] returns (a failed build throws it away), so there is no rollback
/// journal and no `fsync`; a 64 MB page cache keeps the index builds in memory longer.
pub const PRAGMAS: &str = "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -65536;";

/// An open bulk database being written.
pub struct FileWriter {
    conn: Connection,
    path: PathBuf,
}

impl FileWriter {
    /// Creates the database at `path` with the base tables and opens the transaction every
    /// row goes into, with [`PRAGMAS`].
    pub fn create(path: &Path) -> Result<FileWriter, BulkError> {
        let conn = Connection::open(path)?;
        conn.execute_batch(PRAGMAS)?;
        conn.execute_batch(layout::BASE_TABLES)?;
        conn.execute_batch("BEGIN")?;
        Ok(FileWriter { conn, path: path.to_owned() })
    }

    /// Creates a fixed-schema source's own table (docs/bulk-data.md §4.2).
    pub fn create_source_table(&mut self, source: &str, schema: &Schema) -> Result<(), BulkError> {
        self.conn.execute_batch(&schema.create_table(source))?;
        Ok(())
    }

    /// Writes a chunk of one selected source's objects: `object_values` rows for a property
    /// bag (counting each attribute's objects into `counts`), or rows of the source's table.
    pub fn write_objects(
        &mut self,
        source_id: i64,
        source: &str,
        schema: Option<&Schema>,
        objects: &[(String, Attrs)],
        counts: &mut HashMap<String, u64>,
    ) -> Result<(), BulkError> {
        match schema {
            None => {
                let mut insert = self.conn.prepare_cached(layout::INSERT_OBJECT_VALUE)?;
                for (id, attrs) in objects {
                    for (attrib, value) in attrs {
                        insert.execute(params![source_id, attrib, id, value])?;
                        match counts.get_mut(attrib) {
                            Some(n) => *n += 1,
                            None => {
                                counts.insert(attrib.clone(), 1);
                            }
                        }
                    }
                }
            }
            Some(schema) => {
                let sql = schema.insert_row(source);
                let mut insert = self.conn.prepare_cached(&sql)?;
                for (id, attrs) in objects {
                    // Attributes outside the schema are dropped; missing ones stay NULL.
                    let values = std::iter::once(Some(id.as_str()))
                        .chain(schema.columns().map(|c| attrs.get(c).map(String::as_str)));
                    insert.execute(rusqlite::params_from_iter(values))?;
                }
            }
        }
        Ok(())
    }

    /// The indexes a fixed schema declares, once its rows are in.
    pub fn index_source_table(&mut self, source: &str, schema: &Schema) -> Result<(), BulkError> {
        for sql in schema.create_indexes(source) {
            self.conn.execute_batch(&sql)?;
        }
        Ok(())
    }

    /// Writes the `sources` rows, the base indexes, commits and — if the file has free
    /// pages — compacts it; the file is complete once this returns.
    pub fn finish(self, sources: &[SourceRow]) -> Result<PathBuf, BulkError> {
        {
            let mut insert = self.conn.prepare_cached(layout::INSERT_SOURCE)?;
            for s in sources {
                insert.execute(params![
                    s.source_id,
                    s.name,
                    s.sync_priority,
                    s.partition,
                    s.sync_type,
                    s.metadata,
                    s.last_inserted_size,
                    s.backend_refresh_time,
                    s.source_attribs,
                    s.schema,
                    s.schema_version,
                    s.associations,
                    s.blob_attribs,
                ])?;
            }
        }
        self.conn.execute_batch(layout::BASE_INDEXES)?;
        self.conn.execute_batch("COMMIT")?;
        // Rows appended in one transaction to a new file leave no free page, and the
        // indexes are built after them: VACUUM would rewrite the whole file for nothing.
        let free: i64 = self.conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
        if free > 0 {
            self.conn.execute_batch("VACUUM")?;
        }
        self.conn.close().map_err(|(_, e)| BulkError::from(e))?;
        Ok(self.path)
    }
}

/// Writes `<data>.rzip`: a zip archive holding the database as one entry named `entry`
/// (the last segment of the file's URL, docs/bulk-data.md §5).
pub fn write_rzip(data: &Path, rzip: &Path, entry: &str) -> Result<(), BulkError> {
    let mut zip = zip::ZipWriter::new(BufWriter::new(File::create(rzip)?));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).large_file(true);
    zip.start_file(entry, options).map_err(|e| BulkError::File(format!("zip: {e}")))?;
    std::io::copy(&mut BufReader::new(File::open(data)?), &mut zip)?;
    let mut out = zip.finish().map_err(|e| BulkError::File(format!("zip: {e}")))?;
    out.flush()?;
    Ok(())
}

/// Writes `<data>.gzip`, the gzip of the database.
pub fn write_gzip(data: &Path, gzip: &Path) -> Result<(), BulkError> {
    let mut encoder =
        flate2::write::GzEncoder::new(BufWriter::new(File::create(gzip)?), flate2::Compression::default());
    std::io::copy(&mut BufReader::new(File::open(data)?), &mut encoder)?;
    encoder.finish()?.flush()?;
    Ok(())
}
