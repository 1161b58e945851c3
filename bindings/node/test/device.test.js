// withMockBroker against the real binary, with MQTT.js as the device: a device that does its job
// meets its expectations (verified in t.after), the uplink view shows what it published, and
// runtime edits change how its next login is answered.
"use strict";

const assert = require("node:assert/strict");
const path = require("node:path");
const test = require("node:test");
const { withMockBroker } = require("..");
const { Device } = require(path.join(__dirname, "..", "test-support", "device.js"));

const PK = "a1B2c3D4e5F";
const SENSOR = `${PK}/node-sensor`;
const UPDATE = `/${PK}/node-sensor/user/update`;
const GET = `/${PK}/node-sensor/user/get`;
const options = { devices: [`${SENSOR}/nodeSecret0123`] };

for (const transport of ["tcp", "wss"]) {
  test(`a device that does its job meets every expectation (${transport})`, async (t) => {
    const broker = await withMockBroker(t, options);
    await broker.expectOnline(SENSOR, { withinMs: 5000 });
    await broker.expectSubscribes(SENSOR, GET, { withinMs: 5000 });
    await broker.expectPublishes(SENSOR, UPDATE, { times: 2 });
    await broker.expectNeverRefused(SENSOR);
    await broker.expectNeverBreaks("S-TOPIC-OWN", { device: SENSOR });
    assert.equal((await broker.expectations()).length, 5);

    const device = await Device.connect(broker, SENSOR, { transport });
    t.after(() => device.close());
    assert.equal(device.connack, 0);
    assert.ok((await broker.waitOnline(SENSOR)) >= 1);
    await device.subscribe(GET);
    assert.equal((await broker.waitSubscribed(SENSOR, GET)).qos, 1);
    assert.equal((await broker.publish(SENSOR, GET, "reboot", 1)).delivery, "delivered");
    assert.deepEqual(await device.nextMessage(), { topic: GET, payload: "reboot" });
    for (const n of [1, 2]) await device.publish(UPDATE, JSON.stringify({ n }));
    // withMockBroker verifies the five expectations once this body is done; they are met.
  });
}

test("verify lists each expectation met", async (t) => {
  const broker = await withMockBroker(t, options);
  const declared = await broker.expectPublishes(SENSOR, `/${PK}/node-sensor/user/#`, { atLeast: 1 });
  const device = await Device.connect(broker, SENSOR);
  await device.publish(UPDATE, "{}");
  await device.close();
  const outcome = await broker.verify();
  assert.ok(outcome.passed, outcome.report);
  assert.deepEqual(
    outcome.results.map((r) => [r.id, r.description, r.met]),
    [[declared.id, declared.description, true]],
  );
  assert.deepEqual(await broker.expectations(), [], "verify ends the expectations' scope");
});

test("the uplink view shows what the device published", async (t) => {
  const broker = await withMockBroker(t, options);
  const device = await Device.connect(broker, SENSOR, { transport: "ws" });
  await device.publish(UPDATE, '{"temperature": 21.5}');
  await device.publish(UPDATE, Buffer.from([0xff, 0x00, 0x72]), 0);
  const text = await broker.waitUplink({ device: SENSOR, topic: UPDATE });
  assert.deepEqual([text.topic, text.payload_text], [UPDATE, '{"temperature": 21.5}']);
  assert.equal(text.qos, 1);
  assert.deepEqual([text.product_key, text.device_name], [PK, "node-sensor"]);
  const raw = await broker.waitUplink({ device: SENSOR, topic: `/${PK}/+/user/update`, since: text.seq });
  assert.equal(raw.payload_text, null);
  assert.deepEqual([...Buffer.from(raw.payload_base64, "base64")], [0xff, 0x00, 0x72]);
  await device.close();
  const page = await broker.uplinks({ device: SENSOR, topic: "#" });
  assert.deepEqual(page.uplinks.map((u) => u.seq), [text.seq, raw.seq]);
  assert.equal(page.missed, 0);
  assert.deepEqual((await broker.uplinks({ since: page.next })).uplinks, []);
  assert.deepEqual((await broker.uplinks({ topic: GET })).uplinks, []);
});

test("runtime edits change how the next login is answered", async (t) => {
  const broker = await withMockBroker(t, options);
  const added = `${PK}/node-added`;
  await broker.addDevice(added, "addedSecret0123");
  assert.ok((await broker.devices()).some((d) => d.device_name === "node-added"));
  const addedDevice = await Device.connect(broker, added);
  assert.equal(addedDevice.connack, 0);
  await broker.waitOnline(added);
  await addedDevice.close();

  await broker.disable(SENSOR);
  const cursor = await broker.cursor();
  assert.equal((await Device.connect(broker, SENSOR)).connack, 5, "a disabled device: CONNACK 0x05 (A-DEVICE)");
  const verdict = await broker.waitEvent({ event: "verdict", since: cursor, rule: "A-DEVICE", device: SENSOR });
  assert.deepEqual([verdict.rule, verdict.outcome], ["A-DEVICE", "fail"]);
  assert.equal((await broker.updatePolicy({ disabled_device_refusal: 4 })).disabled_device_refusal, 4);
  assert.equal((await Device.connect(broker, SENSOR)).connack, 4, "the policy's new refusal code, from the next connection on");
  await broker.enable(SENSOR);

  const before = await broker.credentials(SENSOR);
  await broker.rotateSecret(SENSOR, "rotatedSecret0123");
  assert.equal((await Device.connect(broker, SENSOR, { credentials: before })).connack, 4, "the old secret");
  const rotated = await Device.connect(broker, SENSOR);
  assert.equal(rotated.connack, 0, "credentials are signed with the current secret");
  await rotated.close();

  await broker.removeDevice(added);
  assert.ok((await broker.devices()).every((d) => d.device_name !== "node-added"));
});
