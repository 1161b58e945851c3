//! The `mock-broker` binary: a thin shell over [`mock_broker::cli`].

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = mock_broker::cli::Args::parse();
    match mock_broker::cli::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mock-broker: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
