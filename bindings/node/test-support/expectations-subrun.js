// Run by test/report.test.js as a `node --test` sub-run of its own: three tests with
// withMockBroker (met, unmet, a body that fails on its own), each writing its broker's pid to
// $MOCK_BROKER_PIDS so that the parent can check every broker was stopped.
"use strict";

const fs = require("node:fs");
const test = require("node:test");
const { withMockBroker } = require("..");
const { Device } = require("./device.js");

const SENSOR = "a1B2c3D4e5F/node-sensor-3";
const UPDATE = "/a1B2c3D4e5F/node-sensor-3/user/update";

async function broker(t) {
  const broker = await withMockBroker(t, { devices: [`${SENSOR}/nodeSecret0123`] });
  fs.appendFileSync(process.env.MOCK_BROKER_PIDS, `${broker.pid}\n`);
  return broker;
}

async function publishOnce(broker) {
  const device = await Device.connect(broker, SENSOR);
  await device.publish(UPDATE, "{}");
  await device.close();
}

test("met", async (t) => {
  const b = await broker(t);
  await b.expectPublishes(SENSOR, UPDATE, { times: 1 });
  await publishOnce(b);
});

test("unmet", async (t) => {
  const b = await broker(t);
  await b.expectPublishes(SENSOR, UPDATE, { times: 2 });
  await publishOnce(b);
});

test("body fails", async (t) => {
  const b = await broker(t);
  await b.expectOnline(SENSOR, { withinMs: 200 });
  throw new Error("the body failed first");
});
