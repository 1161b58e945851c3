#!/usr/bin/env python3
"""Drives the real mock-broker binary through its control endpoint with Python's standard
library only: a fault armed over HTTP refuses a real MQTT login, events are read by cursor
and long-polled, a rotated secret refuses the old signature, and the broker shuts down
cleanly; and a worked scenario file (examples/scenarios/platform-restart.toml) plays its
CONNACK 0x03 storm on a real login. Run by tests/control_python.rs with MOCK_BROKER set to the
built binary and MOCK_BROKER_SCENARIOS to the examples' folder."""

import hashlib
import hmac
import json
import os
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

PK, DN, SECRET = "a1B2c3D4e5F", "python-01", "pySecret0123"


def call(method, url, body=None):
    """One HTTP request; returns (status, JSON body), 4xx included."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def mqtt_connect(tcp_url, secret):
    """Logs the demo device in over tcp with a hand-made MQTT 3.1.1 CONNECT; returns the CONNACK code."""
    url = urllib.parse.urlparse(tcp_url)
    ts = str(int(time.time() * 1000))
    content = f"clientIdpythondeviceName{DN}productKey{PK}timestamp{ts}"
    password = hmac.new(secret.encode(), content.encode(), hashlib.sha256).hexdigest()
    client_id = f"python|securemode=3,signmethod=hmacsha256,timestamp={ts}|"

    def string(text):
        raw = text.encode()
        return struct.pack("!H", len(raw)) + raw

    body = string("MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 60)
    body += string(client_id) + string(f"{DN}&{PK}") + string(password)
    length, remaining = b"", len(body)
    while True:
        byte, remaining = remaining % 128, remaining // 128
        length += bytes([byte | (0x80 if remaining else 0)])
        if not remaining:
            break
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(bytes([0x10]) + length + body)
        connack = b""
        while len(connack) < 4:
            chunk = sock.recv(4 - len(connack))
            if not chunk:
                break
            connack += chunk
    assert connack[:2] == b"\x20\x02", f"not a CONNACK: {connack!r}"
    return connack[3]


class Broker(unittest.TestCase):
    """Starts the binary with `extra` flags for the class's tests and stops it after them."""
    extra = []

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        ready = os.path.join(cls.dir.name, "ready.json")
        cls.broker = subprocess.Popen(
            [os.environ["MOCK_BROKER"], "--control", "--ready-file", ready, "--quiet",
             "--device", f"{PK}/{DN}/{SECRET}", "--ca-out", os.path.join(cls.dir.name, "ca.pem")] + cls.extra,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while not os.path.exists(ready):
            if cls.broker.poll() is not None:
                raise RuntimeError(f"mock-broker exited: {cls.broker.stderr.read().decode()}")
            if time.monotonic() > deadline:
                raise RuntimeError("no ready file within 20 s")
            time.sleep(0.05)
        with open(ready) as f:
            cls.ready = json.load(f)
        cls.control = cls.ready["control"]

    @classmethod
    def tearDownClass(cls):
        if cls.broker.poll() is None:
            cls.broker.kill()
            cls.broker.wait()
        cls.broker.stdout.close()
        cls.broker.stderr.close()
        cls.dir.cleanup()


class ControlEndpoint(Broker):

    def url(self, path):
        return self.control + path

    def test_1_ready_file_names_the_endpoint(self):
        self.assertTrue(self.control.startswith("http://127.0.0.1:"), self.ready)
        self.assertEqual(call("GET", self.url("/faults")), (200, {"faults": []}))

    def test_2_an_armed_fault_refuses_a_real_login_and_shows_in_the_events(self):
        status, armed = call("POST", self.url("/faults"), {"fault": "refuse_connect", "code": 3, "times": 1, "name": "restart"})
        self.assertEqual(status, 201, armed)
        self.assertEqual(mqtt_connect(self.ready["tcp"], SECRET), 3)
        status, applied = call("GET", self.url(f"/events/wait?event=fault&timeout_ms=5000&device={PK}/{DN}"))
        self.assertEqual(status, 200, applied)
        self.assertEqual((applied["name"], applied["phase"], applied["id"]), ("restart", "applied", armed["id"]))
        status, closed = call("GET", self.url(f"/events/wait?since={applied['seq']}&event=closed&conn={applied['conn']}"))
        self.assertEqual(closed["reason"], {"reason": "refused", "code": "ServerUnavailable", "rule": "fault refuse_connect"})
        self.assertEqual(mqtt_connect(self.ready["tcp"], SECRET), 0, "times = 1: used up")
        status, online = call("GET", self.url(f"/events/wait?since={closed['seq']}&event=online&timeout_ms=5000"))
        self.assertEqual((status, online["device_name"]), (200, DN), online)
        page = call("GET", self.url("/events?since=0"))[1]
        self.assertEqual(page["missed"], 0)
        self.assertEqual([e["seq"] for e in page["events"]], list(range(1, page["next"] + 1)))
        self.assertIn(online, page["events"])

    def test_3_a_rotated_secret_refuses_the_old_one(self):
        status, rotated = call("POST", self.url(f"/devices/{PK}/{DN}/secret"), {"secret": "pythonRotated01"})
        self.assertEqual((status, rotated), (200, {"product_key": PK, "device_name": DN, "rotated": True}))
        self.assertEqual(mqtt_connect(self.ready["tcp"], SECRET), 4, "the old secret: bad credentials")
        self.assertEqual(mqtt_connect(self.ready["tcp"], "pythonRotated01"), 0)
        devices = json.dumps(call("GET", self.url("/devices"))[1])
        self.assertNotIn("pythonRotated01", devices)
        self.assertNotIn(SECRET, devices)

    def test_4_bad_requests_say_what_was_wrong(self):
        status, missing = call("GET", self.url("/nope"))
        self.assertEqual(status, 404)
        self.assertIn("POST /faults", missing["routes"])
        status, refused = call("POST", self.url("/faults"), {"fault": "refuse_connect", "code": 0})
        self.assertEqual(status, 422)
        self.assertIn("not a refusal", refused["error"])
        self.assertEqual(call("GET", self.url("/events/wait?event=online&since=100000&timeout_ms=1"))[0], 400)
        head = call("GET", self.url("/events"))[1]["next"]
        waited = "no event with event=online within 100 ms; 0 other events seen."
        self.assertEqual(call("GET", self.url(f"/events/wait?since={head}&event=online&timeout_ms=100")),
                         (408, {"error": waited, "closest": []}))

    def test_5_sigterm_shuts_the_broker_down(self):
        self.broker.send_signal(signal.SIGTERM)
        self.assertEqual(self.broker.wait(timeout=20), 0, self.broker.stderr.read().decode())


class PlatformRestartScenario(Broker):
    extra = ["--scenario", os.path.join(os.environ.get("MOCK_BROKER_SCENARIOS", "examples/scenarios"),
                                        "platform-restart.toml")]

    def url(self, path):
        return self.control + path

    def test_the_storm_refuses_four_logins_then_lets_the_fifth_in(self):
        # The scenario arms its storm at 3 s: wait for it on the endpoint.
        status, armed = call("GET", self.url("/events/wait?event=fault&timeout_ms=20000"))
        self.assertEqual((status, armed["name"], armed["phase"]), (200, "restart storm", "armed"), armed)
        codes = [mqtt_connect(self.ready["tcp"], SECRET) for _ in range(5)]
        self.assertEqual(codes, [3, 3, 3, 3, 0], "four CONNACK 0x03 (server unavailable), then online")


if __name__ == "__main__":
    unittest.main(verbosity=2)
