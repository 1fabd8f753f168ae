//! Answering `GET /data/…` from the bucket (docs/bulk-data.md §6): 200 with the bytes, or
//! 206 with one byte range, so an interrupted download resumes. Deployed, CloudFront serves
//! these paths from the bucket before they reach a function; the sync function answers them
//! too (locally, through the runner, and for small files behind the HTTP API alone).

use std::ops::Range;

use super::record::key_of_path;
use super::BulkError;
use crate::sync::SyncServices;

/// A file answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Download {
    /// The whole file.
    Whole(Vec<u8>),
    /// One range of it: the bytes, `Content-Range`.
    Partial(Vec<u8>, String),
    /// A range outside the file: `Content-Range: bytes */<size>`.
    Unsatisfiable(String),
}

/// The range a `Range` header asks of a `size`-byte file: `None` for the whole file
/// (no header, a header we do not take, several ranges), `Some(Err)` when it is past the end.
pub fn parse_range(header: Option<&str>, size: u64) -> Option<Result<Range<u64>, ()>> {
    let spec = header?.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let (start, end) = (start.trim(), end.trim());
    let range = if start.is_empty() {
        let suffix: u64 = end.parse().ok()?;
        if suffix == 0 {
            return Some(Err(()));
        }
        size.saturating_sub(suffix)..size
    } else {
        let start: u64 = start.parse().ok()?;
        let end =
            if end.is_empty() { size.saturating_sub(1) } else { end.parse::<u64>().ok()?.min(size.saturating_sub(1)) };
        if start >= size || end < start {
            return Some(Err(()));
        }
        start..end + 1
    };
    Some(Ok(range))
}

/// The file at request path `path`, honouring `range`; `None` when there is none.
pub async fn download(svc: &SyncServices, path: &str, range: Option<&str>) -> Result<Option<Download>, BulkError> {
    let Some(key) = key_of_path(path) else { return Ok(None) };
    let Some(bytes) = svc.blobs().get(&key).await? else { return Ok(None) };
    let size = bytes.len() as u64;
    Ok(Some(match parse_range(range, size) {
        None => Download::Whole(bytes),
        Some(Err(())) => Download::Unsatisfiable(format!("bytes */{size}")),
        Some(Ok(r)) => {
            let content_range = format!("bytes {}-{}/{size}", r.start, r.end - 1);
            let (start, end) = (r.start as usize, r.end as usize);
            Download::Partial(bytes.get(start..end).map(<[u8]>::to_vec).unwrap_or_default(), content_range)
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), None);
        assert_eq!(parse_range(Some("bytes=2-4"), 10), Some(Ok(2..5)));
        assert_eq!(parse_range(Some("bytes=2-"), 10), Some(Ok(2..10)));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Some(Ok(7..10)));
        assert_eq!(parse_range(Some("bytes=5-100"), 10), Some(Ok(5..10)));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Some(Err(())));
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), None);
        assert_eq!(parse_range(Some("items=0-1"), 10), None);
    }
}
