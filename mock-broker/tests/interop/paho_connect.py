"""Connects once with paho-mqtt over ws or wss and prints the CONNACK code as JSON.

Usage: paho_connect.py URL CLIENT_ID USERNAME PASSWORD [CA_FILE]
Prints {"rc": N} (N = CONNACK return code) or {"error": "..."}; exits 0 either way.
"""
import json
import sys
import threading
from urllib.parse import urlparse

import paho.mqtt.client as mqtt

url, client_id, username, password = sys.argv[1:5]
ca_file = sys.argv[5] if len(sys.argv) > 5 else None
u = urlparse(url)
done = threading.Event()
result = {}


# paho 2.x reports an MQTT 3.1.1 CONNACK code as the MQTT 5 reason code it maps to.
V5_TO_V3 = {0: 0, 132: 1, 133: 2, 136: 3, 134: 4, 135: 5}


def on_connect(client, userdata, flags, reason_code, properties):
    value = reason_code.value if hasattr(reason_code, "value") else int(reason_code)
    result["rc"] = V5_TO_V3.get(value, value)
    done.set()


def on_disconnect(client, userdata, flags, reason_code, properties):
    done.set()


c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, transport="websockets", protocol=mqtt.MQTTv311)
c.username_pw_set(username, password)
c.ws_set_options(path=u.path or "/")
if u.scheme == "wss":
    c.tls_set(ca_certs=ca_file)
c.on_connect = on_connect
c.on_disconnect = on_disconnect
try:
    c.connect(u.hostname, u.port, keepalive=60)
    c.loop_start()
    done.wait(10)
    c.loop_stop()
    c.disconnect()
except Exception as e:  # report, do not crash: the test reads stdout
    result["error"] = str(e)
if not result:
    result["error"] = "no CONNACK within 10 s"
print(json.dumps(result))
