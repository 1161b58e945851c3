//! The control endpoint's test-double routes over real HTTP and a real device: credentials
//! that log the device in, waits for it online and subscribed, the uplinks it published with
//! their payloads, and expectations declared, listed, verified with a report, and dismissed.

mod support;

use mock_broker::control::ControlConfig;
use mock_broker::mqtt::{Packet, QoS, Subscribe};
use mock_broker::{Rule, Transport};
use serde_json::{Value, json};
use std::net::SocketAddr;
use support::http::*;
use support::*;

/// The device's credentials from the endpoint, as a CONNECT.
async fn connect_from_credentials(addr: SocketAddr, transport: Transport) -> Vec<u8> {
    let (status, creds) =
        call(addr, "GET", &format!("/credentials/pk/device?transport={transport}&sign_method=hmacmd5"), None).await;
    assert_eq!(status, 200, "{creds}");
    let text = |key: &str| creds[key].as_str().unwrap_or_else(|| panic!("{key} in {creds}")).to_string();
    assert_eq!(creds["securemode"], if transport.is_tls() { 2 } else { 3 });
    assert!(text("url").starts_with(&format!("{transport}://")), "{creds}");
    connect_bytes(&text("client_id"), &text("username"), &text("password"), 60)
}

async fn declare(addr: SocketAddr, expectation: Value) -> Value {
    let (status, answer) = call(addr, "POST", "/expectations", Some(&expectation.to_string())).await;
    assert_eq!(status, 201, "{expectation}: {answer}");
    answer
}

