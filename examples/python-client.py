#!/usr/bin/env python3
import hmac, os, time, urllib.parse, paho.mqtt.client as mqtt  # pip install paho-mqtt
e, u, ts = os.environ, urllib.parse.urlparse(os.environ["IOT_URL"]), str(int(time.time() * 1000))
cid, method, secure = e["IOT_CLIENT_ID"], e["IOT_SIGN_METHOD"], u.scheme in ("wss", "tls")
content = f"clientId{cid}deviceName{e['IOT_DEVICE_NAME']}productKey{e['IOT_PRODUCT_KEY']}timestamp{ts}"
client_id = f"{cid}|securemode={2 if secure else 3},signmethod={method},timestamp={ts}|"
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id, transport="websockets" if u.scheme.startswith("ws") else "tcp")
c.username_pw_set(f"{e['IOT_DEVICE_NAME']}&{e['IOT_PRODUCT_KEY']}", hmac.new(e["IOT_DEVICE_SECRET"].encode(), content.encode(), method[4:]).hexdigest())
if secure: c.tls_set(ca_certs=e["IOT_CA_FILE"])
if u.scheme.startswith("ws"): c.ws_set_options(path=u.path)
def on_connect(c, userdata, flags, reason, properties):  # on every connect: cleanSession=1 forgot the subscription
    if not reason.is_failure: c.subscribe(e["IOT_SUBSCRIBE_TOPIC"], qos=1)
c.on_connect = on_connect
c.connect(u.hostname, u.port, keepalive=int(e.get("IOT_KEEPALIVE", "300")))
c.publish(e["IOT_PUBLISH_TOPIC"], '{"params":{"temperature":21.5}}', qos=1)  # queued, sent once connected
c.loop_forever()  # paho pings within the keepalive and reconnects by itself
