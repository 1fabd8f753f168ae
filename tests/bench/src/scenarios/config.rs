//! What a run is given: the settings file the server under test runs with
//! ([`BENCH_SETTINGS`]) and the options of `rhosync-bench run` ([`Config`]), with the tiny
//! sizes of the smoke tests ([`Config::smoke`]).

use std::path::PathBuf;

use serde::Serialize;

use super::bulk::BulkConfig;
use super::soak::SoakConfig;

/// The settings file the benchmark's server runs with: the sources the scenarios use,
/// none ever queried (`poll_interval: -1`, data arrives through `push_objects`) but the
/// query source of S3q (its first sync runs the bench `MockAdapter` once), and any
/// login accepted (`device_auth: open`) so each simulated device can be a new user.
pub const BENCH_SETTINGS: &str = "\
:development:
  :syncserver: http://127.0.0.1:9292
  :device_auth: open
  :poll_interval_default: -1
:test:
  :device_auth: open
  :poll_interval_default: -1
:sources:
  BenchSmall:
    adapter: demo
    poll_interval: -1
    partition_type: user
  BenchLarge:
    adapter: demo
    poll_interval: -1
    partition_type: user
  BenchApp:
    adapter: demo
    poll_interval: -1
    partition_type: app
  BenchAppSmall:
    adapter: demo
    poll_interval: -1
    partition_type: app
  BenchMixed:
    adapter: demo
    poll_interval: -1
    partition_type: app
  BenchQuery:
    adapter: mock
    poll_interval: 86400
    partition_type: user
";

/// What to run and how big. Defaults are the full benchmark (`infra/bench`).
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct Config {
    /// Base URL of the running server (loopback only).
    #[arg(long, env = "BENCH_BASE_URL")]
    pub base_url: String,
    /// Admin API token for the push routes.
    #[arg(long, env = "API_TOKEN", hide_env_values = true)]
    #[serde(skip)]
    pub api_token: String,
    /// Redis the server uses (for `INFO memory` and the floor).
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// Pid of the server process, for CPU time from /proc.
    #[arg(long)]
    pub runner_pid: Option<u32>,
    /// Pid of redis-server, for its CPU time.
    #[arg(long)]
    pub redis_pid: Option<u32>,
    /// Floor binary (this program) to start as `floor`; default: the running executable.
    #[arg(long)]
    pub floor_bin: Option<PathBuf>,
    /// Where the JSON results go.
    #[arg(long, default_value = ".local/bench/results.json")]
    pub out: PathBuf,
    /// Scenarios to run, comma-separated: s1,s2,s3,s3q,s4,s5,s6,aws-calls,startup (the default) and,
    /// not run by default (they take minutes), push, bulk and soak.
    #[arg(long, default_value = "s3,s3q,s1,s2,s4,s5,s6,aws-calls,startup", value_delimiter = ',')]
    pub scenarios: Vec<String>,
    /// Prefix of the device logins of this run (a random suffix is added).
    #[arg(long, default_value = "bench")]
    pub user_prefix: String,
    /// Attributes per object.
    #[arg(long, default_value_t = 10)]
    pub attrs: usize,
    /// Page size devices ask for (Rhodes sends 2000).
    #[arg(long, default_value_t = 2000)]
    pub p_size: usize,
    /// User-partitioned source with the small dataset (S1, S6).
    #[arg(long, default_value = "BenchSmall")]
    pub small_source: String,
    #[arg(long, default_value_t = 1000)]
    pub small_objects: usize,
    /// User-partitioned source with the large dataset (S1, S2, S3).
    #[arg(long, default_value = "BenchLarge")]
    pub large_source: String,
    #[arg(long, default_value_t = 100_000)]
    pub large_objects: usize,
    /// User-partitioned source served by the bench `MockAdapter` (S3q, `large_objects` of them).
    #[arg(long, default_value = "BenchQuery")]
    pub query_source: String,
    /// No-change requests per source in S1.
    #[arg(long, default_value_t = 2000)]
    pub s1_requests: usize,
    /// Push-then-sync rounds in S2.
    #[arg(long, default_value_t = 30)]
    pub s2_rounds: usize,
    /// Objects changed per S2 round.
    #[arg(long, default_value_t = 10)]
    pub s2_changed: usize,
    /// App-partitioned sources for S4 (`name:objects`, comma-separated).
    #[arg(long, default_value = "BenchApp:10000,BenchAppSmall:1000", value_delimiter = ',')]
    pub s4_sources: Vec<String>,
    /// Devices added per S4 source (in two halves).
    #[arg(long, default_value_t = 10)]
    pub s4_devices: usize,
    /// App-partitioned source for the S5 mixed workload.
    #[arg(long, default_value = "BenchMixed")]
    pub mixed_source: String,
    #[arg(long, default_value_t = 500)]
    pub mixed_objects: usize,
    /// Concurrent devices per S5 level.
    #[arg(long, default_value = "1,5,10,50", value_delimiter = ',')]
    pub s5_levels: Vec<usize>,
    /// Seconds per S5 level.
    #[arg(long, default_value_t = 5.0)]
    pub s5_seconds: f64,
    /// Concurrent devices in S6 (and for the floor).
    #[arg(long, default_value_t = 10)]
    pub s6_concurrency: usize,
    /// Seconds of S6 load, each for the sync route and for the floor.
    #[arg(long, default_value_t = 5.0)]
    pub s6_seconds: f64,
    /// Directory with the release function binaries, for start-up times.
    #[arg(long)]
    pub functions_dir: Option<PathBuf>,
    #[arg(long, default_value = "sync,api,console,adapter-worker,push-worker,bulk-worker", value_delimiter = ',')]
    pub functions: Vec<String>,
    /// Starts per function binary (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub startup_runs: usize,
    /// JSON file `{function: zipped bytes}` from `cargo lambda build` (infra/bench --lambda-sizes).
    #[arg(long)]
    pub lambda_sizes: Option<PathBuf>,
    /// Devices the `push` scenario pings (half APNs, half FCM).
    #[arg(long, default_value_t = 10_000)]
    pub push_devices: usize,
    /// Users those devices are spread over. Few, because the emulator's DynamoDB Query
    /// sorts the whole table on every call (~1 s at 20,000 items) and the worker makes one
    /// per user: 1,000 users would take the emulator most of half an hour.
    #[arg(long, default_value_t = 20)]
    pub push_users: usize,
    /// Seconds the `push` scenario waits for the notifications (most of it goes to the
    /// emulator answering the worker's registry reads).
    #[arg(long, default_value_t = 600)]
    pub push_timeout_s: u64,
    /// Upper bound on any single loop, in requests.
    #[arg(long, default_value_t = 200_000)]
    pub max_requests: usize,
    #[command(flatten)]
    pub bulk: BulkConfig,
    #[command(flatten)]
    pub soak: SoakConfig,
}

