//! The command-line flags and how they become a [`Policy`] and listener addresses.

use crate::mqtt::{ConnackCode, QoS};
use crate::policy::{KeepaliveCheck, MAX_PAYLOAD_LIMIT, OversizeReaction, Policy, Qos2PublishReaction};
use crate::tls::ServerCert;
use crate::transport::Transport;
use anyhow::Context;
use clap::{Parser, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A mock of the Alibaba Cloud IoT Platform MQTT broker (ws, wss, tcp, tls) that explains
/// every verdict by platform rule ID. With no flags it serves an embedded demo device on free
/// ports of 127.0.0.1 and prints how to connect.
#[derive(Debug, Parser)]
#[command(name = "mock-broker", version)]
pub struct Args {
    /// Serve only these transports (repeatable; default: ws, wss, tcp and tls).
    #[arg(long = "transport", value_name = "ws|wss|tcp|tls")]
    pub transport: Vec<Transport>,
    /// Address of the ws listener (default 127.0.0.1:0, a free port).
    #[arg(long, value_name = "ADDR")]
    pub ws: Option<SocketAddr>,
    /// Address of the wss listener.
    #[arg(long, value_name = "ADDR")]
    pub wss: Option<SocketAddr>,
    /// Address of the tcp listener.
    #[arg(long, value_name = "ADDR")]
    pub tcp: Option<SocketAddr>,
    /// Address of the tls listener.
    #[arg(long, value_name = "ADDR")]
    pub tls: Option<SocketAddr>,
    /// Also serve the mux (T-MUX): ws, wss, tcp and tls on one port, told apart by their first
    /// bytes, whatever --transport keeps. `--mux` alone listens on 127.0.0.1:0 (a free port);
    /// `--mux ADDR` or `--mux=ADDR` on ADDR.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:0")]
    pub mux: Option<SocketAddr>,

    /// Device registry (TOML: products with custom topic classes, devices).
    #[arg(long, value_name = "FILE")]
    pub registry: Option<PathBuf>,
    /// Adds a device (repeatable). With neither this nor --registry, the demo registry serves.
    #[arg(long, value_name = "PRODUCT_KEY/DEVICE_NAME/SECRET")]
    pub device: Vec<String>,

    /// Extra host name or IP for the minted certificate (repeatable), e.g.
    /// a1B2c3D4e5F.iot-as-mqtt.cn-shanghai.aliyuncs.com.
    #[arg(long, value_name = "NAME")]
    pub name: Vec<String>,
    /// Serve this PEM certificate chain instead of minting one (needs --key and --ca).
    #[arg(long, value_name = "FILE", requires_all = ["key", "ca"])]
    pub cert: Option<PathBuf>,
    /// The PEM private key of --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// The PEM CA certificate clients should trust with --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub ca: Option<PathBuf>,
    /// Where to write the CA certificate (default: a new temporary directory).
    #[arg(long, value_name = "FILE")]
    pub ca_out: Option<PathBuf>,

    /// Once listening, write JSON with the URLs (ws, wss, tcp, tls, mux, control), ca_file and
    /// pid.
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
    /// Serve the control endpoint: HTTP with JSON on 127.0.0.1, a free port, to arm faults,
    /// publish, kick, enable, disable, rotate secrets and read events from any language. Its URL
    /// is in the banner and the ready file (`control`).
    #[arg(long)]
    pub control: bool,
    /// Address of the control endpoint (implies --control).
    #[arg(long, value_name = "ADDR")]
    pub control_addr: Option<SocketAddr>,
    /// Play this scenario: a TOML timeline of faults, publishes, kicks and closes, counted from
    /// the broker's start (see examples/scenarios/).
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Print shell exports (IOT_URL, IOT_PRODUCT_KEY, ...) for the first enabled device on
    /// this transport, instead of the banner; events then go to stderr. The exports include
    /// IOT_DEVICE_SECRET, the device's secret in clear, as the client contract needs: this
    /// is the one output that prints a secret, and only on this explicit request.
    #[arg(long, value_name = "ws|wss|tcp|tls")]
    pub print_env: Option<Transport>,
    /// Events as JSON lines instead of readable lines.
    #[arg(long)]
    pub json: bool,
    /// Also write every event as a JSON line into this file.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// No banner and no event lines on stdout (--events still writes).
    #[arg(long)]
    pub quiet: bool,
    /// Show signatures in full: the expected and received digests of a failing signature
    /// verdict, and the banner's example passwords. By default only their first 8 hex digits
    /// and length are shown, since with no timestamp freshness a signature is a password the
    /// platform would accept for that clientId. The embedded demo device is always shown in
    /// full.
    #[arg(long)]
    pub reveal_signatures: bool,

    /// Seconds a connection has for its handshakes and CONNECT.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub connect_timeout: f64,
    /// K-TIMEOUT: seconds between the platform's keepalive checks.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub keepalive_check_period: f64,
    /// K-TIMEOUT: seconds after start of the first keepalive check.
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0)]
    pub keepalive_check_phase: f64,
    /// K-TIMEOUT: cut a silent device at exactly 1.5 x keepalive instead of at the next check.
    #[arg(long)]
    pub exact_keepalive: bool,
    /// T-WS-PATH: serve only these WebSocket paths (repeatable; default: any path).
    #[arg(long, value_name = "PATH")]
    pub ws_path: Vec<String>,
    /// S-RATE: uplink messages per second per device.
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub rate_limit: u32,
    /// S-PAYLOAD: the largest PUBLISH payload in bytes (assumed).
    #[arg(long, value_name = "BYTES", default_value_t = 256 * 1024)]
    pub payload_limit: usize,
    /// S-PAYLOAD: what to do with a larger payload (assumed).
    #[arg(long, value_enum, default_value_t = Reaction::Close)]
    pub oversize: Reaction,
    /// S-QOS: what to do with a QoS 2 PUBLISH (assumed).
    #[arg(long, value_enum, default_value_t = Reaction::Close)]
    pub qos2_publish: Reaction,
    /// S-PUB-DENY: do not PUBACK a QoS 1 PUBLISH dropped for lack of rights (assumed: acked).
    #[arg(long)]
    pub no_puback_denied: bool,
    /// A-KEEPALIVE: CONNACK code for a keepalive outside 30..=1200 (assumed 2).
    #[arg(long, value_name = "CODE", default_value_t = 2)]
    pub keepalive_refusal: u8,
    /// A-SECUREMODE: CONNACK code for a securemode not matching the transport (assumed 2).
    #[arg(long, value_name = "CODE", default_value_t = 2)]
    pub securemode_refusal: u8,
    /// A-SIGNMETHOD: CONNACK code for an unknown signmethod (assumed 2).
    #[arg(long, value_name = "CODE", default_value_t = 2)]
    pub signmethod_refusal: u8,
    /// A-DEVICE: CONNACK code for an unknown device (assumed 4).
    #[arg(long, value_name = "CODE", default_value_t = 4)]
    pub unknown_device_refusal: u8,
    /// A-DEVICE: CONNACK code for a disabled device (assumed 5).
    #[arg(long, value_name = "CODE", default_value_t = 5)]
    pub disabled_device_refusal: u8,

    /// Limit: the most connections open at once; one more is accepted and closed at once.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Limit: the largest packet, CONNECT included, read before authentication.
    #[arg(long, value_name = "BYTES", default_value_t = 8 * 1024)]
    pub max_connect_len: usize,
    /// Limit: seconds the TLS handshake may take (within --connect-timeout).
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub tls_handshake_timeout: f64,
    /// Limit: seconds the WebSocket upgrade may take (within --connect-timeout).
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub ws_upgrade_timeout: f64,
    /// Limit (S-SUB-DENY, assumed): the most subscriptions one device holds.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_subscriptions: usize,
    /// Limit: verdicts one connection records per second; the rest are summarised.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub verdicts_per_second: u32,
    /// Limit: cloud-side commands queued for one connection before the cloud side waits.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub outbound_queue: usize,
    /// Limit: events the history keeps (the control endpoint's `/events` reads it); the
    /// oldest make room and are counted.
    #[arg(long, value_name = "N", default_value_t = 1 << 16)]
    pub history_events: usize,
    /// Limit: uplinks (accepted device PUBLISHes) the cloud side's view keeps (the control
    /// endpoint's `/uplinks` reads it); the oldest make room and are counted.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub uplink_history: usize,
    /// Limit: payload and topic bytes that view keeps.
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    pub uplink_history_bytes: usize,
    /// Limit: seconds one write may wait on a client that does not read before it is closed.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub write_timeout: f64,
}

