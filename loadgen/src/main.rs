//! `loadgen`: a load generator for MQTT brokers speaking ws, wss, tcp or tls, signing in
//! with Aliyun IoT credentials (which other brokers simply accept).
//!
//! A run has up to three phases, each bounded in time: **connect** (N connections, at most
//! `--in-flight` handshakes at once, each stage timed: TCP, TLS, WebSocket upgrade, MQTT
//! CONNECT→CONNACK), **hold** (the connections idle, each sending PINGREQ at its keepalive)
//! and **publish** (QoS 0 or 1 on each device's own topic, as fast as possible or at a rate).
//! It prints one JSON object on stdout, and on stderr a line `loadgen: phase NAME` as each
//! phase starts and ends, so that an orchestrator can sample the broker over each.
//!
//! `loadgen registry N FILE` writes a registry of the N generated devices for the mock
//! broker's `--registry`.

mod connection;
mod dial;
mod identity;
mod link;
mod mqtt;
mod publish;
mod run;
mod stats;
mod target;
mod ws;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(version, about = "Load generator for MQTT brokers (ws, wss, tcp, tls) with Aliyun IoT credentials")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Connect, hold and publish; the result as JSON on stdout.
    Run(Box<run::Args>),
    /// Write a registry TOML (the mock broker's --registry) of N generated devices.
    Registry { count: usize, out: PathBuf },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Registry { count, out } => identity::write_registry(&out, count),
        Command::Run(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|runtime| runtime.block_on(run::run(*args))),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("loadgen: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}
