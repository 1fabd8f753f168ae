//! Start-up: each release function binary started under a fake Lambda runtime API
//! ([`crate::lambda`]), timed from spawn to the end of its init and to its first answer
//! (median of a few starts), and the zipped sizes of the bootstraps against their limit.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::Bench;
use crate::lambda;
use crate::report::Goal;

impl Bench {
    /// Start-up of each function binary under a fake Lambda runtime API, and zipped sizes.
    pub(super) async fn startup(&mut self) -> Result<()> {
        let mut details = serde_json::Map::new();
        if let Some(dir) = self.cfg.functions_dir.clone() {
            let env: HashMap<String, String> = HashMap::new();
            for function in self.cfg.functions.clone() {
                let binary = dir.join(&function);
                let mut runs = Vec::new();
                for _ in 0..self.cfg.startup_runs.max(1) {
                    runs.push(lambda::measure(&binary, &function, &env, Duration::from_secs(30)).await?);
                }
                let mut served: Vec<f64> = runs.iter().map(|r| r.first_response_ms).collect();
                served.sort_by(f64::total_cmp);
                let mut init: Vec<f64> = runs.iter().map(|r| r.init_ms).collect();
                init.sort_by(f64::total_cmp);
                let (served_med, init_med) = (served[served.len() / 2], init[init.len() / 2]);
                let status = runs.iter().filter_map(|r| r.status).map(|s| s.to_string()).collect::<Vec<_>>().join(",");
                let shown_status = if status.is_empty() { String::new() } else { format!(", HTTP {status}") };
                self.report.info(
                    "start-up",
                    &format!("{function}: spawn → init done / first answer"),
                    format!("{init_med:.0} / {served_med:.0} ms{shown_status}"),
                );
                details.insert(
                    function.clone(),
                    json!({"runs": runs, "median_first_response_ms": served_med, "median_init_ms": init_med}),
                );
            }
        }
        if let Some(path) = self.cfg.lambda_sizes.clone() {
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            let sizes: HashMap<String, u64> =
                serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
            let mut names: Vec<&String> = sizes.keys().collect();
            names.sort();
            for name in names {
                let bytes = sizes[name] as f64;
                let mb = bytes / 1e6;
                self.report.target(
                    "start-up",
                    &format!("{name}: zipped arm64 bootstrap"),
                    bytes,
                    format!("{mb:.2} MB"),
                    Goal::AtMost(8e6, "≤ 8 MB"),
                );
            }
            details.insert("zipped_bytes".into(), json!(sizes));
        }
        if details.is_empty() {
            self.report.info("start-up", "skipped", "no --functions-dir or --lambda-sizes".into());
        }
        self.report.detail("startup", Value::Object(details));
        Ok(())
    }
}
