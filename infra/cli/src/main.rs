//! `rhosync-admin` entry point: parse, run, print the server's answer (or its refusal on
//! stderr with a non-zero exit status).

use std::process::ExitCode;

use clap::Parser;
use rhosync_admin::{run, Cli};

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(out) => {
            if !out.is_empty() {
                println!("{out}");
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("rhosync-admin: {err}");
            ExitCode::FAILURE
        }
    }
}
