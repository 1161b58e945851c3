//! Where the CLI's events go: readable lines or JSON lines on stdout (on stderr with
//! `--print-env`, whose exports own stdout), JSON lines into a file.
//!
//! The sink runs in its own task so that formatting never slows a connection; if it falls
//! behind, it says how many events it lost.

use super::Args;
use crate::events::{EventStream, StreamError};
use crate::render;
use anyhow::Context;
use std::fs::File;
use std::io::{BufWriter, Write};
use tokio::task::JoinHandle;

/// The running sink task.
pub struct Sinks {
    task: JoinHandle<()>,
}

impl Sinks {
    /// Waits until every event of the shut-down broker is written.
    pub async fn finish(self) {
        let _ = self.task.await;
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stdout {
    Off,
    Lines,
    Json,
}

/// Starts writing events as the flags ask.
pub fn start(mut events: EventStream, args: &Args) -> anyhow::Result<Sinks> {
    let mut file = match &args.events {
        Some(path) => Some(BufWriter::new(File::create(path).with_context(|| format!("creating {}", path.display()))?)),
        None => None,
    };
    let mut stdout = match (args.quiet, args.json) {
        (true, _) => Stdout::Off,
        (false, true) => Stdout::Json,
        (false, false) => Stdout::Lines,
    };
    // With --print-env, stdout carries the shell exports alone, so it can be sourced.
    let to_stderr = args.print_env.is_some();
    let task = tokio::spawn(async move {
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                Err(StreamError::Lagged(n)) => {
                    eprintln!("mock-broker: the event printer fell behind; {n} events were not printed");
                    continue;
                }
                Err(StreamError::Closed) => break,
            };
            let json = || serde_json::to_string(&*event).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
            let line = match stdout {
                Stdout::Off => None,
                Stdout::Lines => Some(render::line(&event)),
                Stdout::Json => Some(json()),
            };
            let printed = match (line, to_stderr) {
                (None, _) => Ok(()),
                (Some(line), false) => writeln!(std::io::stdout(), "{line}"),
                (Some(line), true) => writeln!(std::io::stderr(), "{line}"),
            };
            if printed.is_err() {
                // stdout is gone (a closed pipe): keep serving, stop printing.
                stdout = Stdout::Off;
            }
            if let Some(writer) = file.as_mut()
                && writeln!(writer, "{}", json()).and_then(|()| writer.flush()).is_err()
            {
                eprintln!("mock-broker: writing the events file failed; no more events are written to it");
                file = None;
            }
        }
    });
    Ok(Sinks { task })
}
