#!/usr/bin/env node
const mqtt = require("mqtt"), crypto = require("crypto"), fs = require("fs"), e = process.env; // npm install mqtt
const u = new URL(e.IOT_URL), secure = ["wss:", "tls:"].includes(u.protocol), ts = String(Date.now());
const cid = e.IOT_CLIENT_ID, method = e.IOT_SIGN_METHOD;
const content = `clientId${cid}deviceName${e.IOT_DEVICE_NAME}productKey${e.IOT_PRODUCT_KEY}timestamp${ts}`;
const url = { "tcp:": `mqtt://${u.host}`, "tls:": `mqtts://${u.host}` }[u.protocol] || e.IOT_URL;
const client = mqtt.connect(url, {
  clientId: `${cid}|securemode=${secure ? 2 : 3},signmethod=${method},timestamp=${ts}|`, protocolVersion: 4,
  username: `${e.IOT_DEVICE_NAME}&${e.IOT_PRODUCT_KEY}`, keepalive: Number(e.IOT_KEEPALIVE || 300), reconnectPeriod: 1000,
  password: crypto.createHmac(method.slice(4), e.IOT_DEVICE_SECRET).update(content).digest("hex"),
  ca: secure ? fs.readFileSync(e.IOT_CA_FILE) : undefined,
});
client.subscribe(e.IOT_SUBSCRIBE_TOPIC, { qos: 1 }); // both queued, sent once connected; MQTT.js resubscribes on every reconnect
client.publish(e.IOT_PUBLISH_TOPIC, '{"params":{"temperature":21.5}}', { qos: 1 });
