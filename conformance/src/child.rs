//! The client under test as a child process: spawn it with a case's environment, keep the
//! tails of its output, stop it.
//!
//! - The child runs in its own process group, so a client started through a shell script is
//!   stopped together with what the script started.
//! - Stopping sends SIGTERM to the group, then SIGKILL once the grace period has passed.
//! - stdout and stderr are each kept as a bounded tail ([`TAIL_LINES`] lines, [`TAIL_BYTES`]
//!   bytes). The device secret is replaced by `***` in every line as it arrives and in the
//!   command line, before anything is stored.
//! - Dropping a [`Client`] that was not stopped kills its process group.

use crate::contract::{CaseEnv, ContractError};
use crate::outcome::ClientRun;
/// `text` with the secret blanked, by the broker's rule ([`mock_broker::redact`]).
pub use mock_broker::redact::redact_secret as redact;
use mock_broker::redact::redact_secret_bytes as redact_bytes;
use std::collections::VecDeque;
use std::fmt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// Lines kept of each of stdout and stderr.
pub const TAIL_LINES: usize = 64;
/// Bytes kept of each of stdout and stderr.
pub const TAIL_BYTES: usize = 16 * 1024;
/// What replaces the device secret wherever the client's output or command line shows it.
pub use mock_broker::redact::REDACTED;
/// How long to wait for the output pipes to close after the client has exited (a grandchild
/// outside the process group may hold them open).
const PIPE_DRAIN: Duration = Duration::from_secs(1);

/// The client to run: a program and its arguments, placeholders unexpanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl fmt::Display for ClientCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words = std::iter::once(self.program.display().to_string()).chain(self.args.iter().cloned());
        f.write_str(&words.map(|w| shell_quote(&w)).collect::<Vec<_>>().join(" "))
    }
}

/// Quotes a word for a readable command line when it holds anything but plain characters.
fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,{}".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Why the client could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error(transparent)]
    Contract(#[from] ContractError),
    #[error("starting the client {program}: {source}")]
    Io { program: String, source: std::io::Error },
}

/// The last lines of one output stream, redacted as they arrive.
#[derive(Debug)]
struct Tail {
    secret: Vec<u8>,
    lines: VecDeque<String>,
    bytes: usize,
    omitted: usize,
    /// The current line, not yet ended by a newline.
    partial: Vec<u8>,
}

impl Tail {
    fn new(secret: &str) -> Tail {
        Tail { secret: secret.as_bytes().to_vec(), lines: VecDeque::new(), bytes: 0, omitted: 0, partial: Vec::new() }
    }

    fn push(&mut self, chunk: &[u8]) {
        self.partial.extend_from_slice(chunk);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            self.push_line(&line[..end]);
        }
        if self.partial.len() > TAIL_BYTES {
            // A line longer than the whole tail: keep its end. Redact first, and hold back
            // what could be the start of a secret completed by the next chunk.
            let redacted = redact_bytes(&self.partial, &self.secret);
            let hold = self.secret.len().saturating_sub(1).min(redacted.len());
            let (line, rest) = redacted.split_at(redacted.len() - hold);
            self.push_line(line);
            self.partial = rest.to_vec();
        }
    }

    /// Ends the stream: the unfinished line counts as a line.
    fn finish(&mut self) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.push_line(&line);
        }
    }

    fn push_line(&mut self, line: &[u8]) {
        let line = redact_bytes(line.strip_suffix(b"\r").unwrap_or(line), &self.secret);
        let mut line = String::from_utf8_lossy(&line).into_owned();
        if line.len() > TAIL_BYTES {
            let mut cut = line.len() - TAIL_BYTES;
            while !line.is_char_boundary(cut) {
                cut += 1;
            }
            line.replace_range(..cut, "");
        }
        self.bytes += line.len() + 1;
        self.lines.push_back(line);
        while self.lines.len() > TAIL_LINES || self.bytes > TAIL_BYTES {
            let dropped = self.lines.pop_front().expect("over the limit means not empty");
            self.bytes -= dropped.len() + 1;
            self.omitted += 1;
        }
    }

    fn render(&self) -> String {
        let mut text = String::new();
        if self.omitted > 0 {
            text.push_str(&format!("[{} earlier lines omitted]\n", self.omitted));
        }
        for line in &self.lines {
            text.push_str(line);
            text.push('\n');
        }
        text
    }
}

type SharedTail = Arc<Mutex<Tail>>;

/// Copies a pipe into a tail until it closes.
fn collect(mut pipe: impl AsyncRead + Unpin + Send + 'static, tail: SharedTail) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 8192];
        while let Ok(n @ 1..) = pipe.read(&mut buf).await {
            tail.lock().expect("tail lock").push(&buf[..n]);
        }
        tail.lock().expect("tail lock").finish();
    })
}

/// A running client.
pub struct Client {
    child: Child,
    /// Also the process group ID.
    pid: i32,
    command: String,
    stdout: SharedTail,
    stderr: SharedTail,
    readers: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
    stopped: bool,
}

