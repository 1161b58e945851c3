//! Starting a fresh broker pinned to core 0 (`taskset -c 0`): the kit's mock broker, its
//! ports read from its ready file, or mosquitto, on free ports with a config written here.
//! Each is stopped (SIGKILL, then reaped) when its `Running` is dropped.

use super::certs::Certs;
use anyhow::{Context, bail};
use std::fmt::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Kit,
    Mosquitto,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Kit => "kit",
            Kind::Mosquitto => "mosquitto",
        }
    }
}

/// A running broker.
pub struct Running {
    child: Child,
    pub pid: u32,
    pub ws: String,
    pub wss: String,
    /// The kit's control endpoint, when started with it.
    pub control: Option<String>,
    pub stderr: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How the kit's broker is started for one scenario.
pub struct KitOptions<'a> {
    pub registry: &'a Path,
    /// `--max-connections`, when the scenario needs more than the default.
    pub max_connections: Option<usize>,
    pub control: bool,
    /// Run under `prlimit --nofile=N:N`.
    pub nofile: Option<usize>,
}

/// The mock broker's flags every scenario gets: uplinks unthrottled (S-RATE would cap ingest
/// at 30 msg/s per device), the bench certificate, no output but the ready file.
pub fn kit_args(options: &KitOptions<'_>, certs: &Certs, ready: &Path) -> Vec<String> {
    let mut args: Vec<String> =
        ["--quiet", "--rate-limit", "4294967295", "--transport", "ws", "--transport", "wss"].map(String::from).to_vec();
    for (flag, path) in
        [("--registry", options.registry), ("--cert", &certs.cert), ("--key", &certs.key), ("--ca", &certs.ca)]
    {
        args.extend([flag.to_string(), path.display().to_string()]);
    }
    args.extend(["--ready-file".to_string(), ready.display().to_string()]);
    if let Some(max) = options.max_connections {
        args.extend(["--max-connections".to_string(), max.to_string()]);
    }
    if options.control {
        args.push("--control".into());
    }
    args
}

pub fn start_kit(bin: &Path, options: &KitOptions<'_>, certs: &Certs, dir: &Path) -> anyhow::Result<Running> {
    let ready = dir.join("ready.json");
    let _ = std::fs::remove_file(&ready);
    let stderr = dir.join("kit.stderr");
    let mut command = Command::new("taskset");
    command.args(["-c", "0"]);
    if let Some(n) = options.nofile {
        command.arg("prlimit").arg(format!("--nofile={n}:{n}"));
    }
    command.arg(bin).args(kit_args(options, certs, &ready));
    let child = spawn(command, &stderr)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        if let Ok(text) = std::fs::read_to_string(&ready)
            && let Ok(json) = serde_json::from_str::<serde_json::Value>(&text)
        {
            break json;
        }
        if Instant::now() > deadline {
            bail!("the mock broker wrote no ready file within 30 s: {}", tail(&stderr));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let url = |key: &str| text[key].as_str().map(String::from).with_context(|| format!("ready file without {key}"));
    Ok(Running {
        pid: child.id(),
        child,
        ws: url("ws")?,
        wss: url("wss")?,
        control: text["control"].as_str().map(String::from),
        stderr,
    })
}

/// mosquitto 2.0's config: the plain listener it needs beside websockets listeners to start,
/// ws and wss on IPv4 (libwebsockets would also try IPv6), the bench certificate, anonymous
/// access, no connection limit and no in-flight or queue limits for ingest.
pub fn mosquitto_config(ports: [u16; 3], certs: &Certs) -> String {
    let [plain, ws, wss] = ports;
    let mut conf = String::from(
        "# Written by cargo xtask bench.\nper_listener_settings false\nallow_anonymous true\n\
         max_inflight_messages 0\nmax_queued_messages 0\npersistence false\nlog_dest stderr\nlog_type error\n",
    );
    let _ = write!(conf, "\nlistener {plain} 127.0.0.1\nmax_connections -1\n");
    let _ = write!(conf, "\nlistener {ws} 127.0.0.1\nprotocol websockets\nsocket_domain ipv4\nmax_connections -1\n");
    let _ = write!(
        conf,
        "\nlistener {wss} 127.0.0.1\nprotocol websockets\nsocket_domain ipv4\nmax_connections -1\n\
         cafile {}\ncertfile {}\nkeyfile {}\n",
        certs.ca.display(),
        certs.cert.display(),
        certs.key.display()
    );
    conf
}

/// mosquitto on PATH or in /usr/sbin (Debian's package puts it there, off a user's PATH).
pub fn find_mosquitto() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("mosquitto")).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path.into_iter().chain([PathBuf::from("/usr/sbin/mosquitto")]).find(|p| p.is_file())
}

