"""The device client of these tests: paho-mqtt (MQTT 3.1.1), logged in with the broker's
`/credentials` for the device on a transport, over the CA the broker minted for wss and tls."""

import queue
import threading
import urllib.parse

import paho.mqtt.client as mqtt

# paho 2.x reports an MQTT 3.1.1 CONNACK code as the MQTT 5 reason code it maps to.
V5_TO_V3 = {0: 0, 132: 1, 133: 2, 136: 3, 134: 4, 135: 5}
TIMEOUT = 10


class Device:
    """One paho-mqtt client; `with Device(...)` disconnects it and stops its thread at the end."""

    def __init__(self, broker, device, transport="tcp", credentials=None):
        self.creds = credentials or broker.credentials(device, transport=transport)
        websocket = transport in ("ws", "wss")
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.creds["client_id"],
                                  transport="websockets" if websocket else "tcp", protocol=mqtt.MQTTv311)
        self.client.username_pw_set(self.creds["username"], self.creds["password"])
        if websocket:
            self.client.ws_set_options(path=urllib.parse.urlparse(self.creds["url"]).path or "/")
        if transport in ("wss", "tls"):
            self.client.tls_set(ca_certs=broker.ca_file)
        self.connack = None
        self._connacked = threading.Event()
        self._subacked = threading.Event()
        self.messages = queue.Queue()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *args: self._subacked.set()
        self.client.on_message = lambda client, userdata, message: self.messages.put((message.topic, message.payload))

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if self.connack is None:
            self.connack = V5_TO_V3.get(reason_code.value, reason_code.value)
        self._connacked.set()

    def connect(self):
        """Logs in; returns the CONNACK code (0 accepted). A refused client stops there."""
        self.client.connect(self.creds["host"], self.creds["port"], keepalive=60)
        self.client.loop_start()
        assert self._connacked.wait(TIMEOUT), f"no CONNACK within {TIMEOUT} s"
        if self.connack != 0:
            self.close()
        return self.connack

    def subscribe(self, topic_filter, qos=1):
        self._subacked.clear()
        self.client.subscribe(topic_filter, qos=qos)
        assert self._subacked.wait(TIMEOUT), f"no SUBACK for {topic_filter} within {TIMEOUT} s"

    def publish(self, topic, payload, qos=1):
        """Publishes and, at QoS 1, waits for the PUBACK: the broker has taken the message."""
        info = self.client.publish(topic, payload, qos=qos)
        info.wait_for_publish(TIMEOUT)
        assert info.is_published(), f"{topic}: not acknowledged within {TIMEOUT} s"

    def next_message(self):
        return self.messages.get(timeout=TIMEOUT)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
