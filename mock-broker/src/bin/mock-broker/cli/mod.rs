//! The `mock-broker` command: flags, start-up, the newcomer's banner, sinks, the control
//! endpoint and a scenario's player, shutdown.

mod args;
mod banner;
mod open_files;
mod sinks;

pub use args::Args;

use anyhow::Context;
use mock_broker::broker::Broker;
use mock_broker::control::{self, ControlConfig, ControlServer};
use mock_broker::registry::{Device, Registry};
use mock_broker::scenario::Scenario;
use mock_broker::topics;
use mock_broker::transport::Transport;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Runs the broker until Ctrl-C or SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    match open_files::raise_to_hard_limit() {
        Ok(raised) if raised.before < raised.now => {
            tracing::info!(before = raised.before, now = raised.now, "raised the open-files limit");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("could not raise the open-files limit: {e}; connections may be refused early"),
    }
    let stop = stop_signal();
    let scenario = args.scenario.as_deref().map(Scenario::load).transpose()?;
    let (registry, demo) = registry(&args)?;
    let mut builder = Broker::builder().registry(registry).policy(args.policy()?);
    builder = builder.transports(&args.transports());
    for (transport, addr) in args.addresses() {
        builder = builder.listen(transport, addr);
    }
    if let Some(addr) = args.mux {
        builder = builder.mux(addr);
    }
    for name in &args.name {
        builder = builder.extra_name(name);
    }
    if let Some((cert, ca_pem)) = args.given_certificate()? {
        builder = builder.certificate(cert, ca_pem);
    }
    let broker = Arc::new(builder.start().await?);
    let events = broker.events();
    let control = match args.control_addr() {
        Some(addr) => Some(
            control::serve(broker.clone(), ControlConfig { addr, ..ControlConfig::default() })
                .await
                .with_context(|| format!("starting the control endpoint on {addr}"))?,
        ),
        None => None,
    };
    let control_url = control.as_ref().map(ControlServer::url);
    // The CA's private directory lives as long as the broker and is removed on the way out.
    let (ca_file, _ca_dir) = write_ca(&broker, args.ca_out.as_deref())?;
    if let Some(path) = &args.ready_file {
        write_ready_file(&broker, ca_file.as_deref(), control_url.as_deref(), path)?;
    }
    let device = broker.registry().devices().find(|d| d.enabled).cloned();
    if let Some(transport) = args.print_env {
        print_env(&broker, transport, device.as_ref(), ca_file.as_deref())?;
    }
    if !args.quiet && args.print_env.is_none() {
        let reveal = args.reveal_signatures;
        eprintln!(
            "{}",
            banner::text(&broker, ca_file.as_deref(), device.as_ref(), demo, reveal, control_url.as_deref())
        );
    }
    let sinks = sinks::start(events, &args)?;
    let player = scenario.map(|scenario| tokio::spawn(play(scenario, broker.clone(), args.quiet)));
    stop.await;
    if let Some(player) = player {
        player.abort();
        let _ = player.await;
    }
    if let Some(control) = control {
        control.stop().await;
    }
    // The player and the endpoint are gone, so this is the last handle.
    if let Some(broker) = Arc::into_inner(broker) {
        broker.shutdown().await;
    }
    sinks.finish().await;
    Ok(())
}

/// `--scenario`: plays the timeline, telling stderr what each step did (failures only with
/// `--quiet`).
async fn play(scenario: Scenario, broker: Arc<Broker>, quiet: bool) {
    scenario
        .play(&broker, |report| match report.outcome {
            Ok(done) if !quiet => eprintln!("scenario step {} at {} ms: {done}", report.step, report.at.as_millis()),
            Ok(_) => {}
            Err(why) => eprintln!("scenario step {} at {} ms failed: {why}", report.step, report.at.as_millis()),
        })
        .await;
}

/// The registry from `--registry` and `--device`, or the embedded demo (second value true).
fn registry(args: &Args) -> anyhow::Result<(Registry, bool)> {
    let mut registry = match &args.registry {
        Some(path) => Registry::load(path)?,
        None if args.device.is_empty() => return Ok((Registry::demo(), true)),
        None => Registry::default(),
    };
    for spec in &args.device {
        let mut parts = spec.splitn(3, '/');
        let (Some(pk), Some(dn), Some(secret)) = (parts.next(), parts.next(), parts.next()) else {
            anyhow::bail!("--device {spec:?}: expected PRODUCT_KEY/DEVICE_NAME/SECRET");
        };
        let device = Device { product_key: pk.into(), device_name: dn.into(), secret: secret.into(), enabled: true };
        registry.add_device(device).with_context(|| format!("--device {pk}/{dn}/***"))?;
    }
    Ok((registry, false))
}