pub fn start_mosquitto(bin: &Path, certs: &Certs, dir: &Path) -> anyhow::Result<Running> {
    let ports = [free_port()?, free_port()?, free_port()?];
    let conf = dir.join("mosquitto.conf");
    std::fs::write(&conf, mosquitto_config(ports, certs)).with_context(|| format!("writing {}", conf.display()))?;
    let stderr = dir.join("mosquitto.stderr");
    let mut command = Command::new("taskset");
    command.args(["-c", "0"]).arg(bin).arg("-c").arg(&conf);
    let mut child = spawn(command, &stderr)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while ports.iter().any(|p| TcpStream::connect(("127.0.0.1", *p)).is_err()) {
        if let Ok(Some(status)) = child.try_wait() {
            bail!("mosquitto exited ({status}): {}", tail(&stderr));
        }
        if Instant::now() > deadline {
            bail!("mosquitto did not listen on {ports:?} within 10 s: {}", tail(&stderr));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Running {
        pid: child.id(),
        child,
        ws: format!("ws://127.0.0.1:{}/mqtt", ports[1]),
        wss: format!("wss://localhost:{}/mqtt", ports[2]),
        control: None,
        stderr,
    })
}

fn spawn(mut command: Command, stderr: &Path) -> anyhow::Result<Child> {
    let file = std::fs::File::create(stderr).with_context(|| format!("creating {}", stderr.display()))?;
    command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(file);
    command.spawn().with_context(|| format!("starting {command:?} (is taskset installed?)"))
}

/// A port free now (the kernel's pick; released for the broker to bind).
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The last lines of a broker's stderr, for an error.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
    if tail.is_empty() { "no output".into() } else { format!("its stderr: {tail}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certs() -> Certs {
        Certs { ca: "/c/ca.pem".into(), cert: "/c/cert.pem".into(), key: "/c/key.pem".into() }
    }

    #[test]
    fn mosquitto_gets_a_plain_listener_and_ipv4_websockets() {
        let conf = mosquitto_config([1883, 8080, 8443], &certs());
        let listeners: Vec<&str> = conf.lines().filter(|l| l.starts_with("listener ")).collect();
        assert_eq!(listeners, ["listener 1883 127.0.0.1", "listener 8080 127.0.0.1", "listener 8443 127.0.0.1"]);
        let wss = &conf[conf.find("listener 8443").unwrap()..];
        for line in ["protocol websockets", "socket_domain ipv4", "certfile /c/cert.pem", "keyfile /c/key.pem"] {
            assert!(wss.contains(line), "{line} missing from {wss}");
        }
        let plain = &conf[conf.find("listener 1883").unwrap()..conf.find("listener 8080").unwrap()];
        assert!(!plain.contains("protocol"), "{plain}");
        assert_eq!(conf.matches("socket_domain ipv4").count(), 2);
        for line in ["allow_anonymous true", "max_connections -1", "max_inflight_messages 0", "max_queued_messages 0"] {
            assert!(conf.contains(line), "{line} missing");
        }
    }

    #[test]
    fn the_kit_is_unthrottled_and_gets_the_scenario_limits() {
        let options =
            KitOptions { registry: Path::new("r.toml"), max_connections: Some(20000), control: true, nofile: None };
        let args = kit_args(&options, &certs(), Path::new("ready.json")).join(" ");
        for flag in
            ["--rate-limit 4294967295", "--cert /c/cert.pem", "--max-connections 20000", "--control", "--ready-file"]
        {
            assert!(args.contains(flag), "{flag} missing from {args}");
        }
        let plain = KitOptions { max_connections: None, control: false, ..options };
        let args = kit_args(&plain, &certs(), Path::new("ready.json")).join(" ");
        assert!(!args.contains("--max-connections") && !args.contains("--control"), "{args}");
    }
}
