//! `rhosync-local`: the local runner's command line.
//!
//! - `serve`: every HTTP function on one port (routed as `template.yaml` routes them), the
//!   static console under `/console/`, and consumers feeding the SQS queues to the workers;
//! - `provision`: create the queues, table and bucket the template declares, on the emulator
//!   `AWS_ENDPOINT_URL` points at, and print their names as shell `export` lines;
//! - `seed`: create the demo device user;
//! - `fake-apns`: a fake APNs server logging each request as a JSON line
//!   ([`rhosync_local::fake_apns`]; `infra/dev --fake-push` starts it).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rhosync_local::{ConsumerOptions, RunnerOptions};
use rhosync_server::edges::{aws, AwsClients};
use rhosync_server::runtime::{bootstrap, fail};

#[derive(Parser)]
#[command(name = "rhosync-local", version, about = "rhosync's local runner")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve all functions and consume the queues until SIGINT/SIGTERM.
    Serve {
        #[arg(long, default_value = "127.0.0.1:0")]
        bind: SocketAddr,
        #[arg(long, default_value = "template.yaml")]
        template: PathBuf,
        #[arg(long)]
        static_dir: Option<PathBuf>,
        /// Write the bound port here once listening.
        #[arg(long)]
        port_file: Option<PathBuf>,
        /// Seconds before a failed job is retried (default: the queue's visibility timeout).
        #[arg(long)]
        retry_delay: Option<i32>,
        /// Serve HTTP only.
        #[arg(long)]
        no_consumers: bool,
    },
    /// Create the local AWS resources under a name prefix and print `export` lines.
    Provision {
        #[arg(long, default_value = "rhosync")]
        prefix: String,
    },
    /// Seed the demo device user.
    Seed {
        #[arg(long, default_value = "demo")]
        login: String,
        #[arg(long, default_value = "demo")]
        password: String,
    },
    /// Serve a fake APNs (HTTP/2, TLS) until SIGINT/SIGTERM; certificate, key and the
    /// request log `fake-apns.log` go into --dir.
    FakeApns {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:0")]
        bind: SocketAddr,
        /// Write the bound port here once listening.
        #[arg(long)]
        port_file: Option<PathBuf>,
        /// A settings file to copy, with the fake's APNs keys added, to --settings-out.
        #[arg(long, requires = "settings_out")]
        settings_in: Option<PathBuf>,
        #[arg(long, requires = "settings_in")]
        settings_out: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    rhosync_server::telemetry::init();
    let program = "rhosync-local";
    match Cli::parse().command {
        Command::Provision { prefix } => {
            let aws = AwsClients::from_env().await;
            match aws::provision(&aws, &prefix).await {
                Ok(provisioned) => {
                    print!("{}", provisioned.export_lines());
                    ExitCode::SUCCESS
                }
                Err(err) => fail(program, &err),
            }
        }
        Command::Seed { login, password } => {
            let state = match bootstrap().await {
                Ok(state) => state,
                Err(err) => return fail(program, &err),
            };
            match rhosync_server::seed::demo_user(state.registry(), &login, &password).await {
                Ok(()) => {
                    println!("seeded device user {login}");
                    ExitCode::SUCCESS
                }
                Err(err) => fail(program, &err),
            }
        }
        Command::FakeApns { dir, bind, port_file, settings_in, settings_out } => {
            let fake = match rhosync_local::fake_apns::start(&dir, bind).await {
                Ok(fake) => fake,
                Err(err) => return fail(program, &err),
            };
            if let (Some(input), Some(output)) = (settings_in, settings_out) {
                let written = std::fs::read_to_string(&input)
                    .map_err(|e| format!("cannot read {}: {e}", input.display()))
                    .and_then(|base| rhosync_local::fake_apns::settings_with(&base, &fake).map_err(|e| e.to_string()))
                    .and_then(|text| {
                        std::fs::write(&output, text).map_err(|e| format!("cannot write {}: {e}", output.display()))
                    });
                if let Err(err) = written {
                    return fail(program, &err);
                }
            }
            println!("fake APNs on {}, log {}", fake.url, fake.log_file.display());
            if let Some(path) = port_file {
                if let Err(err) = std::fs::write(&path, fake.addr.port().to_string()) {
                    return fail(program, &format!("cannot write {}: {err}", path.display()));
                }
            }
            wait_for_signal().await;
            drop(fake);
            ExitCode::SUCCESS
        }
        Command::Serve { bind, template, static_dir, port_file, retry_delay, no_consumers } => {
            let state = match bootstrap().await {
                Ok(state) => state,
                Err(err) => return fail(program, &err),
            };
            if let Err(err) = rhosync_server::http::admin::ensure_admin(&state).await {
                return fail(program, &err);
            }
            let consumers = (!no_consumers)
                .then(|| ConsumerOptions { retry_delay_secs: retry_delay, ..ConsumerOptions::default() });
            let options = RunnerOptions { bind, template, static_dir, consumers };
            let runner = match rhosync_local::start(state, options).await {
                Ok(runner) => runner,
                Err(err) => return fail(program, &err),
            };
            println!("listening on {}", runner.base_url());
            if let Some(path) = port_file {
                if let Err(err) = std::fs::write(&path, runner.addr.port().to_string()) {
                    return fail(program, &format!("cannot write {}: {err}", path.display()));
                }
            }
            wait_for_signal().await;
            runner.shutdown().await;
            ExitCode::SUCCESS
        }
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
