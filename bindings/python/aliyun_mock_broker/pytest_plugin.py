"""A pytest plugin: the `mock_broker` fixture, one `MockBroker` per test.

Enable it with `pytest -p aliyun_mock_broker.pytest_plugin`, with
`pytest_plugins = ["aliyun_mock_broker.pytest_plugin"]` in a conftest.py, or by installing the
package (its `pytest11` entry point loads it).

The fixture starts the binary (`$MOCK_BROKER` or `mock-broker` on PATH) before the test and
yields the `MockBroker`. When the test body has passed, the plugin verifies the expectations the
test declared and fails the test with the broker's report if one was not met; when the body
failed, the report is attached to the failure as a section instead. Whatever happened, the
broker is stopped at teardown.

Options come from the `mock_broker` marker or, with `indirect=True` parametrization, from the
fixture's parameter (a dict of the same keywords)::

    @pytest.mark.mock_broker(devices=["a1B2c3D4e5F/sensor-01/s3cretS3cret"], args=["--rate-limit", "5"])
    def test_sensor_reports(mock_broker):
        mock_broker.expect_publishes("a1B2c3D4e5F/sensor-01", "/a1B2c3D4e5F/sensor-01/user/update", times=1)
        run_my_device(mock_broker.credentials("a1B2c3D4e5F/sensor-01"))
"""

import pytest

from . import MockBroker

_BROKER = pytest.StashKey()


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "mock_broker(devices=[...], args=[...], start_timeout=20.0): options of the mock_broker fixture's "
        "broker (devices as 'pk/dn/secret', further mock-broker flags)")


@pytest.fixture
def mock_broker(request):
    """A running mock broker for this test; its expectations are verified after the test."""
    options = {}
    marker = request.node.get_closest_marker("mock_broker")
    if marker is not None:
        options.update(marker.kwargs)
    options.update(getattr(request, "param", None) or {})
    broker = MockBroker(**options)
    request.node.stash[_BROKER] = broker
    try:
        yield broker
    finally:
        broker.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After the test body: verify its broker's expectations (a failure fails the test)."""
    try:
        result = yield
    except (pytest.skip.Exception, KeyboardInterrupt):
        raise
    except BaseException:  # a failure of the test's own: its expectations' report goes beside it
        broker = item.stash.get(_BROKER, None)
        if broker is not None and broker.process.poll() is None:
            try:
                outcome = broker.verify(raise_on_failure=False)
                item.add_report_section("call", "mock-broker expectations", outcome["report"] or "all met")
            except Exception as error:  # the test's own failure is the one to show
                item.add_report_section("call", "mock-broker expectations", f"not verified: {error}")
        raise
    broker = item.stash.get(_BROKER, None)
    if broker is not None:
        outcome = broker.verify(raise_on_failure=False)
        if not outcome["passed"]:
            pytest.fail(outcome["report"], pytrace=False)
    return result
