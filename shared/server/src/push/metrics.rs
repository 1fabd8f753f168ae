//! Per-job push counts (docs/push.md §9): one structured log line per platform, and under
//! Lambda also a CloudWatch embedded-metric-format (EMF) record on stdout, which CloudWatch
//! turns into the metrics `rhosync/push` `sent`, `failed`, `pruned`, `ignored`, `retrying`
//! by `platform`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::ports::Platform;

/// Counts of one job, per platform.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub sent: usize,
    pub failed: usize,
    pub pruned: usize,
    pub ignored: usize,
    pub retrying: usize,
    /// Already delivered for this ping (a redelivered job).
    pub already: usize,
}

/// What one delivery run did, per platform.
pub type Tally = BTreeMap<Platform, Counts>;

/// CloudWatch namespace of the push metrics.
pub const NAMESPACE: &str = "rhosync/push";

/// The EMF record of one platform's counts.
pub fn emf_record(job: &str, platform: Platform, c: &Counts, timestamp_ms: u128) -> Value {
    let metrics: Vec<Value> = ["sent", "failed", "pruned", "ignored", "retrying"]
        .iter()
        .map(|name| json!({"Name": name, "Unit": "Count"}))
        .collect();
    json!({
        "_aws": {
            "Timestamp": timestamp_ms as u64,
            "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [["platform"]], "Metrics": metrics}],
        },
        "platform": platform.as_str(),
        "job": job,
        "sent": c.sent,
        "failed": c.failed,
        "pruned": c.pruned,
        "ignored": c.ignored,
        "retrying": c.retrying,
    })
}

/// Logs the counts of one delivery run.
pub fn report(job: &str, tally: &Tally) {
    let under_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    for (platform, c) in tally {
        tracing::info!(
            job,
            platform = platform.as_str(),
            sent = c.sent,
            failed = c.failed,
            pruned = c.pruned,
            ignored = c.ignored,
            retrying = c.retrying,
            already = c.already,
            "push delivered"
        );
        if under_lambda {
            // EMF records are read from the function's stdout, one JSON object per line.
            println!("{}", emf_record(job, *platform, c, now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_record_names_the_metrics_and_carries_the_counts() {
        let c = Counts { sent: 3, pruned: 1, ..Default::default() };
        let r = emf_record("j1", Platform::Apns, &c, 1_700_000_000_000);
        assert_eq!(r["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        assert_eq!(r["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["platform"]]));
        assert_eq!(r["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().map(Vec::len), Some(5));
        assert_eq!(
            (r["platform"].as_str(), r["sent"].as_u64(), r["pruned"].as_u64()),
            (Some("apns"), Some(3), Some(1))
        );
    }
}
