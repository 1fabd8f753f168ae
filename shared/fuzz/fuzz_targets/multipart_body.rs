//! Whole request bodies as the HTTP layer reads them (`rhosync_server::http::request::params_of`):
//! the `Content-Type` picks the carrier, and a `multipart/form-data` body is split into parts
//! by `multer` at its boundary before the engine's parser sees them. Never a panic; a body
//! that does not parse is the client-data error, one nested too deep a 400 naming the limit.
//!
//! Input layout: the `Content-Type` value up to the first `\n`, then the raw body.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rhosync_server::http::error::HttpError;
use rhosync_server::http::request::params_of;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let Ok(content_type) = std::str::from_utf8(&data[..split]) else { return };
    let body = Bytes::copy_from_slice(data.get(split + 1..).unwrap_or_default());
    // The body arrives as one chunk that is already there, so nothing ever waits: one poll
    // finishes the future (no runtime needed).
    let mut future = pin!(params_of(None, content_type, body, false));
    let Poll::Ready(result) = future.as_mut().poll(&mut Context::from_waker(Waker::noop())) else {
        panic!("parsing a body already in memory waited");
    };
    match result {
        Ok(parsed) => {
            let _ = rhosync_engine::params::page_size(&parsed.params);
            for upload in &parsed.uploads {
                assert!(upload.filename.is_some(), "an upload without a file name: {:?}", upload.name);
            }
        }
        Err(HttpError::ClientData) => {}
        Err(HttpError::BadRequest(message)) => assert!(message.contains("nest"), "{message}"),
        Err(other) => panic!("body parsing failed with {other:?}"),
    }
});
