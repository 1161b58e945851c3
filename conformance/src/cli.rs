//! The `conformance` command: `cargo xtask conformance [CLIENT] [FLAGS] [-- CLIENT ARGS]`.
//!
//! `CLIENT` is a path to an executable, or the name of a fixture client (`reference` or one
//! of its mutants, run as `FIXTURE_BIN --mode NAME`; `--fixture-bin` says where that binary
//! is, and `cargo xtask conformance` builds and passes it). Without `CLIENT`, the reference
//! fixture runs. Arguments after `--` go to the client, placeholders (`{url}`...) expanded.
//! Several clients run one after the other, each with its own summary (and, with `--out DIR`,
//! its own `DIR/<client>/` reports), then a matrix of rules against clients (`matrix.json`).
//!
//! Exit codes (the worst over the clients): 0 when no case reached `--fail-on` (default
//! `fail`); 1 when one did; 2 when the kit failed on some case, or on bad usage; 130 when
//! SIGINT or SIGTERM stopped the run (the clients are stopped too: they run in process groups
//! of their own, out of reach of the terminal's Ctrl-C).

use crate::cases::Timing;
use crate::cases::sign_property::{self, SignProperty};
use crate::catalogue;
use crate::child::ClientCommand;
use crate::contract::{CaseEnv, Identity};
use crate::model::RunReport;
use crate::profile::{ClientProfile, parse_sign_method};
use crate::report::{self, FailOn, console};
use crate::runner::{self, Progress, RunConfig, SuiteProfile};
use crate::snapshot;
use clap::Parser;
use mock_broker::Transport;
use mock_broker::auth::SignMethod;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The fixture that runs when no client is named.
pub const REFERENCE: &str = "reference";

/// Runs the conformance suite against a device client.
#[derive(Parser, Debug)]
#[command(name = "conformance", version)]
pub struct Args {
    /// The client: a path to an executable, or a fixture name (`reference` or a mutant, see
    /// --fixture-bin). Default: the reference fixture. Several clients run one after the
    /// other and are compared in a matrix of rules against clients.
    #[arg(value_name = "CLIENT")]
    pub clients: Vec<String>,

    /// Arguments for the client (after `--`); placeholders such as {url}, {product_key},
    /// {device_secret}, {ca_file} are expanded per case.
    #[arg(last = true)]
    pub client_args: Vec<String>,

    /// A transport to run (repeatable). Default: ws and wss.
    #[arg(long = "transport", value_name = "ws|wss|tcp|tls")]
    pub transports: Vec<Transport>,

    /// A sign method to use (repeatable). Default: every one the client claims.
    #[arg(long = "sign-method", value_name = "hmacmd5|hmacsha1|hmacsha256", value_parser = parse_sign_method)]
    pub sign_methods: Vec<SignMethod>,

    /// Run only these cases (repeatable, or comma-separated): a case ID, or a rule ID
    /// (`C-RECONNECT` selects the cases of that client rule, `A-SIGN-CONTENT` those checking it).
    #[arg(long, value_name = "CASE|RULE", value_delimiter = ',')]
    pub only: Vec<String>,

    /// Leave these cases out (repeatable, or comma-separated): a case ID or a rule ID.
    #[arg(long, value_name = "CASE|RULE", value_delimiter = ',')]
    pub skip: Vec<String>,

    /// Print the catalogue of cases and exit.
    #[arg(long)]
    pub list: bool,

    /// Print the rules reference (RULES.md, which `cargo xtask rules` writes) and exit.
    #[arg(long)]
    pub rules_reference: bool,

    /// Cases run at the same time, besides the real-time timer cases (which run side by side,
    /// up to 32). Default: the number of CPUs, at least 2.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,

    /// `quick` leaves out the cases that run on real-time keepalive timers.
    #[arg(long, value_name = "quick|full", default_value = "full")]
    pub profile: SuiteProfile,

    /// Write report.json, junit.xml and report.html into this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Compare each case's redacted broker transcript with the client's snapshot in
    /// DIR/<client-name>/<case>__<transport>.snap; a new or changed one is written beside it
    /// as .snap.new (review with `cargo insta review`), a change shows as a diff and a
    /// warning. The default is relative to the current directory, like --out: from the kit's
    /// root it is the kit's own conformance/snapshots, from your repository a folder of yours.
    #[arg(long, value_name = "DIR", default_value = snapshot::DEFAULT_DIR)]
    pub snapshots: PathBuf,

