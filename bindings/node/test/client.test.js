// MockBroker on its own against the real binary: verify throws the report and ends the scope,
// waits are bounded and say what they saw, refusals carry the broker's message, and a broker
// that cannot start says why.
"use strict";

const assert = require("node:assert/strict");
const test = require("node:test");
const { MockBroker, ControlError, WaitTimeout, StartError } = require("..");

const SENSOR = "a1B2c3D4e5F/node-sensor-2";

async function started(t) {
  const broker = await MockBroker.start({ devices: [[...SENSOR.split("/"), "nodeSecret0123"]] });
  t.after(() => broker.stop());
  return broker;
}

test("an unmet expectation throws the report and ends the scope", async (t) => {
  const broker = await started(t);
  const online = await broker.expectOnline(SENSOR, { withinMs: 200 });
  await broker.expectNeverRefused(SENSOR);
  const failure = await broker.verify().then(() => null, (error) => error);
  assert.ok(failure instanceof assert.AssertionError, String(failure));
  assert.ok(failure.message.includes(online.description), failure.message);
  assert.equal(failure.results.filter((r) => !r.met).length, 1);
  assert.deepEqual(await broker.expectations(), []);
  assert.ok((await broker.verify()).passed, "nothing left to verify");
  await broker.expectNeverRefused(SENSOR);
  assert.equal(await broker.dropExpectations(), 1);
});

test("waits are bounded and say what they saw", async (t) => {
  const broker = await started(t);
  const since = await broker.cursor();
  const timeout = await broker.waitEvent({ event: "online", since, timeoutMs: 200 }).catch((e) => e);
  assert.ok(timeout instanceof WaitTimeout && timeout.status === 408, String(timeout));
  assert.match(timeout.message, /online/);
  await assert.rejects(broker.waitOnline(SENSOR, { timeoutMs: 200 }), WaitTimeout);
  await assert.rejects(broker.waitUplink({ device: SENSOR, timeoutMs: 200 }), WaitTimeout);
});

test("refusals carry the broker's message", async (t) => {
  const broker = await started(t);
  await assert.rejects(broker.kick(SENSOR), (e) => e instanceof ControlError && e.status === 404 && e.error.includes("node-sensor-2"));
  await assert.rejects(broker.disable("a1B2c3D4e5F/nobody-here"), /404 .*nobody-here/);
  assert.throws(() => broker.enable("no-slash"), /productKey\/deviceName/);
});

test("a broker that cannot start says why", async () => {
  await assert.rejects(MockBroker.start({ args: ["--no-such-flag"] }), (e) => e instanceof StartError && e.message.includes("--no-such-flag"));
  await assert.rejects(MockBroker.start({ binary: "/nonexistent/mock-broker" }), (e) => e instanceof StartError && /cannot run/.test(e.message));
});

test("stop ends the process", async (t) => {
  const broker = await started(t);
  assert.equal(broker.pid, broker.ready.pid);
  await broker.stop();
  assert.equal(broker.child.exitCode, 0);
  assert.throws(() => process.kill(broker.ready.pid, 0), { code: "ESRCH" });
});