impl Config {
    /// Tiny sizes for the smoke test: every scenario runs in a few seconds.
    pub fn smoke(base_url: &str, api_token: &str) -> Config {
        Config {
            base_url: base_url.to_owned(),
            api_token: api_token.to_owned(),
            redis_url: None,
            runner_pid: None,
            redis_pid: None,
            floor_bin: None,
            out: PathBuf::from(".local/bench/smoke.json"),
            scenarios: ["s3", "s1", "s2", "s4", "s5", "s6", "aws-calls"].map(str::to_owned).to_vec(),
            user_prefix: "smoke".into(),
            attrs: 3,
            p_size: 40,
            small_source: "BenchSmall".into(),
            small_objects: 20,
            large_source: "BenchLarge".into(),
            large_objects: 150,
            query_source: "BenchQuery".into(),
            s1_requests: 20,
            s2_rounds: 3,
            s2_changed: 4,
            s4_sources: vec!["BenchApp:60".into(), "BenchAppSmall:20".into()],
            s4_devices: 2,
            mixed_source: "BenchMixed".into(),
            mixed_objects: 15,
            s5_levels: vec![1, 3],
            s5_seconds: 0.5,
            s6_concurrency: 2,
            s6_seconds: 0.5,
            functions_dir: None,
            functions: Vec::new(),
            startup_runs: 1,
            lambda_sizes: None,
            push_devices: 40,
            push_users: 4,
            push_timeout_s: 60,
            max_requests: 2_000,
            bulk: BulkConfig::smoke(),
            soak: SoakConfig::smoke(),
        }
    }

    /// Whether `scenario` (`s1` … `s6`, `startup`) was asked for, in any case.
    pub(super) fn wants(&self, scenario: &str) -> bool {
        self.scenarios.iter().any(|s| s.eq_ignore_ascii_case(scenario))
    }

    /// The most pages a full sync of `objects` objects may take before it counts as stuck.
    pub(super) fn max_pages(&self, objects: usize) -> usize {
        objects / self.p_size.max(1) + 20
    }
}