/// A configurable reaction to an unsupported message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Reaction {
    /// Close the connection.
    Close,
    /// Drop the message, keep the connection.
    Drop,
}

impl Args {
    /// The transports to serve.
    pub fn transports(&self) -> Vec<Transport> {
        if self.transport.is_empty() { Transport::ALL.to_vec() } else { self.transport.clone() }
    }

    /// Where the control endpoint listens, if it is served.
    pub fn control_addr(&self) -> Option<SocketAddr> {
        self.control_addr.or(self.control.then(|| crate::control::ControlConfig::default().addr))
    }

    /// Listener addresses given on the command line, for served transports only.
    pub fn addresses(&self) -> Vec<(Transport, SocketAddr)> {
        let served = self.transports();
        [(Transport::Ws, self.ws), (Transport::Wss, self.wss), (Transport::Tcp, self.tcp), (Transport::Tls, self.tls)]
            .into_iter()
            .filter_map(|(t, addr)| addr.filter(|_| served.contains(&t)).map(|a| (t, a)))
            .collect()
    }

    /// The certificate of `--cert`/`--key` with the CA of `--ca`.
    pub fn given_certificate(&self) -> anyhow::Result<Option<(ServerCert, String)>> {
        let (Some(cert), Some(key), Some(ca)) = (&self.cert, &self.key, &self.ca) else { return Ok(None) };
        let ca_pem = std::fs::read_to_string(ca).with_context(|| format!("reading --ca {}", ca.display()))?;
        Ok(Some((ServerCert::load(cert, key)?, ca_pem)))
    }

