"""Drive the kit's `mock-broker` binary from Python tests, with the standard library only.

`MockBroker` starts `mock-broker --control --ready-file FILE` (every listener and the control
endpoint on free ports of 127.0.0.1, so tests may run in parallel), waits for its ready file,
and offers one method per control route: cloud-side actions (`publish`, `kick`), runtime edits
(`add_device`, `disable`, `rotate_secret`, `update_policy`, ...), the views (`events`,
`uplinks`) with their bounded waits (`wait_event`, `wait_uplink`, `wait_online`,
`wait_subscribed`), a device's `credentials`, and expectations (`expect_online`,
`expect_publishes`, ...) checked by `verify`, which raises `AssertionError` with the broker's
readable report when one is not met::

    with MockBroker(devices=["a1B2c3D4e5F/sensor-01/s3cretS3cret"]) as broker:
        broker.expect_publishes("a1B2c3D4e5F/sensor-01", "/a1B2c3D4e5F/sensor-01/user/update", times=1)
        creds = broker.credentials("a1B2c3D4e5F/sensor-01", transport="tcp")
        ...  # run the device client with creds["client_id"], creds["username"], creds["password"]
        broker.verify()

The binary is `binary=`, else `$MOCK_BROKER`, else `mock-broker` on PATH. Devices are named
`"productKey/deviceName"` or `(productKey, deviceName)`; waits take `timeout` in seconds and
raise `WaitTimeout` (an `AssertionError`) with the broker's account of what it saw instead.
The pytest fixture built on this is `aliyun_mock_broker.pytest_plugin`.
"""

import atexit
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref

__all__ = ["MockBroker", "ControlError", "WaitTimeout", "StartError"]

#: Seconds an HTTP answer may take beyond the wait the broker was asked for.
_HTTP_MARGIN = 10.0
#: Brokers started and not yet stopped, killed at interpreter exit whatever happened.
_LIVE = weakref.WeakSet()


class StartError(RuntimeError):
    """The binary could not be started, or wrote no ready file in time (its stderr included)."""


class ControlError(Exception):
    """The control endpoint refused a request: `status`, and `error`, the broker's message."""

    def __init__(self, method, path, status, body):
        self.status, self.body = status, body
        self.error = body.get("error", body) if isinstance(body, dict) else body
        super().__init__(f"{method} {path}: {status} {self.error}")


class WaitTimeout(ControlError, AssertionError):
    """A wait ended without what it waited for (HTTP 408); the message says what was seen."""


def _device(device):
    """`"pk/dn"` or `(pk, dn)` as a `(pk, dn)` pair."""
    if isinstance(device, str):
        pk, sep, dn = device.partition("/")
        if not (sep and pk and dn):
            raise ValueError(f"device {device!r}: expected 'productKey/deviceName'")
        return pk, dn
    pk, dn = device
    return pk, dn


def _device_arg(device):
    return None if device is None else "/".join(_device(device))


def _device_path(device):
    return "/devices/" + "/".join(urllib.parse.quote(part, safe="") for part in _device(device))


def _ms(seconds):
    return None if seconds is None else int(seconds * 1000)


