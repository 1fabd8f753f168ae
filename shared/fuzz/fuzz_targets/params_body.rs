//! Request bodies through `rhosync_engine::params::build_params`: JSON, form and
//! multipart text fields, and the `cud` parameter each may carry.
//!
//! Input layout: one mode byte (0 JSON, 1 form, 2 multipart, 3 other content type),
//! then the body. For multipart the body is split into lines, each a part
//! `name=value`; a name starting with `@` is a file part.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhosync_engine::params::{self, Body, ParamsError, Part};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else { return };
    let parts: Vec<Part>;
    let body = match mode % 4 {
        0 => Body::Raw { content_type: "application/json; charset=utf-8", bytes: body },
        1 => Body::Raw { content_type: "application/x-www-form-urlencoded", bytes: body },
        2 => {
            parts = body
                .split(|&b| b == b'\n')
                .map(|line| {
                    let (name, value) = match line.iter().position(|&b| b == b'=') {
                        Some(i) => (&line[..i], &line[i + 1..]),
                        None => (line, &[][..]),
                    };
                    let name = String::from_utf8_lossy(name);
                    let (name, filename) = match name.strip_prefix('@') {
                        Some(n) => (n.to_owned(), Some(format!("{n}.bin"))),
                        None => (name.into_owned(), None),
                    };
                    Part { name, filename, content_type: None, bytes: value.to_vec() }
                })
                .collect();
            Body::Multipart(parts.clone())
        }
        _ => Body::Raw { content_type: "text/plain", bytes: body },
    };
    let files = match &body {
        Body::Multipart(parts) => parts.iter().filter(|p| p.filename.is_some()).count(),
        _ => 0,
    };
    let is_json = matches!(&body, Body::Raw { content_type, .. } if content_type.starts_with("application/json"));
    match params::build_params(None, body, &[]) {
        Ok(out) => {
            assert_eq!(out.uploads.len(), files, "every file part is an upload");
            let _ = params::page_size(&out.params);
            let _ = params::client_id(Some(" "), &out.params);
        }
        Err(ParamsError::MalformedJsonBody(msg)) => {
            assert!(is_json);
            // The depth scan runs first, so serde_json's own recursion stop is never what fails.
            assert!(!msg.contains("recursion limit"), "deep JSON got past the depth scan: {msg}");
        }
        Err(ParamsError::JsonBodyNotObject) => assert!(is_json),
        Err(ParamsError::MalformedCud(msg)) => assert!(!msg.contains("recursion limit"), "{msg}"),
        Err(ParamsError::NestingTooDeep) => {}
        Err(other) => panic!("body parsing failed with {other:?}"),
    }
});