/// How a client ended.
#[derive(Clone, Debug)]
pub struct Stopped {
    pub run: ClientRun,
    /// True when SIGTERM was not enough and the suite sent SIGKILL.
    pub killed: bool,
}

/// Starts the client with the case's environment, placeholders in its arguments expanded.
pub fn spawn(command: &ClientCommand, env: &CaseEnv) -> Result<Client, SpawnError> {
    let args = command.args.iter().map(|a| env.expand(a)).collect::<Result<Vec<_>, _>>()?;
    let secret = env.identity.secret.expose();
    let shown = ClientCommand { program: command.program.clone(), args };
    let mut cmd = Command::new(&shown.program);
    cmd.args(&shown.args)
        .envs(env.vars())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if env.ca_file.is_none() {
        cmd.env_remove("IOT_CA_FILE");
    }
    let mut child =
        cmd.spawn().map_err(|source| SpawnError::Io { program: command.program.display().to_string(), source })?;
    let pid = child.id().and_then(|id| i32::try_from(id).ok()).unwrap_or(0);
    let stdout = Arc::new(Mutex::new(Tail::new(secret)));
    let stderr = Arc::new(Mutex::new(Tail::new(secret)));
    let mut readers = Vec::new();
    if let Some(pipe) = child.stdout.take() {
        readers.push(collect(pipe, stdout.clone()));
    }
    if let Some(pipe) = child.stderr.take() {
        readers.push(collect(pipe, stderr.clone()));
    }
    let command = redact(&shown.to_string(), secret);
    Ok(Client { child, pid, command, stdout, stderr, readers, status: None, stopped: false })
}

/// Sends `signal` to the client's process group.
fn signal_group(pgid: i32, signal: libc::c_int) {
    if pgid > 0 {
        // SAFETY: kill(2) with a negative pid signals the process group we created for the
        // child; it touches no memory of ours.
        unsafe {
            libc::kill(-pgid, signal);
        }
    }
}