class MockBroker:
    """One running `mock-broker` process and a client of its control endpoint.

    `devices`: `"pk/dn/secret"` strings or `(pk, dn, secret)` tuples (without devices nor a
    `--registry` in `args`, the demo registry serves); `args`: further flags
    (`mock-broker --help`); `start_timeout`: seconds to wait for the ready file. Starts at
    once; `close()` (or leaving a `with` block) stops it.
    """

    def __init__(self, devices=(), args=(), binary=None, start_timeout=20.0):
        self.binary = binary or os.environ.get("MOCK_BROKER") or shutil.which("mock-broker")
        if not self.binary:
            raise StartError("no mock-broker binary: pass binary=, set MOCK_BROKER or put mock-broker on PATH "
                             "(cargo install --path mock-broker)")
        self._dir = tempfile.TemporaryDirectory(prefix="mock-broker-")
        self.stderr_path = os.path.join(self._dir.name, "stderr.log")
        ready_path = os.path.join(self._dir.name, "ready.json")
        command = [self.binary, "--control", "--quiet", "--ready-file", ready_path,
                   "--ca-out", os.path.join(self._dir.name, "ca.pem")]
        for device in devices:
            command += ["--device", device if isinstance(device, str) else "/".join(device)]
        command += list(args)
        with open(self.stderr_path, "wb") as stderr:
            try:
                self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                stderr=stderr)
            except OSError as error:
                self._dir.cleanup()
                raise StartError(f"cannot run {self.binary}: {error}") from error
        _LIVE.add(self)
        try:
            self.ready = self._wait_ready(ready_path, command, start_timeout)
        except BaseException:
            self.close()
            raise
        self.control = self.ready["control"]
        self.ca_file = self.ready["ca_file"]

    def _wait_ready(self, path, command, timeout):
        deadline = time.monotonic() + timeout
        while not os.path.exists(path):
            code = self.process.poll()
            if code is not None:
                raise StartError(f"{' '.join(command)} exited with {code} before it was ready:\n{self.stderr()}")
            if time.monotonic() > deadline:
                raise StartError(f"{' '.join(command)} wrote no ready file within {timeout} s:\n{self.stderr()}")
            time.sleep(0.02)
        with open(path) as f:  # the broker writes it whole, then renames it into place
            return json.load(f)

    def stderr(self):
        """What the broker wrote on stderr so far."""
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def url(self, transport):
        """The URL of a transport's listener: `ws`, `wss`, `tcp`, `tls` or `mux`."""
        return self.ready[transport]

    def close(self, timeout=10.0):
        """Stops the broker: SIGTERM, then SIGKILL after `timeout` seconds. Idempotent."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        _LIVE.discard(self)
        self._dir.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # The control endpoint.

    def call(self, method, path, body=None, query=None, wait_ms=None):
        """One request to the control endpoint; returns the JSON answer. Raises `WaitTimeout`
        on 408 and `ControlError` on any other refusal."""
        query = {k: v for k, v in (query or {}).items() if v is not None}
        target = path + ("?" + urllib.parse.urlencode(query) if query else "")
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.control + target, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        timeout = _HTTP_MARGIN + (wait_ms or 0) / 1000
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                answer = json.loads(raw)
            except ValueError:
                answer = raw.decode(errors="replace")
            kind = WaitTimeout if error.code == 408 else ControlError
            raise kind(method, target, error.code, answer) from None
        except urllib.error.URLError as error:
            state = "running" if self.process.poll() is None else f"exited with {self.process.returncode}"
            raise ControlError(method, target, 0, f"control endpoint unreachable ({error.reason}); "
                                                  f"the broker {state}:\n{self.stderr()}") from None

    # Cloud-side actions and runtime edits.

    def publish(self, device, topic, payload="", qos=0):
        """A downlink to one device; returns the delivery (`{"delivery": "delivered", ...}`)."""
        pk, dn = _device(device)
        return self.call("POST", "/publish", {"product_key": pk, "device_name": dn, "topic": topic,
                                              "payload": payload, "qos": qos})

    def kick(self, device):
        """Ends the device's connection as a login elsewhere would (S-KICK); returns its conn."""
        return self.call("POST", _device_path(device) + "/kick")["kicked"]

    def devices(self):
        """The registry: `[{"product_key", "device_name", "enabled", "online"}]`."""
        return self.call("GET", "/devices")["devices"]

    def add_device(self, device, secret, enabled=True):
        """Registers a device at runtime."""
        pk, dn = _device(device)
        return self.call("POST", "/devices", {"product_key": pk, "device_name": dn, "secret": secret,
                                              "enabled": enabled})

    def remove_device(self, device):
        """Removes a device from the registry: its next CONNECT is refused (A-DEVICE)."""
        return self.call("DELETE", _device_path(device))

    def enable(self, device):
        return self.call("POST", _device_path(device) + "/enable")

    def disable(self, device):
        """Disables a device: its next CONNECT is refused (A-DEVICE); a live connection stays."""
        return self.call("POST", _device_path(device) + "/disable")

    def rotate_secret(self, device, secret):
        """A new deviceSecret, from the device's next CONNECT on."""
        return self.call("POST", _device_path(device) + "/secret", {"secret": secret})

    def policy(self):
        return self.call("GET", "/policy")

    def update_policy(self, changes=None, **fields):
        """Changes some policy fields (a partial object); returns the whole policy."""
        return self.call("PATCH", "/policy", {**(changes or {}), **fields})

    def arm_fault(self, spec):
        """Arms a fault (`{"fault": "refuse_connect", "code": 3, "times": 1}`); returns its id."""
        return self.call("POST", "/faults", spec)["id"]

    def clear_faults(self):
        return self.call("DELETE", "/faults")["cleared"]

    # Views and waits.

    def events(self, since=0, limit=None):
        """A page of the transcript: `{"events": [...], "next": CURSOR, "missed": N}`."""
        return self.call("GET", "/events", query={"since": since, "limit": limit})

    def cursor(self):
        """The newest event's seq: pass it as `since` to wait for what happens next."""
        page = self.events()
        while page["events"]:
            page = self.events(since=page["next"])
        return page["next"]

    def wait_event(self, event=None, since=0, conn=None, device=None, rule=None, timeout=5.0):
        """The first event after cursor `since` matching every filter given: `event` a kind
        (`online`, `verdict`, `closed`...), `rule` a rule ID (verdicts of that rule)."""
        return self.call("GET", "/events/wait", wait_ms=_ms(timeout), query={
            "since": since, "event": event, "conn": conn, "device": _device_arg(device), "rule": rule,
            "timeout_ms": _ms(timeout)})

    def uplinks(self, since=0, limit=None, device=None, topic=None):
        """What devices published and the broker accepted:
        `{"uplinks": [...], "next": SEQ, "missed": N}`; `topic` is an MQTT filter."""
        return self.call("GET", "/uplinks", query={"since": since, "limit": limit,
                                                   "device": _device_arg(device), "topic": topic})

    def wait_uplink(self, device=None, topic=None, since=0, timeout=5.0):
        """The first uplink after `since` from `device` on a topic matching filter `topic`:
        `{"seq", "conn", "topic", "qos", "payload_text", "payload_base64", ...}`."""
        return self.call("GET", "/uplinks/wait", wait_ms=_ms(timeout), query={
            "since": since, "device": _device_arg(device), "topic": topic, "timeout_ms": _ms(timeout)})

    def wait_online(self, device, timeout=5.0):
        """Waits until the device is online; returns its connection number."""
        return self.call("GET", _device_path(device) + "/online", wait_ms=_ms(timeout),
                         query={"timeout_ms": _ms(timeout)})["conn"]

    def wait_subscribed(self, device, filter, timeout=5.0):
        """Waits until the device's live session holds a subscription to exactly `filter`;
        returns `{"conn", "qos"}`."""
        return self.call("GET", _device_path(device) + "/subscribed", wait_ms=_ms(timeout),
                         query={"filter": filter, "timeout_ms": _ms(timeout)})

    def credentials(self, device, transport="tcp", sign_method="hmacsha256", client_id=None):
        """A correct login for the device on a transport: `{"client_id", "username",
        "password", "url", "host", "port", "securemode"}` (wss and tls: trust `ca_file`)."""
        pk, dn = _device(device)
        path = "/credentials/" + urllib.parse.quote(pk, safe="") + "/" + urllib.parse.quote(dn, safe="")
        return self.call("GET", path, query={"transport": transport, "sign_method": sign_method,
                                             "client_id": client_id})

    # Expectations: each counts what happens after it is declared; `verify` judges them all.

    def expect(self, expectation):
        """Declares an expectation (the route's JSON); returns `{"id", "description"}`."""
        return self.call("POST", "/expectations", expectation)

    def expect_online(self, device, within=5.0):
        """The device comes online within `within` seconds."""
        return self.expect({"kind": "online", "device": _device_arg(device), "within_ms": _ms(within)})

    def expect_publishes(self, device, topic, times=None, at_least=None, within=None):
        """The device publishes on topics matching filter `topic` exactly `times` times, or
        `at_least` times (1 when neither is given), optionally within `within` seconds."""
        body = {"kind": "publishes", "device": _device_arg(device), "topic": topic}
        if times is not None:
            body["times"] = times
        else:
            body["at_least"] = 1 if at_least is None else at_least
        if within is not None:
            body["within_ms"] = _ms(within)
        return self.expect(body)

    def expect_subscribes(self, device, filter, within=None):
        """The device subscribes to exactly `filter`, optionally within `within` seconds."""
        body = {"kind": "subscribes", "device": _device_arg(device), "filter": filter}
        if within is not None:
            body["within_ms"] = _ms(within)
        return self.expect(body)

    def expect_never_refused(self, device):
        """No CONNECT of the device is refused."""
        return self.expect({"kind": "never_refused", "device": _device_arg(device)})

    def expect_never_breaks(self, rule, device=None):
        """No verdict of `rule` fails (for `device` only, if given)."""
        body = {"kind": "never_breaks", "rule": rule}
        if device is not None:
            body["device"] = _device_arg(device)
        return self.expect(body)

    def expectations(self):
        """The expectations declared and not yet verified: `[{"id", "description"}]`."""
        return self.call("GET", "/expectations")["expectations"]

    def drop_expectations(self):
        """Forgets the pending expectations unverified; returns how many."""
        return self.call("DELETE", "/expectations")["dropped"]

    def verify(self, raise_on_failure=True):
        """Judges every pending expectation (waiting, bounded, for `within` deadlines) and ends
        their scope. Returns `{"passed", "report", "results"}`; raises `AssertionError` with
        the report when one is not met, unless `raise_on_failure` is false."""
        outcome = self.call("POST", "/expectations/verify", wait_ms=120_000)
        if raise_on_failure and not outcome["passed"]:
            raise AssertionError(outcome["report"])
        return outcome


@atexit.register
def _kill_leftovers():
    for broker in list(_LIVE):
        if broker.process.poll() is None:
            broker.process.kill()
