// Drive the kit's `mock-broker` binary from Node tests, with no dependencies (child_process,
// fs, fetch; Node 20 or later).
//
// `MockBroker.start()` runs `mock-broker --control --ready-file FILE` (every listener and the
// control endpoint on free ports of 127.0.0.1, so tests may run in parallel), waits for its
// ready file and offers one async method per control route: cloud-side actions (`publish`,
// `kick`), runtime edits (`addDevice`, `disable`, `rotateSecret`, `updatePolicy`, ...), the
// views (`events`, `uplinks`) with their bounded waits (`waitEvent`, `waitUplink`,
// `waitOnline`, `waitSubscribed`), a device's `credentials`, and expectations (`expectOnline`,
// `expectPublishes`, ...) judged by `verify`, which throws an `AssertionError` carrying the
// broker's readable report when one is not met. `withMockBroker(t, options)` gives a
// `node:test` test a broker of its own, verified and stopped in `t.after`.
//
// The binary is `options.binary`, else `$MOCK_BROKER`, else `mock-broker` on PATH. Devices are
// named "productKey/deviceName" or [productKey, deviceName]; waits take `timeoutMs` and throw
// `WaitTimeout` with the broker's account of what it saw instead.
"use strict";

const assert = require("node:assert");
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

/** Milliseconds an HTTP answer may take beyond the wait the broker was asked for. */
const HTTP_MARGIN_MS = 10_000;
/** Brokers started and not yet stopped: killed when the process exits, whatever happened. */
const live = new Set();
process.on("exit", () => {
  for (const broker of live) broker.child.kill("SIGKILL");
});

/** The binary could not be started, or wrote no ready file in time (its stderr included). */
class StartError extends Error {}

/** The control endpoint refused a request: `status`, and `error`, the broker's message. */
class ControlError extends Error {
  constructor(method, target, status, body) {
    const error = body && typeof body === "object" && "error" in body ? body.error : body;
    super(`${method} ${target}: ${status} ${typeof error === "string" ? error : JSON.stringify(error)}`);
    Object.assign(this, { status, error, body });
  }
}

/** A wait ended without what it waited for (HTTP 408); the message says what was seen. */
class WaitTimeout extends ControlError {}

/** "pk/dn" or [pk, dn] as [pk, dn]. */
function splitDevice(device) {
  if (Array.isArray(device)) return device;
  const at = String(device).indexOf("/");
  if (at <= 0 || at === device.length - 1) throw new TypeError(`device ${JSON.stringify(device)}: expected "productKey/deviceName"`);
  return [device.slice(0, at), device.slice(at + 1)];
}

const deviceArg = (device) => (device === undefined ? undefined : splitDevice(device).join("/"));
const devicePath = (prefix, device) => `${prefix}/${splitDevice(device).map(encodeURIComponent).join("/")}`;

/** One running `mock-broker` process and a client of its control endpoint. */
class MockBroker {
  /**
   * Starts the binary and waits for its ready file.
   * @param {object} [options]
   * @param {Array<string|string[]>} [options.devices] "pk/dn/secret" or [pk, dn, secret]; without
   *   devices nor a `--registry` in `args`, the demo registry serves
   * @param {string[]} [options.args] further flags (`mock-broker --help`)
   * @param {string} [options.binary] the binary (default `$MOCK_BROKER`, else `mock-broker` on PATH)
   * @param {number} [options.startTimeoutMs] how long to wait for the ready file (20 s)
   */
  static async start({ devices = [], args = [], binary, startTimeoutMs = 20_000 } = {}) {
    const program = binary || process.env.MOCK_BROKER || "mock-broker";
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mock-broker-"));
    const readyPath = path.join(dir, "ready.json");
    const stderrPath = path.join(dir, "stderr.log");
    const command = [program, "--control", "--quiet", "--ready-file", readyPath, "--ca-out", path.join(dir, "ca.pem")];
    for (const device of devices) command.push("--device", Array.isArray(device) ? device.join("/") : device);
    command.push(...args);
    const stderr = fs.openSync(stderrPath, "w");
    const child = spawn(command[0], command.slice(1), { stdio: ["ignore", "ignore", stderr] });
    fs.closeSync(stderr);
    const broker = new MockBroker(child, dir, stderrPath);
    live.add(broker);
    try {
      broker.ready = await broker.#waitReady(readyPath, command, startTimeoutMs);
    } catch (error) {
      await broker.stop();
      throw error;
    }
    broker.control = broker.ready.control;
    broker.caFile = broker.ready.ca_file;
    return broker;
  }

  constructor(child, dir, stderrPath) {
    this.child = child;
    this.dir = dir;
    this.stderrPath = stderrPath;
    this.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    this.spawnError = null;
    child.once("error", (error) => {
      this.spawnError = error;
    });
  }