    /// Compare no transcript snapshot (and write none).
    #[arg(long, conflicts_with = "snapshots")]
    pub no_snapshots: bool,

    /// Exit with 1 when a case ends with this verdict or a worse one.
    #[arg(long, value_enum, default_value = "fail")]
    pub fail_on: FailOn,

    /// A TOML file saying what the client supports (transports, sign_methods,
    /// honours_keepalive, honours_client_id). Default: everything.
    #[arg(long, value_name = "FILE")]
    pub client_profile: Option<PathBuf>,

    /// The transports the client supports, overriding the profile (comma-separated).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub client_transports: Vec<Transport>,

    /// The sign methods the client supports, overriding the profile (comma-separated).
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_sign_method)]
    pub client_sign_methods: Vec<SignMethod>,

    /// The client does not honour IOT_KEEPALIVE.
    #[arg(long)]
    pub ignores_keepalive: bool,

    /// The client does not use IOT_CLIENT_ID as its clientId.
    #[arg(long)]
    pub ignores_client_id: bool,

    /// The longest real-time window a timer case may take, in seconds; a client whose
    /// declared keepalive needs more is not run.
    #[arg(long, value_name = "SECS", default_value_t = 120.0)]
    pub timer_budget: f64,

    /// Seconds between SIGTERM and SIGKILL when the suite stops the client.
    #[arg(long, value_name = "SECS", default_value_t = 3.0)]
    pub grace: f64,

    /// Seconds the client has, from its start, to send its first CONNECT.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub connect_timeout: f64,

    /// C-SIGN, C-USERNAME, C-CID: identities generated per case and sign method (each one
    /// client run).
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub sign_cases: u32,

    /// C-SIGN, C-USERNAME, C-CID: where each client's regression seeds (its smallest failing identities) are
    /// kept, as `<client>.json`; the next run tries them first. Relative to the current
    /// directory, like --snapshots.
    #[arg(long, value_name = "DIR", default_value = "conformance/regressions")]
    pub regressions: PathBuf,

    /// The fixture-client binary, for fixture names (cargo xtask conformance passes it).
    /// Default: a `fixture-client` beside this binary (as `cargo install` puts them).
    #[arg(long, value_name = "PATH")]
    pub fixture_bin: Option<PathBuf>,

    /// Colour the verdicts (ANSI).
    #[arg(long)]
    pub color: bool,
    /// Show signatures in full in the verdicts of the cases' brokers, and so in every report:
    /// by default a failing signature verdict shows only the first 8 hex digits and the length
    /// of the expected and received digests (the mock broker's --reveal-signatures).
    #[arg(long)]
    pub reveal_signatures: bool,
}

fn seconds(flag: &str, value: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("--{flag} {value}: expected a positive number of seconds"))
}

/// The names `fixture-bin --list-modes` offers, `reference` first.
fn fixture_names(fixture_bin: &Path) -> Result<Vec<String>, String> {
    let output = std::process::Command::new(fixture_bin)
        .arg("--list-modes")
        .output()
        .map_err(|e| format!("running {} --list-modes: {e}", fixture_bin.display()))?;
    if !output.status.success() {
        return Err(format!("{} --list-modes failed: {}", fixture_bin.display(), output.status));
    }
    let listing = String::from_utf8_lossy(&output.stdout);
    let mutants = listing.lines().filter_map(|l| l.split('\t').next()).map(str::trim).filter(|n| !n.is_empty());
    Ok(std::iter::once(REFERENCE.to_owned()).chain(mutants.map(str::to_owned)).collect())
}

/// The client to run and its name: a path, or a fixture name (`None`: the reference).
fn resolve_client(args: &Args, named: Option<&str>) -> Result<(ClientCommand, String), String> {
    let given = named.is_some();
    let named = named.unwrap_or(REFERENCE);
    let path = Path::new(named);
    if given && (named.contains('/') || path.is_file()) {
        if !path.is_file() {
            return Err(format!("no client executable at {named}"));
        }
        let name = path.file_name().map_or_else(|| named.to_owned(), |n| n.to_string_lossy().into_owned());
        return Ok((ClientCommand { program: path.to_path_buf(), args: args.client_args.clone() }, name));
    }
    let beside = std::env::current_exe().ok().and_then(|exe| Some(exe.parent()?.join("fixture-client")));
    let Some(fixture_bin) = args.fixture_bin.clone().or(beside.filter(|p| p.is_file())) else {
        return Err(format!(
            "{named:?} is not a file; running a fixture by name needs --fixture-bin, or fixture-client installed \
             beside conformance (cargo xtask conformance passes it)"
        ));
    };
    let fixture_bin = &fixture_bin;
    let names = fixture_names(fixture_bin)?;
    if !names.iter().any(|n| n == named) {
        return Err(format!("unknown client {named:?}: not a file, and not a fixture ({})", names.join(", ")));
    }
    let mut client_args = vec!["--mode".to_owned(), named.to_owned()];
    client_args.extend(args.client_args.iter().cloned());
    Ok((ClientCommand { program: fixture_bin.clone(), args: client_args }, named.to_owned()))
}

