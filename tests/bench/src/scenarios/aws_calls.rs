//! aws-calls: the AWS calls each request kind makes, read from the runner's
//! `X-Rhosync-Aws-Calls` header (`infra/bench` starts it with `RHOSYNC_COUNT_AWS_CALLS=1`).
//! A new user's first device session (login creating the user, clientcreate,
//! clientregister, paged query with acks, create, delete, a backend `push_deletes`, an
//! admin REST call), a second new device of that user, then that device returning (login,
//! clientregister with the same fields, the no-change sync, create, delete,
//! `push_deletes`, the REST call). Verdicts: the returning device's login +
//! clientregister + sync make no DynamoDB call; each new device's login + clientcreate +
//! sync (the user's first, which creates the user in one transaction, and a second one)
//! at most two.

use anyhow::{bail, Result};
use reqwest::Method;
use serde_json::{json, Map, Value};

use super::Bench;
use crate::client::Device;
use crate::data;
use crate::report::Goal;

/// The header the runner answers with.
const HEADER: &str = "x-rhosync-aws-calls";

/// Calls of one request: DynamoDB, SQS, S3.
type Calls = [u64; 3];

fn parse(text: &str) -> Calls {
    let mut out = [0; 3];
    for part in text.split(',') {
        if let Some((name, value)) = part.split_once('=') {
            let i = match name.trim() {
                "dynamodb" => 0,
                "sqs" => 1,
                "s3" => 2,
                _ => continue,
            };
            out[i] = value.trim().parse().unwrap_or(0);
        }
    }
    out
}

impl Bench {
    /// A request with the admin token; the calls its answer reports (`None`: no header).
    async fn admin_calls(&self, method: Method, path: &str, body: Option<Value>) -> Result<Option<Calls>> {
        let mut req = self.target.request(method, path)?.header("X-RhoConnect-API-TOKEN", &self.cfg.api_token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            // A server without the route (the generator's fake): nothing to count.
            return Ok(None);
        }
        if !resp.status().is_success() {
            bail!("{path}: HTTP {}", resp.status());
        }
        Ok(resp.headers().get(HEADER).and_then(|v| v.to_str().ok()).map(parse))
    }

    /// One session; `(request kind, calls)` in order.
    async fn aws_session(&self, d: &mut Device, new: bool) -> Result<Vec<(String, Option<Calls>)>> {
        let source = self.cfg.small_source.clone();
        d.aws.clear();
        d.login().await?;
        if new {
            d.client_create().await?;
        }
        d.client_register().await?;
        d.sync(&source, self.cfg.p_size, self.cfg.max_pages(self.cfg.small_objects)).await?;
        let id = format!("{}-aws-{}", d.login, if new { "new" } else { "again" });
        let mut objects = Map::new();
        objects.insert(id.clone(), Value::Object(data::object(0, 3, 9)));
        d.create(&source, objects).await?;
        d.delete_one(&source, &id).await?;
        let mut out: Vec<(String, Option<Calls>)> =
            d.aws.iter().map(|(k, c)| ((*k).to_owned(), c.as_deref().map(parse))).collect();
        let body = json!({"user_id": d.login, "objects": [id], "rebuild_md": false});
        let push = self.admin_calls(Method::POST, &format!("/app/v1/{source}/push_deletes"), Some(body)).await?;
        out.push(("push_deletes".into(), push));
        out.push(("rest (admin token)".into(), self.admin_calls(Method::GET, "/rc/v1/system/license", None).await?));
        Ok(out)
    }