  async #waitReady(readyPath, command, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    let exit = null;
    this.exited.then((status) => {
      exit = status;
    });
    while (!fs.existsSync(readyPath)) {
      if (this.spawnError) throw new StartError(`cannot run ${command[0]}: ${this.spawnError.message}`);
      if (exit) throw new StartError(`${command.join(" ")} exited with ${exit.code ?? exit.signal} before it was ready:\n${this.stderr()}`);
      if (Date.now() > deadline) throw new StartError(`${command.join(" ")} wrote no ready file within ${timeoutMs} ms:\n${this.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // The broker writes the file whole, then renames it into place.
    return JSON.parse(fs.readFileSync(readyPath, "utf8"));
  }

  /** What the broker wrote on stderr so far. */
  stderr() {
    return fs.existsSync(this.stderrPath) ? fs.readFileSync(this.stderrPath, "utf8") : "";
  }

  /** The URL of a transport's listener: "ws", "wss", "tcp", "tls" or "mux". */
  url(transport) {
    return this.ready[transport];
  }

  /** The broker's process id. */
  get pid() {
    return this.child.pid;
  }

  /** Stops the broker: SIGTERM, then SIGKILL after `timeoutMs`. Idempotent. */
  async stop(timeoutMs = 10_000) {
    if (this.child.exitCode === null && this.child.signalCode === null && !this.spawnError) {
      this.child.kill("SIGTERM");
      let timer;
      const late = new Promise((resolve) => {
        timer = setTimeout(() => resolve("late"), timeoutMs);
      });
      if ((await Promise.race([this.exited, late])) === "late") {
        this.child.kill("SIGKILL");
        await this.exited;
      }
      clearTimeout(timer);
    }
    live.delete(this);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** One request to the control endpoint; resolves to the JSON answer. Throws `WaitTimeout` on
   * 408 and `ControlError` on any other refusal. */
  async call(method, route, { body, query = {}, waitMs = 0 } = {}) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== null) params.set(key, String(value));
    const target = route + (params.size ? `?${params}` : "");
    let response;
    try {
      response = await fetch(this.control + target, {
        method,
        headers: { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(HTTP_MARGIN_MS + waitMs),
      });
    } catch (error) {
      const state = this.child.exitCode === null ? "is running" : `exited with ${this.child.exitCode}`;
      throw new ControlError(method, target, 0, `control endpoint unreachable (${error.cause?.message ?? error.message}); the broker ${state}:\n${this.stderr()}`);
    }
    const text = await response.text();
    let answer;
    try {
      answer = JSON.parse(text);
    } catch {
      answer = text;
    }
    if (response.ok) return answer;
    throw new (response.status === 408 ? WaitTimeout : ControlError)(method, target, response.status, answer);
  }

  // Cloud-side actions and runtime edits.

  /** A downlink to one device; resolves to the delivery ({delivery: "delivered", ...}). */
  publish(device, topic, payload = "", qos = 0) {
    const [product_key, device_name] = splitDevice(device);
    return this.call("POST", "/publish", { body: { product_key, device_name, topic, payload, qos } });
  }

  /** Ends the device's connection as a login elsewhere would (S-KICK); resolves to its conn. */
  async kick(device) {
    return (await this.call("POST", `${devicePath("/devices", device)}/kick`)).kicked;
  }

  /** The registry: [{product_key, device_name, enabled, online}]. */
  async devices() {
    return (await this.call("GET", "/devices")).devices;
  }

  /** Registers a device at runtime. */
  addDevice(device, secret, { enabled = true } = {}) {
    const [product_key, device_name] = splitDevice(device);
    return this.call("POST", "/devices", { body: { product_key, device_name, secret, enabled } });
  }

  /** Removes a device from the registry: its next CONNECT is refused (A-DEVICE). */
  removeDevice(device) {
    return this.call("DELETE", devicePath("/devices", device));
  }

  enable(device) {
    return this.call("POST", `${devicePath("/devices", device)}/enable`);
  }

  /** Disables a device: its next CONNECT is refused (A-DEVICE); a live connection stays. */
  disable(device) {
    return this.call("POST", `${devicePath("/devices", device)}/disable`);
  }

  /** A new deviceSecret, from the device's next CONNECT on. */
  rotateSecret(device, secret) {
    return this.call("POST", `${devicePath("/devices", device)}/secret`, { body: { secret } });
  }

  policy() {
    return this.call("GET", "/policy");
  }

  /** Changes some policy fields (a partial object); resolves to the whole policy. */
  updatePolicy(changes) {
    return this.call("PATCH", "/policy", { body: changes });
  }

  /** Arms a fault ({fault: "refuse_connect", code: 3, times: 1}); resolves to its id. */
  async armFault(spec) {
    return (await this.call("POST", "/faults", { body: spec })).id;
  }

  async clearFaults() {
    return (await this.call("DELETE", "/faults")).cleared;
  }

  // Views and waits.

  /** A page of the transcript: {events, next, missed}. */
  events({ since = 0, limit } = {}) {
    return this.call("GET", "/events", { query: { since, limit } });
  }

  /** The newest event's seq: pass it as `since` to wait for what happens next. */
  async cursor() {
    let page = await this.events();
    while (page.events.length) page = await this.events({ since: page.next });
    return page.next;
  }

  /** The first event after cursor `since` matching every filter given: `event` a kind
   * ("online", "verdict", "closed"...), `rule` a rule ID (verdicts of that rule). */
  waitEvent({ event, since = 0, conn, device, rule, timeoutMs = 5000 } = {}) {
    const query = { since, event, conn, device: deviceArg(device), rule, timeout_ms: timeoutMs };
    return this.call("GET", "/events/wait", { query, waitMs: timeoutMs });
  }

  /** What devices published and the broker accepted: {uplinks, next, missed}; `topic` is an
   * MQTT filter. */
  uplinks({ since = 0, limit, device, topic } = {}) {
    return this.call("GET", "/uplinks", { query: { since, limit, device: deviceArg(device), topic } });
  }

  /** The first uplink after `since` from `device` on a topic matching filter `topic`:
   * {seq, conn, topic, qos, payload_text, payload_base64, ...}. */
  waitUplink({ device, topic, since = 0, timeoutMs = 5000 } = {}) {
    const query = { since, device: deviceArg(device), topic, timeout_ms: timeoutMs };
    return this.call("GET", "/uplinks/wait", { query, waitMs: timeoutMs });
  }

  /** Waits until the device is online; resolves to its connection number. */
  async waitOnline(device, { timeoutMs = 5000 } = {}) {
    const answer = await this.call("GET", `${devicePath("/devices", device)}/online`, { query: { timeout_ms: timeoutMs }, waitMs: timeoutMs });
    return answer.conn;
  }

  /** Waits until the device's live session holds a subscription to exactly `filter`;
   * resolves to {conn, qos}. */
  waitSubscribed(device, filter, { timeoutMs = 5000 } = {}) {
    return this.call("GET", `${devicePath("/devices", device)}/subscribed`, { query: { filter, timeout_ms: timeoutMs }, waitMs: timeoutMs });
  }

  /** A correct login for the device on a transport: {client_id, username, password, url, host,
   * port, securemode} (wss and tls: trust `caFile`). */
  credentials(device, { transport = "tcp", signMethod = "hmacsha256", clientId } = {}) {
    const query = { transport, sign_method: signMethod, client_id: clientId };
    return this.call("GET", devicePath("/credentials", device), { query });
  }

  // Expectations: each counts what happens after it is declared; `verify` judges them all.

  /** Declares an expectation (the route's JSON); resolves to {id, description}. */
  expect(expectation) {
    return this.call("POST", "/expectations", { body: expectation });
  }

  /** The device comes online within `withinMs`. */
  expectOnline(device, { withinMs = 5000 } = {}) {
    return this.expect({ kind: "online", device: deviceArg(device), within_ms: withinMs });
  }

  /** The device publishes on topics matching filter `topic` exactly `times` times, or `atLeast`
   * times (1 when neither is given), optionally within `withinMs`. */
  expectPublishes(device, topic, { times, atLeast, withinMs } = {}) {
    const count = times !== undefined ? { times } : { at_least: atLeast ?? 1 };
    return this.expect({ kind: "publishes", device: deviceArg(device), topic, ...count, within_ms: withinMs });
  }

  /** The device subscribes to exactly `filter`, optionally within `withinMs`. */
  expectSubscribes(device, filter, { withinMs } = {}) {
    return this.expect({ kind: "subscribes", device: deviceArg(device), filter, within_ms: withinMs });
  }

  /** No CONNECT of the device is refused. */
  expectNeverRefused(device) {
    return this.expect({ kind: "never_refused", device: deviceArg(device) });
  }

  /** No verdict of `rule` fails (for `device` only, if given). */
  expectNeverBreaks(rule, { device } = {}) {
    return this.expect({ kind: "never_breaks", rule, device: deviceArg(device) });
  }

  /** The expectations declared and not yet verified: [{id, description}]. */
  async expectations() {
    return (await this.call("GET", "/expectations")).expectations;
  }

  /** Forgets the pending expectations unverified; resolves to how many. */
  async dropExpectations() {
    return (await this.call("DELETE", "/expectations")).dropped;
  }

  /** Judges every pending expectation (waiting, bounded, for `within` deadlines) and ends their
   * scope. Resolves to {passed, report, results}; throws an AssertionError with the report when
   * one is not met, unless `throwOnFailure` is false. */
  async verify({ throwOnFailure = true } = {}) {
    const outcome = await this.call("POST", "/expectations/verify", { waitMs: 120_000 });
    if (throwOnFailure && !outcome.passed) {
      const error = new assert.AssertionError({ message: outcome.report });
      Object.defineProperty(error, "results", { value: outcome.results }); // not printed beside the report
      throw error;
    }
    return outcome;
  }
}

/**
 * A broker for one `node:test` test: started now, its expectations verified and the broker
 * stopped when the test ends (`t.after`); an unmet expectation fails the test with the report.
 * @param {import("node:test").TestContext} t
 * @param {object} [options] as for `MockBroker.start`
 */
async function withMockBroker(t, options) {
  const broker = await MockBroker.start(options);
  t.after(async () => {
    try {
      if (broker.child.exitCode === null) await broker.verify();
    } finally {
      await broker.stop();
    }
  });
  return broker;
}

module.exports = { MockBroker, withMockBroker, ControlError, WaitTimeout, StartError };