impl Client {
    /// The command line, placeholders expanded, the secret replaced by `***`.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// Waits until the client exits. Cancel-safe: it can be a branch of a `select!`.
    pub async fn wait(&mut self) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        let status = match self.child.wait().await {
            Ok(status) => status,
            // Waiting on our own child cannot fail short of a kernel error; report a kill.
            Err(_) => std::os::unix::process::ExitStatusExt::from_raw(libc::SIGKILL),
        };
        self.status = Some(status);
        status
    }

    /// The last lines of stderr so far, or of stdout when stderr is empty: the first place to
    /// look when a client gives up.
    pub fn last_words(&self) -> Option<String> {
        [&self.stderr, &self.stdout].into_iter().find_map(|tail| {
            let tail = tail.lock().expect("tail lock");
            tail.lines.iter().rev().find(|l| !l.trim().is_empty()).cloned()
        })
    }

    /// Stops the client if it still runs (SIGTERM, then SIGKILL after `grace`), and returns
    /// how it ended with its output tails.
    pub async fn stop(mut self, grace: Duration) -> Stopped {
        let (mut stopped_by_suite, mut killed) = (false, false);
        let status = match self.status.or_else(|| self.child.try_wait().ok().flatten()) {
            Some(status) => status,
            None => {
                stopped_by_suite = true;
                signal_group(self.pid, libc::SIGTERM);
                match tokio::time::timeout(grace, self.wait()).await {
                    Ok(status) => status,
                    Err(_) => {
                        killed = true;
                        signal_group(self.pid, libc::SIGKILL);
                        self.wait().await
                    }
                }
            }
        };
        // Whatever the client left running in its group goes with it.
        signal_group(self.pid, libc::SIGKILL);
        self.stopped = true;
        for reader in std::mem::take(&mut self.readers) {
            let abort = reader.abort_handle();
            if tokio::time::timeout(PIPE_DRAIN, reader).await.is_err() {
                abort.abort();
            }
        }
        let run = ClientRun {
            command: self.command.clone(),
            exit_code: status.code(),
            stopped_by_suite,
            stdout_tail: self.stdout.lock().expect("tail lock").render(),
            stderr_tail: self.stderr.lock().expect("tail lock").render(),
        };
        Stopped { run, killed }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if !self.stopped && self.status.is_none() {
            signal_group(self.pid, libc::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Identity;
    use mock_broker::Transport;
    use mock_broker::auth::SignMethod;
    use std::time::Instant;

    fn env() -> CaseEnv {
        CaseEnv {
            url: "tcp://127.0.0.1:1".into(),
            transport: Transport::Tcp,
            identity: Identity::generate(3),
            sign_method: SignMethod::HmacSha1,
            keepalive: 30,
            ca_file: None,
            stay_seconds: 5,
        }
    }

    fn sh(script: &str) -> ClientCommand {
        ClientCommand { program: "sh".into(), args: vec!["-c".into(), script.into()] }
    }

    #[tokio::test]
    async fn a_client_that_exits_on_sigterm_is_not_killed() {
        let client = spawn(&sh("exec sleep 30"), &env()).unwrap();
        let started = Instant::now();
        let stopped = client.stop(Duration::from_secs(5)).await;
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        assert!(!stopped.killed);
        assert!(stopped.run.stopped_by_suite);
        assert_eq!(stopped.run.exit_code, None, "a signal ended it");
    }

    #[tokio::test]
    async fn a_client_that_ignores_sigterm_is_killed_after_the_grace_period() {
        let client = spawn(&sh("trap '' TERM; echo ready; sleep 30"), &env()).unwrap();
        // Let the shell install its trap before stopping it.
        tokio::time::timeout(Duration::from_secs(5), async {
            while !client.stdout.lock().unwrap().lines.iter().any(|l| l == "ready") {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap();
        let started = Instant::now();
        let stopped = client.stop(Duration::from_millis(600)).await;
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(600) && took < Duration::from_secs(3), "{took:?}");
        assert!(stopped.killed && stopped.run.stopped_by_suite);
        assert_eq!(stopped.run.exit_code, None);
    }

    #[tokio::test]
    async fn exit_status_and_tails_are_kept_with_the_secret_redacted() {
        let env = env();
        let secret = env.identity.secret.expose().to_owned();
        let command = ClientCommand {
            program: "sh".into(),
            args: vec![
                "-c".into(),
                r#"echo "connecting as $IOT_DEVICE_NAME"; echo "secret=$IOT_DEVICE_SECRET arg=$1" >&2; exit 3"#.into(),
                "client".into(),
                "{device_secret}".into(),
            ],
        };
        let mut client = spawn(&command, &env).unwrap();
        assert_eq!(client.wait().await.code(), Some(3));
        let stopped = client.stop(Duration::from_secs(1)).await;
        let run = stopped.run;
        assert_eq!(run.exit_code, Some(3));
        assert!(!run.stopped_by_suite && !stopped.killed);
        assert_eq!(run.stdout_tail, format!("connecting as {}\n", env.identity.device_name));
        assert_eq!(run.stderr_tail, "secret=*** arg=***\n");
        assert!(run.command.ends_with("client '***'") || run.command.ends_with("client ***"), "{}", run.command);
        assert!(!format!("{run:?}").contains(&secret));
    }

    #[tokio::test]
    async fn a_missing_program_is_a_spawn_error_naming_it() {
        let command = ClientCommand { program: "/nonexistent/client".into(), args: vec![] };
        let err = spawn(&command, &env()).err().unwrap();
        assert!(err.to_string().contains("/nonexistent/client"), "{err}");
    }

    #[test]
    fn tails_keep_the_last_lines_and_bytes() {
        let mut tail = Tail::new("s3cr3t");
        for i in 0..100 {
            tail.push(format!("line {i}\n").as_bytes());
        }
        assert_eq!(tail.lines.len(), TAIL_LINES);
        assert_eq!(tail.lines.back().unwrap(), "line 99");
        assert!(tail.render().starts_with("[36 earlier lines omitted]\nline 36\n"), "{}", tail.render());

        let mut tail = Tail::new("s3cr3t");
        tail.push(&vec![b'x'; 3 * TAIL_BYTES]);
        tail.push(b"\nend\r\n");
        assert!(tail.bytes <= TAIL_BYTES, "{}", tail.bytes);
        assert_eq!(tail.lines.back().unwrap(), "end");
    }

    #[test]
    fn a_secret_split_across_chunks_or_lines_is_still_redacted() {
        let secret = "AbCdEfGh0123456789";
        let mut tail = Tail::new(secret);
        tail.push(b"pw=AbCdEfGh01");
        tail.push(b"23456789 and again AbCdEfGh0123456789\nno newline at the end: AbCdEf");
        tail.push(b"Gh0123456789");
        tail.finish();
        assert_eq!(tail.render(), "pw=*** and again ***\nno newline at the end: ***\n");

        // A line longer than the tail, with the secret straddling where it is cut.
        let mut tail = Tail::new(secret);
        let mut long = vec![b'x'; TAIL_BYTES - 4];
        long.extend_from_slice(secret.as_bytes());
        tail.push(&long);
        tail.push(b" end\n");
        let shown = tail.render();
        assert!(!shown.contains("AbCd") && !shown.contains("6789"), "{}", &shown[shown.len() - 40..]);
        assert!(shown.ends_with("***\n") || shown.ends_with("*** end\n"), "{}", &shown[shown.len() - 40..]);
    }

    #[test]
    fn command_lines_quote_words_with_spaces() {
        let command =
            ClientCommand { program: "/bin/client".into(), args: vec!["--url".into(), "{url}".into(), "a b".into()] };
        assert_eq!(command.to_string(), "/bin/client --url {url} 'a b'");
        assert_eq!(redact("key=abc;abc", "abc"), "key=***;***");
        assert_eq!(redact("unchanged", ""), "unchanged");
    }
}
