// Connects once with MQTT.js over ws or wss and prints the CONNACK code as JSON.
// Usage: node mqttjs_connect.js URL CLIENT_ID USERNAME PASSWORD [CA_FILE]
// Prints {"rc": N} or {"error": "..."}; exits 0 either way.
const fs = require("fs");
const mqtt = require("mqtt");

const [url, clientId, username, password, caFile] = process.argv.slice(2);
const options = { clientId, username, password, keepalive: 60, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10000 };
if (caFile) options.ca = fs.readFileSync(caFile);
const client = mqtt.connect(url, options);
let printed = false;
function report(result) {
  if (printed) return;
  printed = true;
  console.log(JSON.stringify(result));
  client.end(true);
  process.exit(0);
}
client.on("connect", (ack) => report({ rc: ack.returnCode }));
client.on("error", (err) => report(err.code !== undefined && typeof err.code === "number" ? { rc: err.code } : { error: err.message }));
client.on("close", () => setTimeout(() => report({ error: "closed without CONNACK" }), 100));
setTimeout(() => report({ error: "no CONNACK within 12 s" }), 12000);
