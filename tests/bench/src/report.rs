//! Results: rows for the printed table (scenario, figure, value, target, verdict) and
//! the detailed JSON written next to them.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{Map, Value};

/// How a figure compares with its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Met,
    Missed,
    /// A figure without a target.
    Info,
    /// The scenario failed before producing the figure.
    Error,
}

/// A target: the limit and how the table shows it.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    AtMost(f64, &'static str),
    AtLeast(f64, &'static str),
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: String,
    pub metric: String,
    pub value: String,
    pub target: String,
    pub verdict: Verdict,
}

/// Everything a run produced.
#[derive(Debug, Default)]
pub struct Report {
    pub rows: Vec<Row>,
    /// Per-scenario details for the JSON file.
    pub details: Map<String, Value>,
    pub errors: Vec<String>,
}

impl Report {
    /// A figure without a target.
    pub fn info(&mut self, scenario: &str, metric: &str, value: String) {
        self.push(scenario, metric, value, String::new(), Verdict::Info);
    }

    /// A figure judged against `goal`; `shown` is how the value is printed.
    pub fn target(&mut self, scenario: &str, metric: &str, value: f64, shown: String, goal: Goal) {
        let (met, target) = match goal {
            Goal::AtMost(limit, label) => (value <= limit, label),
            Goal::AtLeast(limit, label) => (value >= limit, label),
        };
        // No figure (e.g. a ratio over a zero delta): shown, but judged neither way.
        let (verdict, shown) = if !value.is_finite() {
            (Verdict::Info, "n/a".to_owned())
        } else if met {
            (Verdict::Met, shown)
        } else {
            (Verdict::Missed, shown)
        };
        self.push(scenario, metric, shown, target.to_owned(), verdict);
    }

    pub fn error(&mut self, scenario: &str, err: &anyhow::Error) {
        let message = format!("{err:#}");
        self.errors.push(format!("{scenario}: {message}"));
        self.push(scenario, "scenario failed", message.chars().take(160).collect(), String::new(), Verdict::Error);
    }

    pub fn detail(&mut self, scenario: &str, value: Value) {
        self.details.insert(scenario.to_owned(), value);
    }

    fn push(&mut self, scenario: &str, metric: &str, value: String, target: String, verdict: Verdict) {
        self.rows.push(Row { scenario: scenario.to_owned(), metric: metric.to_owned(), value, target, verdict });
    }

    /// The table as plain text.
    pub fn table(&self) -> String {
        let headers = ["scenario", "figure", "value", "target", "verdict"];
        let cells: Vec<[String; 5]> = self
            .rows
            .iter()
            .map(|r| {
                let verdict = match r.verdict {
                    Verdict::Met => "met",
                    Verdict::Missed => "MISSED",
                    Verdict::Info => "",
                    Verdict::Error => "ERROR",
                };
                [r.scenario.clone(), r.metric.clone(), r.value.clone(), r.target.clone(), verdict.to_owned()]
            })
            .collect();
        let mut widths = headers.map(|h| h.chars().count());
        for row in &cells {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, row: &[String]| {
            let mut text = String::new();
            for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
                let pad = w.saturating_sub(cell.chars().count());
                // Values are right-aligned, everything else left-aligned.
                if i == 2 {
                    let _ = write!(text, "{}{}  ", " ".repeat(pad), cell);
                } else {
                    let _ = write!(text, "{}{}  ", cell, " ".repeat(pad));
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&mut out, &headers.map(str::to_owned));
        line(&mut out, &widths.map(|w| "-".repeat(w)));
        for row in &cells {
            line(&mut out, row);
        }
        out
    }

    /// Writes the JSON file (creating its directory).
    pub fn write_json(&self, path: &Path, run: Value) -> Result<()> {
        let doc = serde_json::json!({
            "run": run,
            "rows": self.rows,
            "scenarios": self.details,
            "errors": self.errors,
        });
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(&doc).context("serialising the results")?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_verdicts() {
        let mut r = Report::default();
        r.info("S1", "p50, 1k objects", "0.41 ms".into());
        r.target("S1", "ratio 100k/1k", 1.05, "1.05".into(), Goal::AtMost(1.2, "≤ 1.2"));
        r.target("S6", "share of floor", 0.3, "30%".into(), Goal::AtLeast(0.5, "≥ 50%"));
        let table = r.table();
        assert!(table.contains("met"), "{table}");
        assert!(table.contains("MISSED"), "{table}");
        assert_eq!(table.lines().count(), 5);
        assert_eq!(r.rows[1].verdict, Verdict::Met);
        assert_eq!(r.rows[2].verdict, Verdict::Missed);
    }
}
