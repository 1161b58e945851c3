//! Where the CLI's events go: readable lines or JSON lines on stdout (on stderr with
//! `--print-env`, whose exports own stdout), JSON lines into a file.
//!
//! The sink runs on a thread of its own, so that formatting and writing never hold up a
//! runtime worker that serves connections. It takes the events in batches and writes each
//! batch through one buffer, flushed once the batch is out. If it falls behind the history,
//! it says how many events it lost. With nothing to write, no sink runs.

use super::Args;
use anyhow::Context;
use mock_broker::events::{Event, EventStream, StreamError};
use mock_broker::render;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::thread::JoinHandle;

/// The most events one batch takes.
const BATCH: usize = 4096;

/// The running sink thread, if any.
pub struct Sinks {
    thread: Option<JoinHandle<()>>,
}

impl Sinks {
    /// Waits until every event of the shut-down broker is written.
    pub async fn finish(self) {
        if let Some(thread) = self.thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stdout {
    Off,
    Lines,
    Json,
}

/// Where the events are written.
struct Writers {
    stdout: Stdout,
    /// With --print-env, stdout carries the shell exports alone, so it can be sourced.
    to_stderr: bool,
    file: Option<BufWriter<File>>,
}

impl Writers {
    /// Writes one batch and flushes it.
    fn write(&mut self, batch: &[Arc<Event>]) {
        let json = |event: &Event| serde_json::to_string(event).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        if self.stdout != Stdout::Off {
            let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
            let mut out: BufWriter<Box<dyn Write>> =
                BufWriter::new(if self.to_stderr { Box::new(stderr.lock()) } else { Box::new(stdout.lock()) });
            let printed = batch.iter().try_for_each(|event| match self.stdout {
                Stdout::Json => writeln!(out, "{}", json(event)),
                _ => writeln!(out, "{}", render::line(event)),
            });
            if printed.and_then(|()| out.flush()).is_err() {
                // stdout is gone (a closed pipe): keep serving, stop printing.
                self.stdout = Stdout::Off;
            }
        }
        if let Some(file) = self.file.as_mut()
            && batch.iter().try_for_each(|event| writeln!(file, "{}", json(event))).and_then(|()| file.flush()).is_err()
        {
            eprintln!("mock-broker: writing the events file failed; no more events are written to it");
            self.file = None;
        }
    }
}

/// Starts writing events as the flags ask.
pub fn start(mut events: EventStream, args: &Args) -> anyhow::Result<Sinks> {
    let file = match &args.events {
        Some(path) => Some(BufWriter::new(File::create(path).with_context(|| format!("creating {}", path.display()))?)),
        None => None,
    };
    let stdout = match (args.quiet, args.json) {
        (true, _) => Stdout::Off,
        (false, true) => Stdout::Json,
        (false, false) => Stdout::Lines,
    };
    if stdout == Stdout::Off && file.is_none() {
        return Ok(Sinks { thread: None });
    }
    let mut writers = Writers { stdout, to_stderr: args.print_env.is_some(), file };
    let runtime = tokio::runtime::Handle::current();
    let thread = std::thread::Builder::new()
        .name("event-sink".into())
        .spawn(move || {
            runtime.block_on(async move {
                let mut batch = Vec::with_capacity(BATCH);
                loop {
                    batch.clear();
                    match events.recv_many(&mut batch, BATCH).await {
                        Ok(_) => writers.write(&batch),
                        Err(StreamError::Lagged(n)) => {
                            eprintln!("mock-broker: the event printer fell behind; {n} events were not printed");
                        }
                        Err(StreamError::Closed) => break,
                    }
                }
            })
        })
        .context("starting the event sink thread")?;
    Ok(Sinks { thread: Some(thread) })
}