    /// The aws-calls scenario (see the module docs).
    pub(super) async fn aws_calls(&mut self) -> Result<()> {
        let source = self.cfg.small_source.clone();
        let n = self.cfg.small_objects;
        let owner = self.login("aws");
        self.ensure_seeded(&source, &owner, n).await?;
        // Warm the instance: the source's settings and the admin token are read once per
        // instance, not per device.
        let mut warm = Device::new(&self.target, &self.login("aws-warm"), "bench");
        self.aws_session(&mut warm, true).await?;
        // The user's first device creates the user (one transaction with its membership);
        // a second new device of that user finds it; then that device returns.
        let mut first = Device::new(&self.target, &owner, "bench");
        let first_device = self.aws_session(&mut first, true).await?;
        let mut d = Device::new(&self.target, &owner, "bench");
        let new = self.aws_session(&mut d, true).await?;
        let returning = self.aws_session(&mut d, false).await?;
        if new.iter().chain(&returning).all(|(_, c)| c.is_none()) {
            self.report.info("aws-calls", "calls per request", "n/a (the runner sends no X-Rhosync-Aws-Calls)".into());
            return Ok(());
        }
        let mut rows = Vec::new();
        for (label, session) in [("new user's first", &first_device), ("new", &new), ("returning", &returning)] {
            let mut kinds: Vec<&str> = Vec::new();
            for (k, _) in session.iter() {
                if !kinds.contains(&k.as_str()) {
                    kinds.push(k);
                }
            }
            for kind in kinds {
                let mut sum = [0u64; 3];
                let mut count = 0;
                for (_, c) in session.iter().filter(|(k, _)| k == kind) {
                    count += 1;
                    for (i, v) in c.unwrap_or_default().iter().enumerate() {
                        sum[i] += v;
                    }
                }
                self.report.info(
                    "aws-calls",
                    &format!("{label} device: {kind} (×{count}) DynamoDB / SQS / S3"),
                    format!("{} / {} / {}", sum[0], sum[1], sum[2]),
                );
                rows.push(json!({"session": label, "request": kind, "requests": count,
                                 "dynamodb": sum[0], "sqs": sum[1], "s3": sum[2]}));
            }
        }
        let total = |s: &[(String, Option<Calls>)], kinds: &[&str], i: usize| -> u64 {
            s.iter().filter(|(k, _)| kinds.contains(&k.as_str())).map(|(_, c)| c.unwrap_or_default()[i]).sum()
        };
        let session_totals = |s: &[(String, Option<Calls>)]| -> Calls {
            [0, 1, 2].map(|i| s.iter().map(|(_, c)| c.unwrap_or_default()[i]).sum())
        };
        for (label, s) in [("new user's first", &first_device), ("new", &new), ("returning", &returning)] {
            let t = session_totals(s);
            self.report.info(
                "aws-calls",
                &format!("{label} device: whole session DynamoDB / SQS / S3"),
                format!("{} / {} / {}", t[0], t[1], t[2]),
            );
        }
        let returning_dynamo = total(&returning, &["login", "clientregister", "query", "query-ack"], 0);
        let sync_kinds: Vec<&str> = new.iter().map(|(k, _)| k.as_str()).filter(|k| !is_write(k)).collect();
        let new_dynamo = total(&new, &sync_kinds, 0);
        let first_kinds: Vec<&str> = first_device.iter().map(|(k, _)| k.as_str()).filter(|k| !is_write(k)).collect();
        let first_dynamo = total(&first_device, &first_kinds, 0);
        self.report.target(
            "aws-calls",
            "new user's first device: DynamoDB calls (login creating the user + clientcreate + sync)",
            first_dynamo as f64,
            format!("{first_dynamo}"),
            Goal::AtMost(2.0, "≤ 2"),
        );
        self.report.target(
            "aws-calls",
            "returning device: DynamoDB calls (login + clientregister + no-change sync)",
            returning_dynamo as f64,
            format!("{returning_dynamo}"),
            Goal::AtMost(0.0, "0"),
        );
        self.report.target(
            "aws-calls",
            "new device of an existing user: DynamoDB calls (login + clientcreate + sync)",
            new_dynamo as f64,
            format!("{new_dynamo}"),
            Goal::AtMost(2.0, "≤ 2"),
        );
        self.report.detail(
            "aws-calls",
            json!({"requests": rows, "first_device_session": session_totals(&first_device), "new_session": session_totals(&new), "returning_session": session_totals(&returning),
                   "returning_dynamodb_login_register_sync": returning_dynamo,
                   "new_dynamodb_login_create_sync": new_dynamo,
                   "first_device_dynamodb_login_create_sync": first_dynamo}),
        );
        Ok(())
    }
}

/// Request kinds outside the new device's verdict: its writes and the backend's calls
/// (clientregister stores the device's push fields: one write).
fn is_write(kind: &str) -> bool {
    matches!(kind, "clientregister" | "create" | "delete" | "push_deletes" | "rest (admin token)")
}
