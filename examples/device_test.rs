//! The mock broker as a test double in a device team's `cargo test`: start a broker, declare
//! what the device must do, run the device code, and have the broker say at the end,
//! precisely, what did not happen.
//!
//! Run it with `cargo test -p kit-examples --test device_test`. The second test pins the
//! report a broken device gets (its snapshot is `examples/snapshots/`).
//!
//! `report_temperature` stands for your device code. It speaks MQTT with the kit's own client
//! codec (`mock_broker::connector`, `mock_broker::mqtt`) so that this example needs no other
//! crate; yours would use its own MQTT client, given the same URL and credentials.

use mock_broker::auth::SignMethod;
use mock_broker::connector::{self, DialOptions};
use mock_broker::mqtt::{Connect, Packet, Protocol, Publish, QoS, Subscribe};
use mock_broker::{Broker, Credentials, Expectation, Rule, Transport, UplinkFilter};
use std::time::Duration;

const PK: &str = "a1B2c3D4e5F";
const DN: &str = "sensor-01";

/// The device under test: logs in, subscribes to its downlink topic (unless `forget_subscribe`),
/// publishes one reading, and disconnects.
async fn report_temperature(
    url: &str,
    ca_pem: Option<&str>,
    login: Credentials,
    forget_subscribe: bool,
) -> std::io::Result<()> {
    let options = DialOptions { ca_pem: ca_pem.map(str::to_string), ..DialOptions::default() };
    let mut mqtt = connector::dial(url, &options).await.map_err(std::io::Error::other)?;
    let connect = Connect {
        protocol: Protocol::V311,
        client_id: login.client_id,
        clean_session: true,
        keep_alive: 60,
        username: Some(login.username),
        password: Some(login.password.into_bytes().into()),
        will: None,
    };
    mqtt.send(&Packet::Connect(connect)).await?;
    let _connack = mqtt.read().await;
    if !forget_subscribe {
        let get = format!("/{PK}/{DN}/user/get");
        mqtt.send(&Packet::Subscribe(Subscribe { packet_id: 1, filters: vec![(get, QoS::AtLeastOnce)] })).await?;
    }
    let reading = Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: format!("/{PK}/{DN}/user/update"),
        packet_id: Some(2),
        payload: br#"{"temperature":21.5}"#.to_vec().into(),
    };
    mqtt.send(&Packet::Publish(reading)).await?;
    while let Ok(Some(packet)) = mqtt.read().await {
        if matches!(packet, Packet::Puback(2)) {
            break;
        }
    }
    mqtt.send(&Packet::Disconnect).await
}

/// A broker with the device, and what the device must do: online within 3 s, its one reading
/// published, its downlink topic subscribed, never refused, never over the rate.
async fn broker_expecting_a_good_device() -> Broker {
    let broker = Broker::builder().device(PK, DN, "s3cr3tS3cr3tS3cr3t").start().await.expect("the broker starts");
    let window = Duration::from_secs(3);
    broker
        .expect(Expectation::online(PK, DN).within(window))
        .expect(Expectation::publishes(PK, DN, &format!("/{PK}/{DN}/user/update")).times(1).within(window))
        .expect(Expectation::subscribes(PK, DN, &format!("/{PK}/{DN}/user/get")).within(window))
        .expect(Expectation::never_refused(PK, DN))
        .expect(Expectation::never_breaks(Rule::SRate));
    broker
}

#[tokio::test]
async fn a_good_device_meets_every_expectation() {
    let broker = broker_expecting_a_good_device().await;
    let mut readings = broker.uplinks(UplinkFilter::any().device(PK, DN));
    let url = broker.url(Transport::Wss).unwrap();
    let login = broker.credentials(PK, DN, Transport::Wss, SignMethod::HmacSha256).unwrap();
    report_temperature(&url, broker.ca_pem(), login, false).await.unwrap();

    // The cloud side sees the reading as the platform's server-side subscription would.
    let reading = readings.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(reading.text(), Some(r#"{"temperature":21.5}"#));
    // Verifies every expectation (waiting for those still open), then shuts the broker down.
    assert_eq!(broker.finish().await.unwrap(), 5);
}

#[tokio::test]
async fn a_device_that_forgets_to_subscribe_fails_with_a_report() {
    let broker = broker_expecting_a_good_device().await;
    let url = broker.url(Transport::Ws).unwrap();
    let login = broker.credentials(PK, DN, Transport::Ws, SignMethod::HmacSha1).unwrap();
    report_temperature(&url, None, login, true).await.unwrap();

    // In a real test, `broker.finish().await.unwrap()` (or dropping the broker) fails the test
    // with this report; here it is pinned, times and ports aside.
    let report = broker.finish().await.unwrap_err().to_string();
    insta::with_settings!({filters => vec![
        (r"\d+\.\d{3} ?s", "[time]"),
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[port]"),
        (r"timestamp=?\d+", "timestamp[ms]"),
    ]}, {
        insta::assert_snapshot!(report);
    });
}
