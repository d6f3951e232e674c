//! `kandy`: the kandy-rs command line.
//!
//! * `kandy serve` runs the gateway emulator (REST + WebSocket) until Ctrl-C;
//! * `kandy demo` starts the emulator in-process and walks two users through
//!   a session, step by step;
//! * `kandy connect` connects to any Kandy Link gateway and prints what
//!   happens;
//! * `kandy replay FILE` re-runs a recorded session and reports the first
//!   effect that differs.

mod connect;
mod demo;
mod replay;
mod report;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// kandy-rs: a Kandy Link (SPiDR) client and gateway emulator.
#[derive(Debug, Parser)]
#[command(name = "kandy", version, about)]
struct Cli {
    /// Log filter for diagnostics on stderr (tracing syntax, e.g. `debug`
    /// or `kandy_core=debug`). Defaults to `RUST_LOG`, else warnings only.
    #[arg(long, global = true)]
    log: Option<String>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the gateway emulator until Ctrl-C.
    Serve(serve::Args),
    /// Start the emulator in-process and show a session of two users.
    Demo(demo::Args),
    /// Connect to a gateway as one user and print what happens.
    Connect(connect::Args),
    /// Replay a recorded session; exit 1 on the first differing effect.
    Replay(replay::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = cli
        .log
        .clone()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "warn".to_owned());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Cmd::Serve(args) => serve::run(args),
        Cmd::Demo(args) => demo::run(args),
        Cmd::Connect(args) => connect::run(args),
        // Its own exit codes: 0 match, 1 divergence, 2 unreadable file.
        Cmd::Replay(args) => {
            return replay::run(args).unwrap_or_else(|e| {
                eprintln!("kandy replay: {e}");
                ExitCode::from(2)
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kandy: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A seed for the gateway's id generator from the OS, so channel paths and
/// tokens are unguessable.
pub(crate) fn os_seed() -> Result<[u8; 32], String> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|e| format!("no OS randomness: {e}"))?;
    Ok(seed)
}
