// The device client of these tests: MQTT.js (MQTT 3.1.1, no automatic reconnect), logged in
// with the broker's /credentials for the device on a transport, over the CA the broker minted
// for wss and tls. Kept outside test/ so that `node --test test/` does not run it as a test.
"use strict";

const fs = require("node:fs");
const mqtt = require("mqtt");

const TIMEOUT_MS = 10_000;

class Device {
  /** Logs the device in; `connack` is the CONNACK code (0 accepted; a refused client is ended). */
  static async connect(broker, device, { transport = "tcp", credentials } = {}) {
    const creds = credentials ?? (await broker.credentials(device, { transport }));
    const options = {
      clientId: creds.client_id,
      username: creds.username,
      password: creds.password,
      protocolVersion: 4,
      keepalive: 60,
      reconnectPeriod: 0,
      connectTimeout: TIMEOUT_MS,
    };
    if (transport === "wss" || transport === "tls") options.ca = fs.readFileSync(broker.caFile);
    const client = mqtt.connect(creds.url, options);
    const messages = [];
    client.on("message", (topic, payload) => messages.push({ topic, payload: payload.toString() }));
    const connack = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no CONNACK within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
      const done = (code) => {
        clearTimeout(timer);
        resolve(code);
      };
      client.once("connect", (ack) => done(ack.returnCode));
      client.once("error", (error) => (typeof error.code === "number" ? done(error.code) : reject(error)));
    });
    const self = new Device(client, messages, connack);
    if (connack !== 0) await self.close();
    return self;
  }

  constructor(client, messages, connack) {
    Object.assign(this, { client, messages, connack });
  }

  /** Subscribes and waits for the SUBACK. */
  subscribe(filter, qos = 1) {
    return this.client.subscribeAsync(filter, { qos });
  }

  /** Publishes; at QoS 1 resolves once the PUBACK came (the broker has taken the message). */
  publish(topic, payload, qos = 1) {
    return this.client.publishAsync(topic, payload, { qos });
  }

  /** The next downlink received, within the timeout. */
  async nextMessage() {
    const deadline = Date.now() + TIMEOUT_MS;
    while (!this.messages.length) {
      if (Date.now() > deadline) throw new Error(`no message within ${TIMEOUT_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return this.messages.shift();
  }

  close() {
    return this.client.endAsync(true);
  }
}

module.exports = { Device };