/// The run's configuration from the flags, for the first client named (or the reference);
/// an error is a usage error.
pub fn configure(args: &Args) -> Result<RunConfig, String> {
    configure_client(args, args.clients.first().map(String::as_str))
}

/// One configuration per client named (the reference when none is), in order.
pub fn configure_all(args: &Args) -> Result<Vec<RunConfig>, String> {
    if args.clients.is_empty() {
        return configure(args).map(|config| vec![config]);
    }
    args.clients.iter().map(|named| configure_client(args, Some(named))).collect()
}

fn configure_client(args: &Args, named: Option<&str>) -> Result<RunConfig, String> {
    let (client, client_name) = resolve_client(args, named)?;
    let mut profile = match &args.client_profile {
        Some(path) => ClientProfile::load(path, &client_name).map_err(|e| e.to_string())?,
        None => ClientProfile::claiming_everything(&client_name),
    };
    if !args.client_transports.is_empty() {
        profile.transports = args.client_transports.clone();
    }
    if !args.client_sign_methods.is_empty() {
        profile.sign_methods = args.client_sign_methods.clone();
    }
    profile.honours_keepalive &= !args.ignores_keepalive;
    profile.honours_client_id &= !args.ignores_client_id;
    // Unknown placeholders are a usage error, found before any case runs.
    let sample = CaseEnv {
        url: "tcp://127.0.0.1:1883".into(),
        transport: Transport::Tcp,
        identity: Identity::generate(0),
        sign_method: SignMethod::DEFAULT,
        keepalive: crate::cases::KEEPALIVE_HINT,
        ca_file: None,
        stay_seconds: 1,
    };
    for arg in &client.args {
        sample.expand(arg).map_err(|e| e.to_string())?;
    }
    let mut transports = if args.transports.is_empty() { vec![Transport::Ws, Transport::Wss] } else { vec![] };
    for t in &args.transports {
        if !transports.contains(t) {
            transports.push(*t);
        }
    }
    let timing = Timing {
        connect: seconds("connect-timeout", args.connect_timeout)?,
        grace: seconds("grace", args.grace)?,
        timer_budget: seconds("timer-budget", args.timer_budget)?,
        ..Timing::default()
    };
    let seeds = sign_property::seeds_file(&args.regressions, &client_name);
    let config = RunConfig {
        client,
        client_name,
        profile,
        transports,
        sign_methods: args.sign_methods.clone(),
        only: args.only.clone(),
        skip: args.skip.clone(),
        suite: args.profile,
        jobs: args.jobs.map_or_else(runner::default_jobs, usize::from),
        timing,
        snapshots: (!args.no_snapshots).then(|| args.snapshots.clone()),
        sign_property: SignProperty { cases: args.sign_cases, seeds: Some(seeds), ..SignProperty::default() },
        reveal_signatures: args.reveal_signatures,
    };
    runner::plan(&config).map_err(|e| e.to_string())?;
    Ok(config)
}

/// Runs the command; returns the process exit code.
pub fn run(args: Args) -> i32 {
    if args.list {
        print!("{}", catalogue::listing());
        return 0;
    }
    if args.rules_reference {
        print!("{}", crate::rules_reference::markdown());
        return 0;
    }
    let configs = match configure_all(&args) {
        Ok(configs) => configs,
        Err(message) => {
            eprintln!("conformance: {message}");
            return 2;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("conformance: starting the async runtime: {e}");
            return 2;
        }
    };
    runtime.block_on(execute_all(&configs, &args))
}

/// The exit code after SIGINT or SIGTERM, as a shell reports a SIGINT.
const INTERRUPTED: i32 = 130;

/// Resolves on SIGINT (Ctrl-C) or SIGTERM, naming it.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => "interrupted",
            _ = term.recv() => "terminated",
        },
        Err(_) => tokio::signal::ctrl_c().await.map_or("interrupted", |_| "interrupted"),
    }
}