    /// The policy the flags describe.
    pub fn policy(&self) -> anyhow::Result<Policy> {
        let seconds = |flag: &str, value: f64| -> anyhow::Result<Duration> {
            Duration::try_from_secs_f64(value)
                .map_err(|_| anyhow::anyhow!("--{flag} {value}: expected a non-negative number of seconds"))
        };
        let code = |flag: &str, value: u8| -> anyhow::Result<ConnackCode> {
            ConnackCode::from_u8(value)
                .filter(|c| *c != ConnackCode::Accepted)
                .ok_or_else(|| anyhow::anyhow!("--{flag} {value}: expected a refusing CONNACK code, 1 to 5"))
        };
        let at_least_one = |flag: &str, value: usize| -> anyhow::Result<usize> {
            if value == 0 {
                anyhow::bail!("--{flag} 0: expected at least 1");
            }
            Ok(value)
        };
        if self.payload_limit > MAX_PAYLOAD_LIMIT {
            anyhow::bail!(
                "--payload-limit {}: expected at most {MAX_PAYLOAD_LIMIT} bytes, the largest MQTT remaining length",
                self.payload_limit
            );
        }
        if self.verdicts_per_second == 0 {
            anyhow::bail!("--verdicts-per-second 0: expected at least 1");
        }
        let period = seconds("keepalive-check-period", self.keepalive_check_period)?;
        if period.is_zero() && !self.exact_keepalive {
            anyhow::bail!("--keepalive-check-period must be above 0 (or use --exact-keepalive)");
        }
        Ok(Policy {
            keepalive_refusal: code("keepalive-refusal", self.keepalive_refusal)?,
            securemode_refusal: code("securemode-refusal", self.securemode_refusal)?,
            signmethod_refusal: code("signmethod-refusal", self.signmethod_refusal)?,
            unknown_device_refusal: code("unknown-device-refusal", self.unknown_device_refusal)?,
            disabled_device_refusal: code("disabled-device-refusal", self.disabled_device_refusal)?,
            keepalive_check: if self.exact_keepalive {
                KeepaliveCheck::Exact
            } else {
                KeepaliveCheck::Periodic {
                    period,
                    phase: seconds("keepalive-check-phase", self.keepalive_check_phase)?,
                }
            },
            connect_timeout: seconds("connect-timeout", self.connect_timeout)?,
            qos2_publish: match self.qos2_publish {
                Reaction::Close => Qos2PublishReaction::Close,
                Reaction::Drop => Qos2PublishReaction::Drop,
            },
            qos2_subscribe_grant: QoS::AtLeastOnce,
            puback_denied_publish: !self.no_puback_denied,
            uplink_rate_per_second: self.rate_limit,
            payload_limit: self.payload_limit,
            oversize: match self.oversize {
                Reaction::Close => OversizeReaction::Close,
                Reaction::Drop => OversizeReaction::Drop,
            },
            ws_paths: self.ws_path.clone(),
            max_connections: at_least_one("max-connections", self.max_connections)?,
            max_connect_len: self.max_connect_len,
            tls_handshake_timeout: seconds("tls-handshake-timeout", self.tls_handshake_timeout)?,
            ws_upgrade_timeout: seconds("ws-upgrade-timeout", self.ws_upgrade_timeout)?,
            max_subscriptions: self.max_subscriptions,
            verdicts_per_second: self.verdicts_per_second,
            outbound_queue: at_least_one("outbound-queue", self.outbound_queue)?,
            history_events: at_least_one("history-events", self.history_events)?,
            uplink_history: self.uplink_history,
            uplink_history_bytes: self.uplink_history_bytes,
            write_timeout: seconds("write-timeout", self.write_timeout)?,
            reveal_signatures: self.reveal_signatures,
            ..Policy::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("mock-broker").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn defaults_are_the_platform_policy() {
        let policy = parse(&[]).policy().unwrap();
        let default = Policy::default();
        assert_eq!(policy.keepalive_check, default.keepalive_check);
        assert_eq!(policy.keepalive_refusal, default.keepalive_refusal);
        assert_eq!(policy.unknown_device_refusal, default.unknown_device_refusal);
        assert_eq!(policy.disabled_device_refusal, default.disabled_device_refusal);
        assert_eq!(policy.payload_limit, default.payload_limit);
        assert_eq!(policy.uplink_rate_per_second, default.uplink_rate_per_second);
        assert!(!policy.reveal_signatures && !default.reveal_signatures);
        assert!(parse(&["--reveal-signatures"]).policy().unwrap().reveal_signatures);
        assert_eq!(parse(&[]).transports(), Transport::ALL);
    }

    #[test]
    fn limits_default_to_the_policy_and_refuse_absurd_values() {
        let policy = parse(&[]).policy().unwrap();
        let default = Policy::default();
        assert_eq!(policy.max_connections, default.max_connections);
        assert_eq!(policy.max_connect_len, default.max_connect_len);
        assert_eq!(policy.tls_handshake_timeout, default.tls_handshake_timeout);
        assert_eq!(policy.ws_upgrade_timeout, default.ws_upgrade_timeout);
        assert_eq!(policy.max_subscriptions, default.max_subscriptions);
        assert_eq!(policy.verdicts_per_second, default.verdicts_per_second);
        assert_eq!(policy.outbound_queue, default.outbound_queue);
        assert_eq!(policy.write_timeout, default.write_timeout);
        let max = usize::MAX.to_string();
        let err = parse(&["--payload-limit", &max]).policy().unwrap_err();
        assert!(err.to_string().contains("at most 268435455"), "{err}");
        assert!(parse(&["--payload-limit", "268435455"]).policy().is_ok());
        assert!(parse(&["--max-connections", "0"]).policy().unwrap_err().to_string().contains("at least 1"));
        assert!(parse(&["--outbound-queue", "0"]).policy().is_err());
        assert!(parse(&["--verdicts-per-second", "0"]).policy().is_err());
        assert!(parse(&["--write-timeout=-1"]).policy().is_err());
        assert!(parse(&["--tls-handshake-timeout", "1e300"]).policy().is_err());
        // Huge but representable values are taken: the arithmetic on them saturates.
        let policy = parse(&["--keepalive-check-phase", "1e15", "--rate-limit", &u32::MAX.to_string()]).policy();
        assert_eq!(policy.unwrap().uplink_rate_per_second, u32::MAX);
    }

    #[test]
    fn refusal_codes_must_refuse() {
        let err = parse(&["--keepalive-refusal", "0"]).policy().unwrap_err();
        assert!(err.to_string().contains("--keepalive-refusal 0"), "{err}");
        assert!(parse(&["--keepalive-refusal", "9"]).policy().is_err());
    }

    #[test]
    fn addresses_only_for_served_transports() {
        let args = parse(&["--transport", "ws", "--ws", "127.0.0.1:1883", "--tls", "127.0.0.1:8883"]);
        assert_eq!(args.addresses(), vec![(Transport::Ws, "127.0.0.1:1883".parse().unwrap())]);
    }

    #[test]
    fn control_addr_implies_control() {
        assert_eq!(parse(&[]).control_addr(), None);
        assert_eq!(parse(&["--control"]).control_addr(), Some("127.0.0.1:0".parse().unwrap()));
        let chosen = parse(&["--control-addr", "127.0.0.1:8088"]).control_addr();
        assert_eq!(chosen, Some("127.0.0.1:8088".parse().unwrap()));
    }

    #[test]
    fn mux_takes_an_optional_address() {
        assert_eq!(parse(&[]).mux, None);
        assert_eq!(parse(&["--mux"]).mux, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(parse(&["--mux", "--json"]).mux, Some("127.0.0.1:0".parse().unwrap()));
        assert!(parse(&["--mux", "--json"]).json, "a flag after a bare --mux is a flag");
        assert_eq!(parse(&["--mux", "127.0.0.1:8443"]).mux, Some("127.0.0.1:8443".parse().unwrap()));
        assert_eq!(parse(&["--mux=[::1]:8443"]).mux, Some("[::1]:8443".parse().unwrap()));
        assert!(Args::try_parse_from(["mock-broker", "--mux", "nowhere"]).is_err());
    }

    #[test]
    fn a_bad_transport_is_named() {
        let err = Args::try_parse_from(["mock-broker", "--transport", "quic"]).unwrap_err();
        assert!(err.to_string().contains("quic"), "{err}");
    }
}
