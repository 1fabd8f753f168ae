//! `infra/console-upload` against the emulator's S3: the console's files land under
//! `console/` of the bucket with their content types (what the stack's CloudFront serves at
//! `/console/`, docs/deploy.md §9), stale console files are deleted, nothing else is.

use std::collections::BTreeMap;
use std::process::Command;

use rhosync_e2e::{repo_root, TestEnv, DEMO_SETTINGS};
use rhosync_testkit::Stack;

async fn objects(env: &TestEnv) -> BTreeMap<String, (String, String, Vec<u8>)> {
    let s3 = &env.state.aws.s3;
    let listed = s3.list_objects_v2().bucket(&env.provisioned.bucket).send().await.expect("list");
    let mut out = BTreeMap::new();
    for item in listed.contents.unwrap_or_default() {
        let key = item.key.unwrap_or_default();
        let got = s3.get_object().bucket(&env.provisioned.bucket).key(&key).send().await.expect("get");
        let kind = got.content_type.clone().unwrap_or_default();
        let cache = got.cache_control.clone().unwrap_or_default();
        let body = got.body.collect().await.expect("body").into_bytes().to_vec();
        out.insert(key, (kind, cache, body));
    }
    out
}

fn upload(env: &TestEnv, extra: &[&str]) -> String {
    let output = Command::new(repo_root().join("infra/console-upload"))
        .args(["--bucket", &env.provisioned.bucket, "--region", "us-east-1"])
        .args(extra)
        .env("AWS_ENDPOINT_URL", &Stack::get().aws_endpoint_url)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .expect("infra/console-upload runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "console-upload failed: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

#[tokio::test]
async fn the_console_is_uploaded_under_console_with_its_content_types() {
    let env = TestEnv::new("consoleupload", DEMO_SETTINGS).await;
    let s3 = &env.state.aws.s3;
    for key in ["console/old-screen.js", "data/keep.rzip"] {
        s3.put_object().bucket(&env.provisioned.bucket).key(key).body(b"x".to_vec().into()).send().await.expect("put");
    }

    let dry = upload(&env, &["--dry-run"]);
    assert!(dry.contains("would upload") && dry.contains("delete console/old-screen.js"), "{dry}");
    assert!(objects(&env).await.contains_key("console/old-screen.js"), "a dry run changes nothing");

    upload(&env, &[]);
    let stored = objects(&env).await;
    let index = &stored["console/index.html"];
    assert_eq!((index.0.as_str(), index.1.as_str()), ("text/html; charset=utf-8", "no-cache"));
    assert_eq!(index.2, std::fs::read(repo_root().join("console-static/index.html")).expect("index.html"));
    assert_eq!(stored["console/console.js"].0, "text/javascript; charset=utf-8");
    assert_eq!(stored["console/console.css"].0, "text/css; charset=utf-8");
    assert!(stored.contains_key("console/js/api.js"), "the modules are uploaded: {:?}", stored.keys());
    assert!(stored.contains_key("console/vendor/uPlot.iife.min.js"), "the chart library is uploaded");
    assert!(!stored.contains_key("console/old-screen.js"), "a stale console file is deleted");
    assert!(stored.contains_key("data/keep.rzip"), "keys outside console/ are left alone");
    let files = walk(&repo_root().join("console-static"));
    let uploaded: Vec<_> = stored.keys().filter(|k| k.starts_with("console/")).cloned().collect();
    assert_eq!(uploaded, files, "every file of console-static/ and nothing else");
}

fn walk(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(root).expect("under root").to_string_lossy().replace('\\', "/");
                out.push(format!("console/{rel}"));
            }
        }
    }
    out.sort();
    out
}