/// Runs every client, one after the other; with several, prints and writes the matrix of
/// rules against clients. The exit code is the worst of the clients' (2 over 1 over 0), or
/// [`INTERRUPTED`] at once.
async fn execute_all(configs: &[RunConfig], args: &Args) -> i32 {
    let several = configs.len() > 1;
    let folders = report::matrix::folder_names(&configs.iter().map(|c| c.client_name.clone()).collect::<Vec<_>>());
    let mut reports = Vec::new();
    let mut worst = 0;
    for (config, folder) in configs.iter().zip(&folders) {
        let out = args.out.as_ref().map(|dir| if several { dir.join(folder) } else { dir.clone() });
        match execute(config, args, out.as_deref()).await {
            Ok((report, code)) => {
                reports.push(report);
                worst = worst.max(code);
            }
            Err(code) => return code,
        }
    }
    if several {
        let matrix = report::matrix::Matrix::of(&reports);
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "\nRules against clients:");
        let _ = matrix.write(&mut stdout);
        if let Some(dir) = &args.out {
            let written = report::matrix::write(&matrix, dir)
                .and_then(|json| report::html::write_matrix(&matrix, &folders, dir).map(|html| (json, html)));
            match written {
                Ok((json, html)) => {
                    let _ = writeln!(stdout, "wrote {} and {}", json.display(), html.display());
                }
                Err(e) => {
                    eprintln!("conformance: writing the matrix into {}: {e}", dir.display());
                    return 2;
                }
            }
        }
    }
    worst
}

