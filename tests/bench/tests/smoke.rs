//! Smoke run of the load generator against the real server: the local runner in-process
//! (with its queue consumers), Redis and the AWS emulator from `infra/test`, every
//! scenario but start-up at tiny sizes. It checks that the generator still speaks the
//! protocol the server serves — figures are not judged here, only that each scenario ran.

use rhosync_bench::report::Verdict;
use rhosync_bench::{Config, BENCH_SETTINGS};
use rhosync_e2e::{start_runner, TestEnv, TEST_API_TOKEN};

#[tokio::test]
async fn every_scenario_runs_against_the_local_runner() {
    // The runner answers with its AWS call counts, as `infra/bench` starts it (aws-calls).
    std::env::set_var("RHOSYNC_COUNT_AWS_CALLS", "1");
    let env = TestEnv::new("bench", BENCH_SETTINGS).await;
    let runner = start_runner(&env, 1).await;
    let redis_url = env.vars().into_iter().find(|(k, _)| k == "REDIS_URL").map(|(_, v)| v);
    let out = std::env::temp_dir().join(format!("rhosync-bench-smoke-{}.json", env.prefix));
    let smoke = Config::smoke(&runner.base_url(), TEST_API_TOKEN);
    // S3q needs the runner's MockAdapter, which the generator's fake server does not play.
    let mut scenarios = smoke.scenarios.clone();
    scenarios.insert(1, "s3q".to_owned());
    let cfg = Config {
        scenarios,
        redis_url,
        runner_pid: Some(std::process::id()),
        floor_bin: Some(env!("CARGO_BIN_EXE_rhosync-bench").into()),
        out: out.clone(),
        ..smoke
    };
    let report = match rhosync_bench::run(cfg).await {
        Ok(report) => report,
        Err(err) => panic!("the generator failed against the runner: {err:#}"),
    };
    let table = report.table();
    for scenario in ["S1", "S2", "S3", "S3q", "S4", "S5", "S6", "aws-calls"] {
        assert!(report.rows.iter().any(|r| r.scenario == scenario), "{scenario} missing:\n{table}");
    }
    assert!(report.rows.iter().all(|r| r.verdict != Verdict::Error), "{table}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("results file")).expect("results are JSON");
    assert_eq!(json["scenarios"]["S3"]["objects"], 150, "{json}");
    assert_eq!(json["scenarios"]["S3q"]["objects"], 150, "{json}");
    let _ = std::fs::remove_file(out);
    runner.shutdown().await;
}
