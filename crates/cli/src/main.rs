//! `govstream`: timeliness metrics for government services, from upstream events.
//!
//! The binary is a thin edge around the pure libraries. The file commands (`normalize`,
//! `replay`, `generate`) need only them and `govstream-harness`; the Kafka commands (`run`,
//! `demo`, `inspect`) come with the default feature `kafka`, which links librdkafka:
//! `cargo build -p govstream-cli --no-default-features` builds a file-only binary.

mod calendar_opts;
#[cfg(feature = "kafka")]
mod demo_cmd;
mod generate_cmd;
mod input;
#[cfg(feature = "kafka")]
mod inspect_cmd;
mod normalize_cmd;
mod progress;
mod replay_cmd;
mod report_cmd;
#[cfg(feature = "kafka")]
mod run_cmd;
mod sources;
#[cfg(feature = "kafka")]
mod status;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// govstream — how timely are public services, minute by minute.
///
/// Normalizes events of the 12345 hotline, the one-network service platform and departments'
/// own systems into canonical protobuf events, follows every case through its lifecycle and
/// aggregates timeliness metrics (at-most-one-trip rate, on-time completion in working days,
/// overdue cases, hotline sign-for and closure timeliness, satisfaction).
#[derive(Parser)]
#[command(name = "govstream", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More log lines on standard error (`-v`: `demo` shows the pipeline's info lines, `-vv`:
    /// debug). $GOVSTREAM_LOG (e.g. `info`, `govstream=debug`) overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Subcommand)]
enum Command {
    Normalize(normalize_cmd::Args),
    Replay(replay_cmd::Args),
    Report(report_cmd::Args),
    Generate(generate_cmd::Args),
    #[cfg(feature = "kafka")]
    Run(run_cmd::Args),
    #[cfg(feature = "kafka")]
    Demo(demo_cmd::Args),
    #[cfg(feature = "kafka")]
    Inspect(inspect_cmd::Args),
}

/// The async runtime of the Kafka commands: two workers, like the machines it runs on.
#[cfg(feature = "kafka")]
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo's screen is its status line and warnings; other commands say what they do.
    #[cfg(feature = "kafka")]
    let quiet = matches!(cli.command, Command::Demo(_));
    #[cfg(not(feature = "kafka"))]
    let quiet = false;
    let level = match (quiet, cli.verbose) {
        (true, 0) => "warn",
        (_, 0) | (true, 1) => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GOVSTREAM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_target(false)
        .init();
    let result = match cli.command {
        Command::Normalize(a) => normalize_cmd::run(a),
        Command::Replay(a) => replay_cmd::run(a),
        Command::Report(a) => report_cmd::run(a),
        Command::Generate(a) => generate_cmd::run(a),
        #[cfg(feature = "kafka")]
        Command::Run(a) => run_cmd::run(a),
        #[cfg(feature = "kafka")]
        Command::Demo(a) => demo_cmd::run(a),
        #[cfg(feature = "kafka")]
        Command::Inspect(a) => inspect_cmd::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
