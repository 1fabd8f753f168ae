//! Generated test objects and the one function that loads them into the server.
//!
//! Objects are deterministic: object `i` of generation `g` has `attrs` attributes
//! `field0..`, each a short string that changes when `g` changes, so a re-push with a new
//! generation changes every attribute of the objects it covers.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Map, Value};

use crate::client::Admin;

/// Objects per `push_objects` call while seeding.
pub const SEED_CHUNK: usize = 1000;

/// The id of object `i` (zero-padded so ids sort like their numbers).
pub fn object_id(i: usize) -> String {
    format!("{i:08}")
}

/// Attribute `a` of object `i` in generation `generation`.
pub fn value(i: usize, a: usize, generation: u32) -> String {
    format!("v{generation}-{i}-{a}-bench")
}

/// The attributes of object `i` in generation `generation`.
pub fn object(i: usize, attrs: usize, generation: u32) -> Map<String, Value> {
    (0..attrs).map(|a| (format!("field{a}"), Value::String(value(i, a, generation)))).collect()
}

/// Objects `range` as an object map.
pub fn objects(range: std::ops::Range<usize>, attrs: usize, generation: u32) -> Map<String, Value> {
    range.map(|i| (object_id(i), Value::Object(object(i, attrs, generation)))).collect()
}

/// What a seeding run cost.
#[derive(Debug, Clone, Default)]
pub struct Seeded {
    pub objects: usize,
    pub requests: usize,
    pub elapsed: Duration,
    /// `push_objects` or `store` (the fallback when the push route is missing).
    pub via: &'static str,
}

/// Loads objects `range` (generation `generation`) into `user`'s master document of
/// `source` through the REST API, in chunks of [`SEED_CHUNK`]. Uses `push_objects`
/// (docs/rest-api.md §13); if that route answers 404 it falls back to appending to the
/// store document `source:application:<user>:<source>:md`.
pub async fn seed(
    admin: &Admin,
    source: &str,
    user: &str,
    range: std::ops::Range<usize>,
    attrs: usize,
    generation: u32,
) -> Result<Seeded> {
    let started = Instant::now();
    let mut seeded = Seeded { via: "push_objects", ..Seeded::default() };
    let mut start = range.start;
    while start < range.end {
        let end = (start + SEED_CHUNK).min(range.end);
        let chunk = objects(start..end, attrs, generation);
        match admin.push_objects(source, user, &chunk).await {
            Ok(_) => {}
            Err(err) if seeded.via == "store" || err.to_string().contains("HTTP 404") => {
                seeded.via = "store";
                let docname = format!("source:application:{user}:{source}:md");
                admin
                    .store_append(&docname, &chunk)
                    .await
                    .with_context(|| format!("seeding {source} (after: {err})"))?;
            }
            Err(err) => return Err(err.context(format!("seeding {source} for {user}"))),
        }
        seeded.requests += 1;
        seeded.objects += end - start;
        start = end;
    }
    seeded.elapsed = started.elapsed();
    Ok(seeded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_deterministic_and_generations_differ() {
        let a = objects(0..3, 10, 0);
        assert_eq!(a.len(), 3);
        assert_eq!(a["00000001"].as_object().map(Map::len), Some(10));
        assert_eq!(a, objects(0..3, 10, 0));
        let b = objects(0..3, 10, 1);
        for (id, attrs) in &a {
            let (old, new) = (attrs.as_object(), b[id].as_object());
            let changed = old.zip(new).map_or(0, |(o, n)| o.iter().filter(|(k, v)| n.get(*k) != Some(*v)).count());
            assert_eq!(changed, 10, "every attribute changes with the generation");
        }
    }
}