/// Runs one client and writes its outputs into `out`; `Err` is an exit code that ends the
/// whole run (interrupted, or the kit failed to plan or write).
async fn execute(config: &RunConfig, args: &Args, out: Option<&Path>) -> Result<(RunReport, i32), i32> {
    let style = console::Style { color: args.color };
    let total = runner::plan(config).map_or(0, |rows| rows.len());
    let mut printer = console::Progress::new(total, style);
    let started = SystemTime::now();
    let clock = std::time::Instant::now();
    let run = runner::run(config, |progress| {
        if let Progress::Finished(case) = progress {
            let _ = printer.finished(&mut std::io::stdout().lock(), case);
        }
    });
    let cases = tokio::select! {
        cases = run => cases,
        signal = stop_signal() => {
            // Returning drops the running cases with the runtime: each stops its client's
            // process group, which does not get the terminal's SIGINT.
            eprintln!("conformance: {signal}; stopping the clients");
            return Err(INTERRUPTED);
        }
    };
    let cases = match cases {
        Ok(cases) => cases,
        Err(e) => {
            eprintln!("conformance: {e}");
            return Err(2);
        }
    };
    let mut report = runner::run_report(config, cases, started, clock.elapsed());
    report.coverage = report::coverage::compute(&report, &catalogue::client_rules());
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout);
    let _ = console::summary(&mut stdout, &report, style);
    if let Some(dir) = out {
        let written = report::json::write(&report, dir)
            .map_err(|e| format!("writing {}: {e}", dir.join(report::json::FILE_NAME).display()))
            .and_then(|json| {
                report::junit::write(&report, dir).map(|junit| (json, junit)).map_err(|e| format!("{e:#}"))
            })
            .and_then(|(json, junit)| {
                report::html::write(&report, dir)
                    .map(|html| (json, junit, html))
                    .map_err(|e| format!("writing {}: {e}", dir.join(report::html::FILE_NAME).display()))
            });
        match written {
            Ok((json, junit, html)) => {
                let _ = writeln!(stdout, "wrote {}, {} and {}", json.display(), junit.display(), html.display());
            }
            Err(message) => {
                eprintln!("conformance: {message}");
                return Err(2);
            }
        }
    }
    let code = report::exit_code(&report, args.fail_on);
    Ok((report, code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("conformance").chain(line.iter().copied())).unwrap()
    }

    #[test]
    fn flags_parse_with_their_defaults() {
        let a = args(&[
            "./client",
            "--transport",
            "tcp",
            "--transport",
            "tls",
            "--only",
            "sign,ping",
            "--",
            "--url",
            "{url}",
        ]);
        assert_eq!(a.clients, ["./client"]);
        assert_eq!(a.client_args, ["--url", "{url}"]);
        assert_eq!(a.transports, [Transport::Tcp, Transport::Tls]);
        assert_eq!(a.only, ["sign", "ping"]);
        assert_eq!((a.profile, a.fail_on, a.timer_budget, a.grace), (SuiteProfile::Full, FailOn::Fail, 120.0, 3.0));
        let a = args(&["--sign-method", "hmacsha256", "--profile", "quick", "--fail-on", "warn", "--jobs", "3"]);
        assert_eq!(a.sign_methods, [SignMethod::HmacSha256]);
        assert_eq!((a.profile, a.fail_on, a.jobs), (SuiteProfile::Quick, FailOn::Warn, Some(3)));
        for bad in
            [&["--transport", "mqtt"][..], &["--sign-method", "HMACSHA1"], &["--jobs", "0"], &["--profile", "slow"]]
        {
            assert!(
                Args::try_parse_from(std::iter::once("conformance").chain(bad.iter().copied())).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_path_client_is_run_as_given_and_named_by_its_file() {
        let config = configure(&args(&["/bin/sh", "--", "-c", "exit 0"])).unwrap();
        assert_eq!(
            config.client,
            ClientCommand { program: "/bin/sh".into(), args: vec!["-c".into(), "exit 0".into()] }
        );
        assert_eq!(config.client_name, "sh");
        assert_eq!(config.transports, [Transport::Ws, Transport::Wss]);
        assert_eq!(config.profile, ClientProfile::claiming_everything("sh"));
    }

    #[test]
    fn several_clients_get_a_configuration_each() {
        let a = args(&["/bin/sh", "/bin/true", "--transport", "tcp"]);
        let configs = configure_all(&a).unwrap();
        let names: Vec<&str> = configs.iter().map(|c| c.client_name.as_str()).collect();
        assert_eq!(names, ["sh", "true"]);
        assert!(configs.iter().all(|c| c.transports == [Transport::Tcp]));
    }

    #[test]
    fn usage_errors_say_what_is_wrong() {
        let err = configure(&args(&["/bin/sh", "--", "{nope}"])).unwrap_err();
        assert!(err.contains("{nope}"), "{err}");
        let err = configure(&args(&["/bin/sh", "--only", "pong"])).unwrap_err();
        assert!(err.contains("\"pong\"") && err.contains("securemode"), "{err}");
        let err = configure(&args(&["./no/such/client"])).unwrap_err();
        assert!(err.contains("./no/such/client"), "{err}");
        let err = configure(&args(&["reference"])).unwrap_err();
        assert!(err.contains("--fixture-bin"), "{err}");
        let err = configure(&args(&["/bin/sh", "--grace", "0"])).unwrap_err();
        assert!(err.contains("--grace"), "{err}");
    }

    #[test]
    fn profile_flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("profile.toml");
        std::fs::write(&file, "name = \"dev\"\ntransports = [\"ws\"]\n").unwrap();
        let file = file.to_str().unwrap();
        let config = configure(&args(&["/bin/sh", "--client-profile", file, "--ignores-keepalive"])).unwrap();
        assert_eq!((config.profile.name.as_str(), config.profile.transports.as_slice()), ("dev", &[Transport::Ws][..]));
        assert!(!config.profile.honours_keepalive && config.profile.honours_client_id);
        let config =
            configure(&args(&["/bin/sh", "--client-profile", file, "--client-transports", "tcp,tls"])).unwrap();
        assert_eq!(config.profile.transports, [Transport::Tcp, Transport::Tls]);
    }

    #[test]
    fn fixtures_are_named_from_the_fixture_binary_listing() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("fixture-client");
        std::fs::write(
            &bin,
            "#!/bin/sh\nprintf 'keepalive-15\\tC-KEEPALIVE\\tdeclares 15 s\\nnever-pings\\tC-PING\\tno ping\\n'\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let bin = bin.to_str().unwrap();
        let config = configure(&args(&["--fixture-bin", bin, "keepalive-15", "--", "-v"])).unwrap();
        assert_eq!(config.client.args, ["--mode", "keepalive-15", "-v"]);
        assert_eq!(config.client_name, "keepalive-15");
        let config = configure(&args(&["--fixture-bin", bin])).unwrap();
        assert_eq!(
            (config.client_name.as_str(), config.client.args.as_slice()),
            ("reference", &["--mode".to_owned(), "reference".to_owned()][..])
        );
        let err = configure(&args(&["--fixture-bin", bin, "pings-never"])).unwrap_err();
        assert!(err.contains("reference, keepalive-15, never-pings"), "{err}");
    }
}
