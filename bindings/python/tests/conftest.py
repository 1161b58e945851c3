"""The binding's own tests: the plugin as a user enables it, and pytester to run sub-sessions."""

pytest_plugins = ["aliyun_mock_broker.pytest_plugin", "pytester"]
