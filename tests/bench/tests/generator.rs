//! The generator against the in-memory fake server (`rhosync_bench::fake`): every
//! scenario runs with tiny sizes, so parsing, paging, acknowledgement and the bookkeeping
//! of each scenario are exercised without the real stack. The floor and `INFO memory`
//! use the Redis that `infra/test` (or the testkit) provides.

use rhosync_bench::report::Verdict;
use rhosync_bench::{fake, Config};

const TOKEN: &str = "fake-api-token";

#[tokio::test]
async fn every_scenario_runs_against_the_fake() {
    let stack = rhosync_testkit::Stack::get();
    let base = fake::start(&["BenchApp", "BenchAppSmall", "BenchMixed"], TOKEN).await.expect("fake server");
    let out = std::env::temp_dir().join(format!("rhosync-bench-fake-{}.json", std::process::id()));
    let cfg = Config {
        redis_url: Some(stack.redis_url.clone()),
        runner_pid: Some(std::process::id()),
        floor_bin: Some(env!("CARGO_BIN_EXE_rhosync-bench").into()),
        out: out.clone(),
        ..Config::smoke(&base, TOKEN)
    };
    let report = rhosync_bench::run(cfg).await.expect("all scenarios pass");
    let table = report.table();
    for scenario in ["S1", "S2", "S3", "S4", "S5", "S6"] {
        assert!(report.rows.iter().any(|r| r.scenario == scenario), "{scenario} missing:\n{table}");
    }
    assert!(report.rows.iter().all(|r| r.verdict != Verdict::Error), "{table}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("results file")).expect("results are JSON");
    assert_eq!(json["scenarios"]["S3"]["objects"], 150, "{json}");
    assert!(json["scenarios"]["S6"]["floor"]["requests_per_s"].as_f64().unwrap_or(0.0) > 0.0, "{json}");
    assert!(json["scenarios"]["S5"]["levels"][1]["requests"].as_u64().unwrap_or(0) > 0, "{json}");
    let _ = std::fs::remove_file(out);
}

#[tokio::test]
async fn a_failing_server_is_reported_not_hidden() {
    let base = fake::start(&[], TOKEN).await.expect("fake server");
    let out = std::env::temp_dir().join(format!("rhosync-bench-bad-{}.json", std::process::id()));
    // A wrong API token makes seeding fail: the run must end in an error naming it.
    let cfg = Config { out: out.clone(), scenarios: vec!["s3".into()], ..Config::smoke(&base, "wrong-token") };
    let err = rhosync_bench::run(cfg).await.expect_err("seeding must fail");
    assert!(format!("{err:#}").contains("422"), "{err:#}");
    let _ = std::fs::remove_file(out);
}
