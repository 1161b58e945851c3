"""The plugin fails a test whose expectations are not met, with the broker's readable report,
and stops the broker whatever happened: pytester runs a sub-session of three tests (met,
unmet, a body that fails on its own) with the plugin enabled by `-p`, as a user would."""

import os

UPDATE_FILTER = "/a1B2c3D4e5F/sensor-03/user/update"
INNER = '''
import os
import pytest
from paho_device import Device

PK = "a1B2c3D4e5F"
SENSOR = PK + "/sensor-03"
UPDATE = "/" + PK + "/sensor-03/user/update"
pytestmark = pytest.mark.mock_broker(devices=[SENSOR + "/sensorSecret0123"])


@pytest.fixture(autouse=True)
def record_pid(mock_broker):
    with open("pids.txt", "a") as f:
        f.write(str(mock_broker.ready["pid"]) + "\\n")


def publish_once(broker):
    with Device(broker, SENSOR) as device:
        assert device.connect() == 0
        device.publish(UPDATE, "{}")


def test_met(mock_broker):
    mock_broker.expect_publishes(SENSOR, UPDATE, times=1)
    publish_once(mock_broker)


def test_unmet(mock_broker):
    mock_broker.expect_publishes(SENSOR, UPDATE, times=2)
    publish_once(mock_broker)


def test_body_fails(mock_broker):
    mock_broker.expect_online(SENSOR, within=0.2)
    assert False, "the body failed first"
'''


def test_unmet_expectations_fail_the_test_with_the_report(pytester):
    pytester.makepyfile(test_device=INNER)
    result = pytester.runpytest("-p", "aliyun_mock_broker.pytest_plugin", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=2)
    output = result.stdout.str()
    unmet = output[output.index("_ test_unmet _"):output.index("_ test_body_fails _")]
    for line in (f"NOT MET: a1B2c3D4e5F/sensor-03 publishes to {UPDATE_FILTER} 2 times",
                 f"expected: exactly 2 PUBLISH to {UPDATE_FILTER}", f"observed: 1 PUBLISH to topics matching {UPDATE_FILTER}"):
        assert line in unmet, f"{line!r} not in the report:\n{unmet}"
    assert "Traceback" not in unmet, "the report alone, not the plugin's stack"
    body = output[output.index("_ test_body_fails _"):]
    assert "the body failed first" in body and "mock-broker expectations" in body, body
    pids = [int(line) for line in (pytester.path / "pids.txt").read_text().split()]
    assert len(pids) == 3
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"broker {pid} still running after its test")