#[tokio::test]
async fn a_device_logged_in_with_served_credentials_is_awaited_and_its_uplinks_are_read() {
    let mut tb = TestBroker::start().await;
    let server = start(&tb, ControlConfig::default()).await;
    let addr = server.addr();
    let online =
        tokio::spawn(async move { call(addr, "GET", "/devices/pk/device/online?timeout_ms=10000", None).await });
    let connect = connect_from_credentials(addr, Transport::Wss).await;
    let mut session = tb.attempt(Transport::Wss, &connect).await;
    session.assert_accepted();
    let conn = session.transcript[0].conn;
    assert_eq!(online.await.unwrap(), (200, json!({"conn": conn})));

    let subscribed = tokio::spawn(async move {
        call(addr, "GET", "/devices/pk/device/subscribed?filter=%2Fpk%2Fdevice%2Fuser%2Fget&timeout_ms=10000", None)
            .await
    });
    let packets = [
        Packet::Subscribe(Subscribe { packet_id: 1, filters: vec![("/pk/device/user/get".into(), QoS::AtLeastOnce)] }),
        uplink(QoS::AtLeastOnce, Some(2)),
    ];
    session.io.as_mut().unwrap().write_bytes(&encoded(&packets)).await.unwrap();
    assert_eq!(subscribed.await.unwrap(), (200, json!({"conn": conn, "qos": 1})));

    let (status, up) = call(addr, "GET", "/uplinks/wait?topic=%2Fpk%2F%2B%2Fuser%2F%23&device=pk%2Fdevice", None).await;
    assert_eq!(status, 200, "{up}");
    assert_eq!((up["seq"].as_u64(), up["conn"].as_u64(), up["qos"].as_u64()), (Some(1), Some(conn), Some(1)));
    assert_eq!(up["payload_text"], "{\"temperature\":21.5}");
    assert_eq!(up["payload_base64"], "eyJ0ZW1wZXJhdHVyZSI6MjEuNX0=");
    let (_, page) = call(addr, "GET", "/uplinks?since=0", None).await;
    assert_eq!(
        (page["uplinks"].as_array().map(Vec::len), &page["next"], &page["missed"]),
        (Some(1), &json!(1), &json!(0))
    );
    let none = call(addr, "GET", "/uplinks/wait?since=1&timeout_ms=100", None).await;
    assert_eq!(none, (408, json!({"error": "waited 100 ms for any uplink; none came (0 other uplinks did)"})));
    let (_, stats) = call(addr, "GET", "/stats", None).await;
    assert_eq!(stats["uplinks"]["accepted"], 1);

    let never = call(addr, "GET", "/devices/pk/device/subscribed?filter=%2Fnope&timeout_ms=100", None).await;
    assert_eq!(never.0, 408);
    assert!(error_of(&never).starts_with("no subscription of pk/device to /nope within 100 ms"), "{never:?}");
    assert!(!never.1["closest"].as_array().unwrap().is_empty(), "the device's own events came closest: {never:?}");
    for (path, status, error) in [
        ("/credentials/pk/nobody", 404, "device pk/nobody is not in the registry"),
        ("/credentials/pk/device?transport=mqtt", 400, "transport: "),
        ("/credentials/pk/device?sign_method=HmacSHA1", 400, "sign_method \"HmacSHA1\": expected hmacmd5"),
        ("/devices/pk/device/subscribed", 400, "filter=... is required"),
        ("/devices/pk/nobody/online", 404, "nobody"),
        ("/events/wait?rule=K-NOPE", 400, "rule \"K-NOPE\" is not a rule ID"),
    ] {
        assert_refused(addr, ("GET", path, None), status, error).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn expectations_declared_over_http_are_verified_with_a_report() {
    let mut tb = TestBroker::start().await;
    let server = start(&tb, ControlConfig::default()).await;
    let addr = server.addr();
    let first = declare(addr, json!({"kind": "online", "device": "pk/device", "within_ms": 5000})).await;
    assert_eq!(first, json!({"id": 1, "description": "pk/device comes online within 5 s"}));
    declare(addr, json!({"kind": "publishes", "device": "pk/device", "topic": "/pk/device/user/update", "times": 3}))
        .await;
    declare(addr, json!({"kind": "never_breaks", "rule": "A-SIGN-CONTENT"})).await;
    let (_, listed) = call(addr, "GET", "/expectations", None).await;
    assert_eq!(listed["expectations"].as_array().map(Vec::len), Some(3));

    let forged =
        connect_bytes("12345|securemode=3,signmethod=hmacsha1,timestamp=789|", "device&pk", &"0".repeat(40), 60);
    tb.attempt(Transport::Tcp, &forged)
        .await
        .assert_refused(mock_broker::mqtt::ConnackCode::BadCredentials, Rule::ASignContent);
    tb.attempt(Transport::Tcp, &session_bytes(Transport::Tcp)).await.assert_accepted();

    let (status, verdict) = call(addr, "POST", "/expectations/verify", None).await;
    assert_eq!(status, 200);
    assert_eq!((&verdict["passed"], &verdict["met"]), (&json!(false), &json!(1)));
    let results = verdict["results"].as_array().unwrap();
    assert_eq!(results.iter().map(|r| r["met"].as_bool().unwrap()).collect::<Vec<_>>(), [true, false, false]);
    assert_eq!(results[1]["observed"], "2 PUBLISH to topics matching /pk/device/user/update");
    let report = verdict["report"].as_str().unwrap();
    assert!(report.contains("#3 NOT MET: no device breaks A-SIGN-CONTENT"), "{report}");
    assert!(report.contains("FAIL A-SIGN-CONTENT"), "{report}");
    let (_, listed) = call(addr, "GET", "/expectations", None).await;
    assert_eq!(listed, json!({"expectations": []}), "a verification ends the scope");

    declare(addr, json!({"kind": "never_refused", "device": "pk/device"})).await;
    let (_, passed) = call(addr, "POST", "/expectations/verify", None).await;
    assert_eq!((&passed["passed"], &passed["report"]), (&json!(true), &Value::Null));
    declare(addr, json!({"kind": "subscribes", "device": "pk/device", "filter": "/x"})).await;
    assert_eq!(call(addr, "DELETE", "/expectations", None).await, (200, json!({"dropped": 1})));

    for (body, status, error) in [
        (json!({"kind": "online"}), 400, "missing field `device`"),
        (json!({"kind": "online", "device": "pk/device", "colour": 1}), 400, "unknown field `colour`"),
        (json!({"kind": "landed", "device": "pk/device"}), 400, "unknown variant `landed`"),
        (json!({"kind": "online", "device": "pk/nobody"}), 404, "nobody"),
        (
            json!({"kind": "publishes", "device": "pk/device", "topic": "/t", "times": 1, "at_least": 1}),
            400,
            "not both",
        ),
        (json!({"kind": "never_breaks", "rule": "NOPE"}), 400, "not a rule ID"),
        (json!({"kind": "online", "device": "pk/device", "within_ms": 60001}), 400, "over the limit of 60000 ms"),
    ] {
        assert_refused(addr, ("POST", "/expectations", Some(&body.to_string())), status, error).await;
    }
    server.stop().await;
}
