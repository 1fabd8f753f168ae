//! `rhosync-bench`: the load generator's command line.
//!
//! - `run`: every scenario against a running server; prints a table, writes JSON;
//! - `settings`: print the settings file the server under test runs with;
//! - `floor`: serve the floor (one Redis `GET` per request) until killed — `run` starts it
//!   as a child process so its CPU is measured apart from the generator's;
//! - `push-worker`, `push-floor`: the two child processes of scenario `push`
//!   ([`rhosync_bench::push`]).
//! - `bulk-floor`: write the `bulk` scenario's floor file once and print its figures as JSON
//!   (`run` starts it as a child process, for the same reason).
//!
//! `infra/bench` starts the stack and calls `run` with sensible defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "rhosync-bench", version, about = "rhosync's load generator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the scenarios against a running server.
    Run(Box<rhosync_bench::Config>),
    /// Serve the floor: GET /floor does one Redis GET.
    Floor {
        #[arg(long, env = "REDIS_URL")]
        redis_url: String,
        #[arg(long, default_value = "127.0.0.1:0")]
        bind: SocketAddr,
        /// Write the bound port here once listening.
        #[arg(long)]
        port_file: Option<PathBuf>,
    },
    /// Print the settings file the benchmark's server should run with.
    Settings,
    /// The push worker alone (scenario `push` starts it; environment as the runner's).
    PushWorker,
    /// The push floor: replay a plan of recorded requests (scenario `push` starts it).
    PushFloor {
        #[arg(long)]
        plan: PathBuf,
        #[arg(long)]
        apns_url: String,
        #[arg(long)]
        fcm_url: String,
        #[arg(long)]
        ca_file: PathBuf,
        #[arg(long)]
        concurrency: usize,
    },
    /// Write the bulk floor's file (bare rusqlite + zip) and print its figures as JSON.
    BulkFloor {
        #[arg(long)]
        objects: usize,
        #[arg(long, default_value_t = 10)]
        attrs: usize,
        /// Directory for the scratch files (must exist).
        #[arg(long)]
        dir: PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let outcome = match Cli::parse().command {
        Command::Run(cfg) => rhosync_bench::run(*cfg).await.map(drop),
        Command::PushWorker => return rhosync_bench::push::worker::serve().await,
        Command::PushFloor { plan, apns_url, fcm_url, ca_file, concurrency } => {
            rhosync_bench::push::floor::serve(&plan, &apns_url, &fcm_url, &ca_file, concurrency).await
        }
        Command::Settings => {
            print!("{}", rhosync_bench::BENCH_SETTINGS);
            Ok(())
        }
        Command::BulkFloor { objects, attrs, dir } => rhosync_bench::bulk_floor::run(&dir, objects, attrs)
            .and_then(|run| serde_json::to_string(&run).map_err(anyhow::Error::from))
            .map(|json| println!("{json}")),
        Command::Floor { redis_url, bind, port_file } => {
            if !bind.ip().is_loopback() {
                eprintln!("rhosync-bench: the floor only binds loopback addresses");
                return ExitCode::FAILURE;
            }
            rhosync_bench::floor::serve(&redis_url, bind, port_file.as_deref()).await
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("rhosync-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}
