//! Criterion micro-benchmarks of a whole connection in process, client and broker on the
//! loopback: TCP connect, the TLS handshake (wss, with the broker's rcgen P-256 certificate),
//! the WebSocket upgrade, CONNECT authenticated and CONNACK received, then DISCONNECT. The
//! client's own work is included: the figure is a connection's round trip, not the broker's
//! share of it (`cargo xtask bench` measures that with the broker on a core of its own).
//!
//! `cargo bench -p mock-broker --bench handshakes`, or `cargo xtask bench micro`.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mock_broker::auth::{SignMethod, sign, sign_content};
use mock_broker::connector::{DialOptions, dial};
use mock_broker::mqtt::{ConnackCode, Connect, Packet, Protocol};
use mock_broker::{Broker, Transport};

const PK: &str = "a1BenchPrdt";
const DN: &str = "bench-device";
const SECRET: &str = "benchSecret0";

fn connect(transport: Transport) -> Packet {
    let content = sign_content(Some("bench"), DN, PK, Some("1"));
    Packet::Connect(Connect {
        protocol: Protocol::V311,
        client_id: format!("bench|securemode={},signmethod=hmacsha1,timestamp=1|", transport.expected_securemode()),
        clean_session: true,
        keep_alive: 60,
        username: Some(format!("{DN}&{PK}")),
        password: Some(sign(SignMethod::HmacSha1, SECRET, &content).into_bytes().into()),
        will: None,
    })
}

fn connections(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let broker = runtime.block_on(Broker::builder().device(PK, DN, SECRET).start()).expect("the broker starts");
    let options = DialOptions { ca_pem: broker.ca_pem().map(str::to_string), ..DialOptions::default() };
    let mut group = c.benchmark_group("connection: dial, CONNECT, CONNACK, DISCONNECT");
    for transport in [Transport::Ws, Transport::Wss] {
        let url = broker.url(transport).expect("the transport is served");
        let connect = connect(transport);
        group.bench_function(BenchmarkId::from_parameter(transport), |b| {
            b.to_async(&runtime).iter(|| async {
                let mut io = dial(&url, &options).await.expect("dials");
                io.send(&connect).await.expect("CONNECT goes out");
                match io.read().await {
                    Ok(Some(Packet::Connack(connack))) => assert_eq!(connack.code, ConnackCode::Accepted),
                    other => panic!("expected CONNACK, got {other:?}"),
                }
                io.send(&Packet::Disconnect).await.expect("DISCONNECT goes out");
            })
        });
    }
    group.finish();
    runtime.block_on(broker.shutdown());
}

criterion_group!(benches, connections);
criterion_main!(benches);