/// Writes the CA PEM where clients can read it: `--ca-out`, or a fresh private temporary
/// directory (an unpredictable name, mode 0700, created by `tempfile`, so no other user can
/// plant or swap the file). The directory is returned with the path: it is removed when
/// dropped, so the caller keeps it for the broker's life.
fn write_ca(broker: &Broker, ca_out: Option<&Path>) -> anyhow::Result<(Option<PathBuf>, Option<tempfile::TempDir>)> {
    let Some(pem) = broker.ca_pem() else { return Ok((None, None)) };
    let (path, dir) = match ca_out {
        Some(path) => (path.to_path_buf(), None),
        None => {
            let mut builder = tempfile::Builder::new();
            builder.prefix("mock-broker-");
            #[cfg(unix)]
            builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
            let dir = builder.tempdir().context("creating a private temporary directory for the CA")?;
            (dir.path().join("ca.pem"), Some(dir))
        }
    };
    std::fs::write(&path, pem).with_context(|| format!("writing the CA to {}", path.display()))?;
    Ok((Some(path), dir))
}

/// `--ready-file`: JSON with every URL (the control endpoint's too, or null), the mux (its
/// address and the four URLs through it, or null), the CA file and the pid, written once
/// listening.
fn write_ready_file(broker: &Broker, ca_file: Option<&Path>, control: Option<&str>, path: &Path) -> anyhow::Result<()> {
    let mut ready = serde_json::Map::new();
    for transport in Transport::ALL {
        ready.insert(transport.scheme().into(), broker.url(transport).into());
    }
    let mux = broker.mux_addr().map(|addr| {
        let mut mux = serde_json::Map::new();
        mux.insert("addr".into(), addr.to_string().into());
        for transport in Transport::ALL {
            mux.insert(transport.scheme().into(), broker.mux_url(transport).into());
        }
        mux
    });
    ready.insert("mux".into(), mux.into());
    ready.insert("control".into(), control.into());
    ready.insert("ca_file".into(), ca_file.map(|p| p.display().to_string()).into());
    ready.insert("pid".into(), std::process::id().into());
    // Written whole, then renamed, so a watcher never reads half a file.
    let partial = path.with_extension("partial");
    std::fs::write(&partial, serde_json::to_string_pretty(&ready)?)
        .and_then(|()| std::fs::rename(&partial, path))
        .with_context(|| format!("writing the ready file {}", path.display()))
}

/// `--print-env`: shell exports of the client-under-test contract for the first enabled device
/// (IOT_STAY_SECONDS is left out: a client started by hand stays until stopped). This is the
/// one output that prints a deviceSecret (IOT_DEVICE_SECRET, as the contract needs), and only
/// because the user asked for it.
fn print_env(
    broker: &Broker,
    transport: Transport,
    device: Option<&Device>,
    ca_file: Option<&Path>,
) -> anyhow::Result<()> {
    let url =
        broker.url(transport).with_context(|| format!("--print-env {transport}: that transport is not served"))?;
    let device = device.context("--print-env: the registry has no enabled device")?;
    let mut exports = vec![
        ("IOT_URL", url),
        ("IOT_PRODUCT_KEY", device.product_key.clone()),
        ("IOT_DEVICE_NAME", device.device_name.clone()),
        // In clear by design: the contract hands the secret to the client, and the user asked.
        ("IOT_DEVICE_SECRET", device.secret.expose().to_owned()),
        ("IOT_CLIENT_ID", format!("{}.{}", device.product_key, device.device_name)),
        ("IOT_SIGN_METHOD", "hmacsha256".to_string()),
        ("IOT_KEEPALIVE", "300".to_string()),
        ("IOT_PUBLISH_TOPIC", topics::user_update_topic(&device.product_key, &device.device_name)),
        ("IOT_SUBSCRIBE_TOPIC", topics::user_get_topic(&device.product_key, &device.device_name)),
    ];
    if let Some(ca) = ca_file {
        exports.push(("IOT_CA_FILE", ca.display().to_string()));
    }
    for (name, value) in exports {
        println!("export {name}={}", shell_quote(&value));
    }
    Ok(())
}

/// Quotes a value for POSIX shells.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Resolves at Ctrl-C or SIGTERM. The handlers are installed by this call, not when the
/// future is first polled, so a signal sent as soon as the ready file exists is not lost.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async fn recv(signal: Option<Signal>) {
            match signal {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        async move {
            tokio::select! {
                () = recv(term) => {}
                () = recv(int) => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_survives_quotes() {
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
        assert_eq!(shell_quote("ws://127.0.0.1:1/mqtt"), "'ws://127.0.0.1:1/mqtt'");
    }
}
