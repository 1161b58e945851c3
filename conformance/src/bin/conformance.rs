//! The `conformance` command; everything is in `conformance::cli`.

use clap::Parser;

fn main() {
    std::process::exit(conformance::cli::run(conformance::cli::Args::parse()));
}
