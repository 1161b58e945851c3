"""`MockBroker` on its own, against the real binary: verify raises the report and ends the
scope, waits are bounded and say what they saw, refusals carry the broker's message, a broker
that cannot start says why, and the pytest entry point names the plugin."""

import importlib
import os

import pytest

from aliyun_mock_broker import ControlError, MockBroker, StartError, WaitTimeout

PK = "a1B2c3D4e5F"
SENSOR = f"{PK}/sensor-02"


@pytest.fixture
def broker():
    with MockBroker(devices=[(PK, "sensor-02", "sensorSecret0123")]) as broker:
        yield broker


def test_an_unmet_expectation_raises_the_report_and_ends_the_scope(broker):
    online = broker.expect_online(SENSOR, within=0.2)
    broker.expect_never_refused(SENSOR)
    with pytest.raises(AssertionError) as failure:
        broker.verify()
    report = str(failure.value)
    assert online["description"] in report, report
    assert broker.expectations() == []
    assert broker.verify()["passed"], "nothing left to verify"
    broker.expect_never_refused(SENSOR)
    assert broker.drop_expectations() == 1 and broker.expectations() == []


def test_waits_are_bounded_and_say_what_they_saw(broker):
    with pytest.raises(WaitTimeout) as timeout:
        broker.wait_event("online", since=broker.cursor(), timeout=0.2)
    assert isinstance(timeout.value, AssertionError) and timeout.value.status == 408
    assert "online" in str(timeout.value)
    with pytest.raises(WaitTimeout):
        broker.wait_online(SENSOR, timeout=0.2)
    with pytest.raises(WaitTimeout):
        broker.wait_uplink(SENSOR, timeout=0.2)


def test_refusals_carry_the_brokers_message(broker):
    with pytest.raises(ControlError) as offline:
        broker.kick(SENSOR)
    assert offline.value.status == 404 and "sensor-02" in offline.value.error
    with pytest.raises(ControlError) as unknown:
        broker.disable(f"{PK}/nobody-here")
    assert unknown.value.status == 404 and "nobody-here" in str(unknown.value)
    with pytest.raises(ValueError, match="productKey/deviceName"):
        broker.enable("no-slash")


def test_a_broker_that_cannot_start_says_why(tmp_path):
    with pytest.raises(StartError, match="--no-such-flag"):
        MockBroker(args=["--no-such-flag"])
    with pytest.raises(StartError, match="cannot run"):
        MockBroker(binary=str(tmp_path / "missing-binary"))


def test_close_stops_the_process(broker):
    pid = broker.ready["pid"]
    assert broker.process.pid == pid
    broker.close()
    assert broker.process.returncode == 0, broker.process.returncode
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_the_entry_point_names_the_plugin():
    tomllib = pytest.importorskip("tomllib")
    with open(os.path.join(os.path.dirname(__file__), os.pardir, "pyproject.toml"), "rb") as f:
        entry_points = tomllib.load(f)["project"]["entry-points"]["pytest11"]
    [(name, module)] = entry_points.items()
    assert name == module, "named after the module, so -p and pytest_plugins do not load it twice"
    assert hasattr(importlib.import_module(module), "mock_broker")
