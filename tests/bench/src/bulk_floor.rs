//! The floor of the `bulk` scenario: a bare rusqlite program writing the bulk file of the
//! bench's objects (docs/bulk-data.md §4) — the same base tables, the same rows of
//! `object_values` in one transaction, the same pragmas, the same indexes created after the
//! data — then its `.rzip` and `.gzip`, compressed side by side on two threads as the bulk
//! worker does. It generates the rows in memory (no Redis, no decoding, no progress, no
//! upload), so it is what the file costs on this machine and nothing else.
//!
//! `rhosync-bench bulk-floor` runs it in a process of its own, so that its CPU and peak
//! resident set are its own; it prints a [`FloorRun`] as JSON.

use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use rhosync_server::bulk::{layout, writer};
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};

use crate::data;

/// What one floor run took and wrote.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FloorRun {
    pub objects: usize,
    pub attrs: usize,
    /// Seconds inserting the rows (in one transaction).
    pub insert_s: f64,
    /// Seconds creating the indexes and committing.
    pub index_s: f64,
    /// Seconds writing the `.rzip` and `.gzip` (side by side).
    pub compress_s: f64,
    /// The three phases together.
    pub total_s: f64,
    pub data_bytes: u64,
    pub rzip_bytes: u64,
    pub gzip_bytes: u64,
    /// CPU seconds of the whole process (`/proc/self/stat`), read at the end.
    pub cpu_s: Option<f64>,
    /// Peak resident set (`VmHWM` of `/proc/self/status`), in bytes.
    pub peak_rss_bytes: Option<u64>,
}

/// Writes the floor's file of `objects` objects × `attrs` attributes (generation 0 of
/// [`data::object`], the rows the bench seeds) under `dir` and measures it.
pub fn run(dir: &Path, objects: usize, attrs: usize) -> Result<FloorRun> {
    let data_path = dir.join("floor.data");
    let started = Instant::now();
    let db = Connection::open(&data_path).with_context(|| format!("opening {}", data_path.display()))?;
    db.execute_batch(writer::PRAGMAS)?;
    db.execute_batch(layout::BASE_TABLES)?;
    db.execute_batch("BEGIN")?;
    {
        let mut insert = db.prepare(layout::INSERT_OBJECT_VALUE)?;
        let names: Vec<String> = (0..attrs).map(|a| format!("field{a}")).collect();
        // The worker writes an object's attributes in name order (field0, field1, field10, …).
        let mut order: Vec<usize> = (0..attrs).collect();
        order.sort_by(|a, b| names[*a].cmp(&names[*b]));
        for i in 0..objects {
            let id = data::object_id(i);
            for &a in &order {
                insert.execute(params![1i64, names[a], id, data::value(i, a, 0)])?;
            }
        }
        let mut source = db.prepare(layout::INSERT_SOURCE)?;
        let counts: Vec<String> = order.iter().map(|a| format!("{},{objects}", names[*a])).collect();
        source.execute(params![
            1i64,
            "BenchFloor",
            0i64,
            "user",
            "incremental",
            None::<String>,
            objects as i64,
            0i64,
            counts.join(","),
            None::<String>,
            None::<String>,
            None::<String>,
            ""
        ])?;
    }
    let insert_s = started.elapsed().as_secs_f64();
    let phase = Instant::now();
    db.execute_batch(layout::BASE_INDEXES)?;
    db.execute_batch("COMMIT")?;
    db.close().map_err(|(_, e)| anyhow!("closing the floor's database: {e}"))?;
    let index_s = phase.elapsed().as_secs_f64();

    let phase = Instant::now();
    let (rzip, gzip) = (dir.join("floor.data.rzip"), dir.join("floor.data.gzip"));
    std::thread::scope(|scope| -> Result<()> {
        let zipped = scope.spawn(|| writer::write_rzip(&data_path, &rzip, "floor.data"));
        writer::write_gzip(&data_path, &gzip)?;
        zipped.join().map_err(|_| anyhow!("the zip thread panicked"))??;
        Ok(())
    })?;
    let compress_s = phase.elapsed().as_secs_f64();
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let pid = std::process::id();
    Ok(FloorRun {
        objects,
        attrs,
        insert_s,
        index_s,
        compress_s,
        total_s: started.elapsed().as_secs_f64(),
        data_bytes: size(&data_path),
        rzip_bytes: size(&rzip),
        gzip_bytes: size(&gzip),
        cpu_s: crate::measure::cpu_seconds(pid).ok(),
        peak_rss_bytes: crate::lambda::peak_rss_bytes(pid),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_writes_every_row_and_both_variants() {
        let dir = tempfile::tempdir().expect("tmp");
        let run = run(dir.path(), 50, 3).expect("floor");
        assert_eq!((run.objects, run.attrs), (50, 3));
        assert!(run.data_bytes > 0 && run.rzip_bytes > 0 && run.gzip_bytes > 0, "{run:?}");
        let db = Connection::open(dir.path().join("floor.data")).expect("open");
        let rows: i64 = db.query_row("SELECT count(*) FROM object_values", [], |r| r.get(0)).expect("count");
        assert_eq!(rows, 150);
        let value: String = db
            .query_row(
                "SELECT value FROM object_values WHERE object = ?1 AND attrib = 'field2'",
                [data::object_id(7)],
                |r| r.get(0),
            )
            .expect("value");
        assert_eq!(value, data::value(7, 2, 0));
    }
}
