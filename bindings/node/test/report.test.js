// withMockBroker fails a test whose expectations are not met, with the broker's readable
// report, and stops the broker whatever happened: a `node --test` sub-run of
// test-support/expectations-subrun.js (met, unmet, a body that fails on its own).
"use strict";

const assert = require("node:assert/strict");
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const test = require("node:test");

test("unmet expectations fail the test with the report", (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bindings-subrun-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const pids = path.join(dir, "pids");
  const subrun = path.join(__dirname, "..", "test-support", "expectations-subrun.js");
  // A runner of its own: without NODE_TEST_CONTEXT, which would make it report to this one.
  const { NODE_TEST_CONTEXT, ...env } = process.env;
  const run = spawnSync(process.execPath, ["--test", "--test-reporter=tap", subrun], {
    env: { ...env, MOCK_BROKER_PIDS: pids },
    encoding: "utf8",
    timeout: 120_000,
  });
  const output = `${run.stdout}\n${run.stderr}`;
  assert.equal(run.status, 1, output);
  assert.match(output, /^# pass 1$/m, output);
  assert.match(output, /^# fail 2$/m, output);

  const unmet = output.slice(output.indexOf("not ok 2 - unmet"), output.indexOf("# Subtest: body fails"));
  const topic = "/a1B2c3D4e5F/node-sensor-3/user/update";
  for (const line of [
    `NOT MET: a1B2c3D4e5F/node-sensor-3 publishes to ${topic} 2 times`,
    `expected: exactly 2 PUBLISH to ${topic}`,
    `observed: 1 PUBLISH to topics matching ${topic}`,
  ]) {
    assert.ok(unmet.includes(line), `${line} not in the report:\n${unmet}`);
  }
  const body = output.slice(output.indexOf("# Subtest: body fails"));
  assert.ok(body.includes("the body failed first"), body);

  const started = fs.readFileSync(pids, "utf8").trim().split("\n").map(Number);
  assert.equal(started.length, 3);
  for (const pid of started) assert.throws(() => process.kill(pid, 0), { code: "ESRCH" }, `broker ${pid} still running`);
});
