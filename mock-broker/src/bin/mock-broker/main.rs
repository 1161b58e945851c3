//! The `mock-broker` binary: the command line ([`cli`]) over the `mock_broker` library, kept
//! out of the library's API. It installs the log subscriber: `tracing` lines (accept
//! failures, say) go to stderr, filtered by `RUST_LOG` (default `warn`).

mod cli;

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let args = cli::Args::parse();
    match cli::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mock-broker: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
