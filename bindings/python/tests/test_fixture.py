"""The `mock_broker` fixture against the real binary, with paho-mqtt as the device: a device
that does its job meets its expectations (verified by the plugin after the test), the uplink
view shows what it published, and runtime edits change how its next login is answered."""

import base64
import json

import pytest

from paho_device import Device

PK = "a1B2c3D4e5F"
SENSOR, SENSOR_SECRET = f"{PK}/sensor-01", "sensorSecret0123"
UPDATE, GET = f"/{PK}/sensor-01/user/update", f"/{PK}/sensor-01/user/get"

with_sensor = pytest.mark.mock_broker(devices=[f"{SENSOR}/{SENSOR_SECRET}"])


@with_sensor
@pytest.mark.parametrize("transport", ["tcp", "wss"])
def test_a_device_that_does_its_job_meets_every_expectation(mock_broker, transport):
    mock_broker.expect_online(SENSOR, within=5)
    mock_broker.expect_subscribes(SENSOR, GET, within=5)
    mock_broker.expect_publishes(SENSOR, UPDATE, times=2)
    mock_broker.expect_never_refused(SENSOR)
    mock_broker.expect_never_breaks("S-TOPIC-OWN", device=SENSOR)
    assert len(mock_broker.expectations()) == 5

    with Device(mock_broker, SENSOR, transport) as device:
        assert device.connect() == 0
        assert mock_broker.wait_online(SENSOR) >= 1
        device.subscribe(GET)
        assert mock_broker.wait_subscribed(SENSOR, GET)["qos"] == 1
        assert mock_broker.publish(SENSOR, GET, "reboot", qos=1)["delivery"] == "delivered"
        assert device.next_message() == (GET, b"reboot")
        for n in (1, 2):
            device.publish(UPDATE, json.dumps({"n": n}))
    # The plugin verifies the five expectations after this body; they are met.


@with_sensor
def test_verify_lists_each_expectation_met(mock_broker):
    declared = mock_broker.expect_publishes(SENSOR, f"/{PK}/sensor-01/user/#", at_least=1)
    with Device(mock_broker, SENSOR) as device:
        assert device.connect() == 0
        device.publish(UPDATE, "{}")
    outcome = mock_broker.verify()
    assert outcome["passed"], outcome["report"]
    [result] = outcome["results"]
    assert (result["id"], result["description"], result["met"]) == (declared["id"], declared["description"], True)
    assert mock_broker.expectations() == [], "verify ends the expectations' scope"


@with_sensor
def test_the_uplink_view_shows_what_the_device_published(mock_broker):
    with Device(mock_broker, SENSOR, "ws") as device:
        assert device.connect() == 0
        device.publish(UPDATE, '{"temperature": 21.5}')
        device.publish(UPDATE, b"\xff\x00raw", qos=0)
        text = mock_broker.wait_uplink(SENSOR, UPDATE)
        assert (text["topic"], text["payload_text"]) == (UPDATE, '{"temperature": 21.5}')
        assert text["qos"] == 1
        assert (text["product_key"], text["device_name"]) == (PK, "sensor-01")
        raw = mock_broker.wait_uplink(SENSOR, f"/{PK}/+/user/update", since=text["seq"])
        assert raw["payload_text"] is None and base64.b64decode(raw["payload_base64"]) == b"\xff\x00raw"
    page = mock_broker.uplinks(device=SENSOR, topic="#")
    assert [u["seq"] for u in page["uplinks"]] == [text["seq"], raw["seq"]] and page["missed"] == 0
    assert mock_broker.uplinks(since=page["next"])["uplinks"] == []
    assert mock_broker.uplinks(topic=f"/{PK}/sensor-01/user/get")["uplinks"] == []


@with_sensor
def test_runtime_edits_change_how_the_next_login_is_answered(mock_broker):
    added = f"{PK}/added-at-runtime"
    mock_broker.add_device(added, "addedSecret0123")
    assert any(d["device_name"] == "added-at-runtime" for d in mock_broker.devices())
    with Device(mock_broker, added) as device:
        assert device.connect() == 0
        mock_broker.wait_online(added)

    mock_broker.disable(SENSOR)
    cursor = mock_broker.cursor()
    with Device(mock_broker, SENSOR) as device:
        assert device.connect() == 5, "a disabled device: CONNACK 0x05 (A-DEVICE)"
    verdict = mock_broker.wait_event("verdict", since=cursor, rule="A-DEVICE", device=SENSOR)
    assert (verdict["rule"], verdict["outcome"]) == ("A-DEVICE", "fail"), verdict
    assert mock_broker.update_policy(disabled_device_refusal=4)["disabled_device_refusal"] == 4
    with Device(mock_broker, SENSOR) as device:
        assert device.connect() == 4, "the policy's new refusal code, from the next connection on"
    mock_broker.enable(SENSOR)

    before = mock_broker.credentials(SENSOR)
    mock_broker.rotate_secret(SENSOR, "rotatedSecret0123")
    with Device(mock_broker, SENSOR, credentials=before) as device:
        assert device.connect() == 4, "the old secret: bad user name or password"
    with Device(mock_broker, SENSOR) as device:
        assert device.connect() == 0, "credentials are signed with the current secret"

    mock_broker.remove_device(added)
    assert all(d["device_name"] != "added-at-runtime" for d in mock_broker.devices())
