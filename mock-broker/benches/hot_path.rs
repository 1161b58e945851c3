//! Criterion micro-benchmarks of what every connection and every packet costs the broker:
//! decoding a CONNECT, authenticating it with each sign method (A-SIGN-CONTENT, A-PASSWORD),
//! recording a QoS 1 uplink's transcript events in the history, with no reader and with a
//! reader draining it on another thread, and copying an accepted uplink into the cloud side's
//! log.
//!
//! `cargo bench -p mock-broker --bench hot_path`, or `cargo xtask bench micro`.

use bytes::BytesMut;
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use mock_broker::auth::{SignMethod, authenticate, sign, sign_content};
use mock_broker::bench_support::{EventPath, UplinkPath};
use mock_broker::mqtt::{Connect, Direction, Packet, Protocol, decode, encode};
use mock_broker::{Policy, Registry, Transport};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A correct CONNECT of the demo registry's first device over tcp, signed with `method`.
fn connect(registry: &Registry, method: SignMethod) -> Connect {
    let device = registry.devices().next().expect("the demo registry has a device");
    let (pk, dn) = (&device.product_key, &device.device_name);
    let content = sign_content(Some("bench-1"), dn, pk, Some("1700000000000"));
    Connect {
        protocol: Protocol::V311,
        client_id: format!("bench-1|securemode=3,signmethod={},timestamp=1700000000000|", method.name()),
        clean_session: true,
        keep_alive: 60,
        username: Some(format!("{dn}&{pk}")),
        password: Some(sign(method, device.secret.expose(), &content).into_bytes().into()),
        will: None,
    }
}

fn decode_connect(c: &mut Criterion) {
    let mut encoded = BytesMut::new();
    encode(&Packet::Connect(connect(&Registry::demo(), SignMethod::HmacSha1)), &mut encoded).expect("encodes");
    let limit = Policy::default().max_connect_len;
    c.bench_function("decode CONNECT", |b| {
        b.iter_batched_ref(
            || encoded.clone(),
            |buf| black_box(decode(buf, Direction::FromClient, limit).expect("decodes")),
            BatchSize::SmallInput,
        )
    });
}

fn authenticate_connect(c: &mut Criterion) {
    let (registry, policy) = (Registry::demo(), Policy::default());
    let mut group = c.benchmark_group("authenticate CONNECT");
    for method in SignMethod::ALL {
        let connect = connect(&registry, method);
        group.bench_with_input(BenchmarkId::from_parameter(method.name()), &connect, |b, connect| {
            b.iter(|| {
                let report = authenticate(connect, Transport::Tcp, &registry, &policy);
                assert!(report.outcome.is_ok(), "the CONNECT is accepted");
                black_box(report)
            })
        });
    }
    group.finish();
}

fn transcript_events(c: &mut Criterion) {
    let mut group = c.benchmark_group("QoS 1 uplink events (packet_in + packet_out)");
    let topic = "/a1DemoPrdct/demo-device/user/update";
    let path = EventPath::new(1 << 16, topic, 64);
    group.bench_function("history only", |b| b.iter(|| path.publish_in(black_box(7))));

    // A reader drains the history on a runtime thread of its own, as the CLI's sink does.
    let path = Arc::new(EventPath::new(1 << 16, topic, 64));
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let mut reader = path.reader();
    let reading = {
        let stop = stop.clone();
        runtime.spawn(async move {
            let mut batch = Vec::with_capacity(4096);
            let mut read = 0usize;
            while !stop.load(Ordering::Relaxed) {
                batch.clear();
                match reader.recv_many(&mut batch, 4096).await {
                    Ok(n) => read += n,
                    Err(_) => continue,
                }
            }
            (read, reader.lost())
        })
    };
    group.bench_function("with a reader", |b| b.iter(|| path.publish_in(black_box(7))));
    stop.store(true, Ordering::Relaxed);
    path.publish_in(7);
    let (read, lost) = runtime.block_on(reading).expect("the reader ends");
    eprintln!("the reader took {read} events and lost {lost} (it fell behind the history by that many)");
    group.finish();
}

/// The uplink log every accepted PUBLISH is copied into (the cloud side's view), full, so that
/// each record also lets the oldest go: the steady state of a broker under load.
fn uplink_log(c: &mut Criterion) {
    let path = UplinkPath::new("/a1DemoPrdct/demo-device/user/update", 64);
    for _ in 0..2 * mock_broker::Policy::default().uplink_history {
        path.record(7);
    }
    c.bench_function("QoS 1 uplink recorded for the cloud side (log full)", |b| b.iter(|| path.record(black_box(7))));
}

criterion_group!(benches, decode_connect, authenticate_connect, transcript_events, uplink_log);
criterion_main!(benches);
