//! The control endpoint over real HTTP/1.1 on 127.0.0.1: faults armed by HTTP reach the
//! wire, devices are kicked, closed, disabled, given new secrets, added and removed, the
//! policy for new connections is read and patched, events are read by
//! cursor and long-polled, and every bad request gets a 4xx saying what was wrong. The client
//! is a few lines over a TcpStream, so the test depends on no HTTP client library.

mod support;

use mock_broker::auth::{SignMethod, sign, sign_content};
use mock_broker::control::ControlConfig;
use mock_broker::mqtt::{ConnackCode, Packet, QoS, Subscribe};
use mock_broker::{CloseReason, Policy, Rule, Transport};
use serde_json::{Value, json};
use std::time::Duration;
use support::http::*;
use support::*;
use tokio::time::timeout;

#[tokio::test]
async fn bad_requests_get_a_4xx_saying_what_was_wrong() {
    let tb = TestBroker::start().await;
    let server = start(&tb, ControlConfig { body_limit: 1024, ..ControlConfig::default() }).await;
    let addr = server.addr();
    assert!(server.url().starts_with("http://127.0.0.1:"));

    let missing = call(addr, "GET", "/nope", None).await;
    assert_eq!(missing.0, 404);
    assert!(error_of(&missing).starts_with("no route GET /nope; routes: GET /faults, POST /faults"));
    assert!(missing.1["routes"].as_array().unwrap().contains(&json!("GET /events/wait")));
    let wrong_method = call(addr, "PUT", "/faults", None).await;
    assert_eq!((wrong_method.0, error_of(&wrong_method)), (405, "PUT /faults: this path takes GET, POST, DELETE"));

    for (method, path, body, status, error) in [
        ("POST", "/faults", "{\"fault\": ", 400, "invalid JSON body: EOF while parsing"),
        ("POST", "/faults", r#"{"fault": "explode"}"#, 400, "invalid JSON body: unknown variant `explode`"),
        (
            "POST",
            "/faults",
            r#"{"fault": "refuse_connect", "code": 0}"#,
            422,
            "refuse_connect: CONNACK code 0 is not a refusal",
        ),
        (
            "POST",
            "/faults",
            r#"{"fault": "tls_close_mid_handshake", "scope": {"device": "pk/device"}}"#,
            422,
            "known only after CONNECT",
        ),
        ("DELETE", "/faults/99", "", 404, "fault 99 is not armed"),
        ("DELETE", "/faults/x", "", 400, "fault id \"x\": expected a number"),
        ("POST", "/devices/pk/nobody/kick", "", 404, "no device \"nobody\" of product \"pk\""),
        ("POST", "/devices/pk/device/kick", "", 404, "device pk/device is not online"),
        ("POST", "/devices/pk/device/close", "", 404, "device pk/device is not online"),
        ("POST", "/devices/pk/nobody/disable", "", 404, "no device \"nobody\""),
        ("POST", "/devices/pk/device/secret", r#"{"secret": "short-"}"#, 422, "breaks ID-SECRET"),
        ("POST", "/devices/pk/device/secret", r#"{"new": "x"}"#, 400, "unknown field `new`"),
        ("POST", "/publish", r#"{"product_key": "pk", "device_name": "nobody", "topic": "/t"}"#, 404, "no device"),
        (
            "POST",
            "/publish",
            r#"{"product_key": "pk", "device_name": "device", "topic": "/t", "qos": 2}"#,
            422,
            "S-QOS",
        ),
        ("GET", "/events?since=abc", "", 400, "since=\"abc\": expected a whole number"),
        ("GET", "/events?since=500", "", 400, "cursor 500 is ahead of the newest event"),
        ("GET", "/events?colour=red", "", 400, "unknown query parameter \"colour\""),
        ("GET", "/events/wait?timeout_ms=60001", "", 400, "timeout_ms 60001 is over the limit of 60000 ms"),
        ("GET", "/events/wait?event=landed", "", 400, "event \"landed\" is not an event kind; kinds: accepted,"),
        ("GET", "/events/wait?device=pk", "", 400, "device \"pk\": expected productKey/deviceName"),
    ] {
        assert_refused(addr, (method, path, Some(body)), status, error).await;
    }
    let big = format!(r#"{{"secret": "{}"}}"#, "a".repeat(2000));
    let too_big = call(addr, "POST", "/devices/pk/device/secret", Some(&big)).await;
    assert_eq!((too_big.0, error_of(&too_big)), (413, "the request body is over the limit of 1024 bytes"));
    server.stop().await;
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_at_the_read_deadline() {
    let tb = TestBroker::start().await;
    let config = ControlConfig { read_timeout: Duration::from_millis(300), ..ControlConfig::default() };
    let server = start(&tb, config).await;
    let started = std::time::Instant::now();
    let answer = send_raw(server.addr(), b"GET /faults HTTP/1.1\r\nHost: con").await;
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(5), "{waited:?}");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");

    // A body announced but never sent: the body deadline answers 408 with a JSON reason.
    let started = std::time::Instant::now();
    let answer = send_raw(
        server.addr(),
        b"POST /faults HTTP/1.1\r\nHost: control\r\nConnection: close\r\nContent-Length: 50\r\n\r\n{\"fault\"",
    )
    .await;
    let text = String::from_utf8(answer).unwrap();
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains(r#"{"error":"the request body did not arrive within 300 ms"}"#), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5));
    server.stop().await;
}

#[tokio::test]
async fn a_fault_armed_over_http_refuses_the_next_connect_and_shows_in_the_events() {
    let mut tb = TestBroker::start().await;
    let server = start(&tb, ControlConfig::default()).await;
    let addr = server.addr();
    let armed =
        call(addr, "POST", "/faults", Some(r#"{"fault": "refuse_connect", "code": 3, "times": 1, "name": "restart"}"#))
            .await;
    assert_eq!(armed, (201, json!({"id": 1})));
    let kick = call(
        addr,
        "POST",
        "/faults",
        Some(r#"{"fault": "kick", "scope": {"device": "pk/device"}, "trigger": {"after_connack_ms": 60000}}"#),
    )
    .await;
    assert_eq!(kick, (201, json!({"id": 2})));
    let listed = call(addr, "GET", "/faults", None).await;
    assert_eq!(
        listed.1["faults"][0],
        json!({"id": 1, "fault": "refuse_connect", "code": 3, "scope": "all", "trigger": "now", "times": 1, "name": "restart"})
    );
    assert_eq!(listed.1["faults"][1]["scope"], json!({"device": "pk/device"}));

    let refused = tb.attempt(Transport::Tcp, &doc_example(Transport::Tcp)).await;
    assert_eq!(refused.code, Some(ConnackCode::ServerUnavailable));
    let conn = refused.transcript[0].conn;
    let applied = call(addr, "GET", &format!("/events/wait?event=fault&conn={conn}&timeout_ms=5000"), None).await;
    assert_eq!(applied.0, 200);
    assert_eq!((applied.1["name"].as_str(), applied.1["phase"].as_str()), (Some("restart"), Some("applied")));

    let closed = call(addr, "GET", &format!("/events/wait?event=closed&conn={conn}&timeout_ms=5000"), None).await;
    assert_eq!(closed.0, 200);

    let page = call(addr, "GET", "/events", None).await.1;
    let events = page["events"].as_array().unwrap();
    assert_eq!(
        events[0],
        json!({"seq": 1, "conn": 0, "at_ms": events[0]["at_ms"], "event": "fault", "id": 1, "name": "restart", "fault": "refuse_connect", "phase": "armed"})
    );
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "numbered without gaps");
    assert_eq!((page["next"].as_u64(), page["missed"].as_u64()), (Some(seqs.len() as u64), Some(0)));
    assert!(events.contains(&closed.1), "the long poll's event is the one in the page");
    assert_eq!(
        closed.1["reason"],
        json!({"reason": "refused", "code": "ServerUnavailable", "rule": "fault refuse_connect"})
    );
    let later = call(addr, "GET", &format!("/events?since={}", seqs.len()), None).await.1;
    assert_eq!(later, json!({"events": [], "next": seqs.len(), "missed": 0}));

    assert_eq!(call(addr, "DELETE", "/faults/2", None).await, (200, json!({"cleared": 2})));
    assert_eq!(call(addr, "DELETE", "/faults", None).await, (200, json!({"cleared": 0})), "1 was used up");
    server.stop().await;
}

#[tokio::test]
async fn devices_are_kicked_published_to_disabled_and_given_new_secrets() {
    let mut tb = TestBroker::start().await;
    let server = start(&tb, ControlConfig::default()).await;
    let addr = server.addr();
    let attempt = tb.attempt(Transport::Ws, &doc_example(Transport::Ws)).await;
    attempt.assert_accepted();
    let mut io = attempt.io.unwrap();
    let conn = attempt.transcript[0].conn;
    let listed = call(addr, "GET", "/devices", None).await.1;
    assert_eq!(
        listed,
        json!({"devices": [{"product_key": "pk", "device_name": "device", "enabled": true, "online": conn}]})
    );

    let topic = "/pk/device/user/get";
    io.send(&Packet::Subscribe(Subscribe { packet_id: 1, filters: vec![(topic.into(), QoS::AtLeastOnce)] }))
        .await
        .unwrap();
    assert!(matches!(timeout(PATIENCE, io.read()).await.unwrap().unwrap(), Some(Packet::Suback(_))));
    let body = json!({"product_key": "pk", "device_name": "device", "topic": topic, "payload": "hi", "qos": 0});
    let published = call(addr, "POST", "/publish", Some(&body.to_string())).await;
    assert_eq!(published, (200, json!({"delivery": "delivered", "conn": conn, "qos": 0})));
    match timeout(PATIENCE, io.read()).await.unwrap().unwrap() {
        Some(Packet::Publish(p)) => assert_eq!((p.topic.as_str(), &p.payload[..]), (topic, &b"hi"[..])),
        other => panic!("expected the downlink, got {other:?}"),
    }

    assert_eq!(call(addr, "POST", "/devices/pk/device/kick", None).await, (200, json!({"kicked": conn})));
    assert_eq!(tb.closed(conn).await.0, CloseReason::Kicked { by: 0 });
    let offline = call(addr, "POST", "/publish", Some(&body.to_string())).await;
    assert_eq!(offline, (200, json!({"delivery": "dropped"})));

    let disabled = call(addr, "POST", "/devices/pk/device/disable", None).await;
    assert_eq!(disabled, (200, json!({"product_key": "pk", "device_name": "device", "enabled": false})));
    tb.attempt(Transport::Tcp, &doc_example(Transport::Tcp))
        .await
        .assert_refused(ConnackCode::NotAuthorized, Rule::ADevice);
    assert_eq!(call(addr, "POST", "/devices/pk/device/enable", None).await.1["enabled"], true);

    let rotated = call(addr, "POST", "/devices/pk/device/secret", Some(r#"{"secret": "fresh0Secret"}"#)).await;
    assert_eq!(rotated, (200, json!({"product_key": "pk", "device_name": "device", "rotated": true})));
    tb.attempt(Transport::Tcp, &doc_example(Transport::Tcp))
        .await
        .assert_refused(ConnackCode::BadCredentials, Rule::ASignContent);
    let content = sign_content(Some("12345"), DN, PK, Some("789"));
    let fresh = connect_bytes(
        "12345|securemode=3,signmethod=hmacsha1,timestamp=789|",
        "device&pk",
        &sign(SignMethod::HmacSha1, "fresh0Secret", &content),
        60,
    );
    let online = tb.attempt(Transport::Tcp, &fresh).await;
    online.assert_accepted();
    let conn = online.transcript[0].conn;
    assert_eq!(call(addr, "POST", "/devices/pk/device/close", None).await, (200, json!({"closed": conn})));
    assert_eq!(tb.closed(conn).await.0, CloseReason::ClosedByCloud);

    let everything = call(addr, "GET", "/events", None).await.1.to_string();
    assert!(!everything.contains("fresh0Secret") && !everything.contains("\"secret\""), "no secret in the events");
    server.stop().await;
}

#[tokio::test]
async fn devices_are_added_and_removed_over_http() {
    let mut tb = TestBroker::start().await;
    let server = start(&tb, ControlConfig::default()).await;
    let addr = server.addr();
    let new = r#"{"product_key": "pk", "device_name": "added-01", "secret": "addedSecret1"}"#;
    let added = call(addr, "POST", "/devices", Some(new)).await;
    assert_eq!(added, (201, json!({"product_key": "pk", "device_name": "added-01", "enabled": true})));
    let content = sign_content(Some("12345"), "added-01", PK, Some("789"));
    let password = sign(SignMethod::HmacSha1, "addedSecret1", &content);
    let connect = connect_bytes("12345|securemode=3,signmethod=hmacsha1,timestamp=789|", "added-01&pk", &password, 60);
    let online = tb.attempt(Transport::Tcp, &connect).await;
    online.assert_accepted();
    let conn = online.transcript[0].conn;

    let twice = call(addr, "POST", "/devices", Some(new)).await;
    assert_eq!((twice.0, error_of(&twice)), (409, "device \"added-01\" of product \"pk\" is registered already"));
    let disabled = r#"{"product_key": "pk", "device_name": "added-02", "secret": "s3", "enabled": false}"#;
    assert_eq!(call(addr, "POST", "/devices", Some(disabled)).await.1["enabled"], false);
    assert!(!tb.broker.registry().device(PK, "added-02").unwrap().enabled);
    for (body, status, error) in [
        (r#"{"product_key": "pk", "device_name": "ab", "secret": "s"}"#, 422, "deviceName \"ab\" breaks ID-DN"),
        (r#"{"product_key": "p-k", "device_name": "abcd", "secret": "s"}"#, 422, "breaks ID-PK"),
        (r#"{"product_key": "pk", "device_name": "abcd", "secret": "no good"}"#, 422, "breaks ID-SECRET"),
        (r#"{"product_key": "pk", "device_name": "abcd"}"#, 400, "a deviceSecret must be a string"),
        (r#"{"product_key": "pk", "device_name": "abcd", "secret": "s", "x": 1}"#, 400, "unknown field `x`"),
    ] {
        let refused = assert_refused(addr, ("POST", "/devices", Some(body)), status, error).await;
        assert!(!error_of(&refused).contains("no good"), "no secret in an error");
    }

    let removed = call(addr, "DELETE", "/devices/pk/added-01", None).await;
    assert_eq!(removed, (200, json!({"removed": {"product_key": "pk", "device_name": "added-01"}, "online": conn})));
    tb.attempt(Transport::Tcp, &connect).await.assert_refused(ConnackCode::BadCredentials, Rule::ADevice);
    let gone = call(addr, "DELETE", "/devices/pk/added-01", None).await;
    assert_eq!(gone.0, 404, "{gone:?}");
    let offline = call(addr, "DELETE", "/devices/pk/added-02", None).await;
    assert_eq!(offline.1["online"], Value::Null);
    server.stop().await;
}

#[tokio::test]
async fn the_policy_is_read_and_patched_for_new_connections() {
    let mut tb = TestBroker::start().await;
    let server = start(&tb, ControlConfig::default()).await;
    let addr = server.addr();
    let (status, policy) = call(addr, "GET", "/policy", None).await;
    assert_eq!(status, 200);
    assert_eq!(policy["keepalive_range"], json!([30, 1200]));
    assert_eq!(policy["keepalive_check"], json!({"mode": "periodic", "period_ms": 30000, "phase_ms": 0}));
    assert_eq!((policy["unknown_device_refusal"].clone(), policy["oversize"].clone()), (json!(4), json!("close")));
    assert_eq!(policy["connect_timeout_ms"], json!(10_000));
    let live = tb.attempt(Transport::Tcp, &doc_example(Transport::Tcp)).await;
    live.assert_accepted();

    let patch = r#"{"keepalive_range": [90, 1200], "keepalive_refusal": 5, "qos2_publish": "drop"}"#;
    let (status, patched) = call(addr, "PATCH", "/policy", Some(patch)).await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        (patched["keepalive_range"].clone(), patched["qos2_publish"].clone()),
        (json!([90, 1200]), json!("drop"))
    );
    assert_eq!(patched["connect_timeout_ms"], policy["connect_timeout_ms"], "the fields not patched keep their value");
    assert_eq!(call(addr, "GET", "/policy", None).await.1, patched);
    tb.attempt(Transport::Tcp, &doc_example(Transport::Tcp))
        .await
        .assert_refused(ConnackCode::NotAuthorized, Rule::AKeepalive);
    assert!(tb.broker.online(PK, DN).is_some(), "the live connection stays up");

    let unknown = call(addr, "PATCH", "/policy", Some(r#"{"keepalive": 60}"#)).await;
    assert_eq!(unknown.0, 400);
    assert!(
        error_of(&unknown).starts_with("unknown policy field \"keepalive\"; the editable fields are "),
        "{unknown:?}"
    );
    assert!(error_of(&unknown).contains("keepalive_range"), "{unknown:?}");
    let fixed = call(addr, "PATCH", "/policy", Some(r#"{"history_events": 10}"#)).await;
    assert_eq!(fixed.0, 422);
    assert!(error_of(&fixed).starts_with("policy field history_events is fixed at start ("), "{fixed:?}");
    let same = format!(r#"{{"history_events": {}}}"#, policy["history_events"]);
    assert_eq!(call(addr, "PATCH", "/policy", Some(&same)).await.0, 200, "the same value is no change");
    for (body, status) in [(r#"{"keepalive_refusal": 0}"#, 422), (r#"{"payload_limit": -1}"#, 400), ("[]", 400)] {
        assert_eq!(call(addr, "PATCH", "/policy", Some(body)).await.0, status, "{body}");
    }
    assert_eq!(call(addr, "GET", "/policy", None).await.1, patched, "refused patches change nothing");
    server.stop().await;
}

#[tokio::test]
async fn a_long_poll_returns_the_first_match_after_the_cursor() {
    let mut tb = TestBroker::start().await;
    let server = start(&tb, ControlConfig::default()).await;
    let addr = server.addr();
    let poll = tokio::spawn(async move {
        call(addr, "GET", "/events/wait?since=0&event=online&device=pk%2Fdevice&timeout_ms=10000", None).await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let attempt = tb.attempt(Transport::Tcp, &doc_example(Transport::Tcp)).await;
    attempt.assert_accepted();
    let (status, online) = poll.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        (online["event"].as_str(), online["product_key"].as_str(), online["conn"].as_u64()),
        (Some("online"), Some("pk"), Some(attempt.transcript[0].conn))
    );
    let seq = online["seq"].as_u64().unwrap();
    let none = call(addr, "GET", &format!("/events/wait?since={seq}&event=online&timeout_ms=200"), None).await;
    let explained = "no event with event=online within 200 ms; 0 other events seen.";
    assert_eq!(none, (408, json!({"error": explained, "closest": []})));
    server.stop().await;
}

#[tokio::test]
async fn a_page_counts_what_the_history_let_go_and_stats_count_every_event() {
    // The test's own observer would fall behind so small a history: the device is dialled
    // directly and the long poll finds its `online`, the newest event.
    let tb = TestBroker::with_policy(Policy { history_events: 4, ..Policy::default() }).await;
    let server = start(&tb, ControlConfig::default()).await;
    let addr = server.addr();
    let mut io = tb.dial(Transport::Tcp).await;
    io.write_bytes(&doc_example(Transport::Tcp)).await.unwrap();
    assert_eq!(read_connack(&mut io).await, Some(ConnackCode::Accepted));
    let (status, online) = call(addr, "GET", "/events/wait?since=0&event=online&timeout_ms=10000", None).await;
    assert_eq!((status, online["event"].as_str()), (200, Some("online")));

    // More events than the history holds: the oldest are reported missed.
    let page = call(addr, "GET", "/events?since=0", None).await.1;
    let newest = page["next"].as_u64().unwrap();
    assert!(newest > 4, "{page}");
    assert_eq!(page["events"].as_array().unwrap().len(), 4);
    assert_eq!(page["missed"].as_u64(), Some(newest - 4));
    assert_eq!(page["events"][0]["seq"].as_u64(), Some(newest - 3));
    let limited = call(addr, "GET", &format!("/events?since={}&limit=1", newest - 2), None).await.1;
    assert_eq!((limited["next"].as_u64(), limited["missed"].as_u64()), (Some(newest - 1), Some(0)));

    let (status, stats) = call(addr, "GET", "/stats", None).await;
    assert_eq!(status, 200);
    let events = &stats["events"];
    assert_eq!(events["emitted"].as_u64(), Some(newest), "{stats}");
    assert_eq!(events["by_kind"]["online"].as_u64(), Some(1), "{stats}");
    assert_eq!(events["history"], json!({"capacity": 4, "held": 4, "evicted": newest - 4}));
    server.stop().await;
}
