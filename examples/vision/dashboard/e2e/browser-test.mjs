#!/usr/bin/env node
// Browser test of the vision dashboard against the real pipeline: it starts vision-processor
// and `vision-demo run` (weir + enricher + registry + this dashboard's dist/), drives headless
// Chromium with playwright-core, and checks what the page shows through the DOM contract in
// ../README.md. Prints `ok   <check>` / `FAIL <check>: why`, then `N passed, N failed`.
//
//   node e2e/browser-test.mjs --demo PATH --processor PATH [--weir PATH] [--enricher PATH]
//        [--dashboard DIST_DIR] [--screenshot PNG] [--chromium PATH]

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";
import { Child, freePort } from "./procs.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const dashboardDir = path.resolve(here, "..");
const repoRoot = path.resolve(dashboardDir, "../../..");

const { values: opt } = parseArgs({
  options: {
    demo: { type: "string" },
    processor: { type: "string" },
    weir: { type: "string" },
    enricher: { type: "string" },
    dashboard: { type: "string", default: path.join(dashboardDir, "dist") },
    screenshot: { type: "string", default: path.join(repoRoot, "target/vision-dashboard.png") },
    chromium: { type: "string", default: "/usr/bin/chromium" },
    cameras: { type: "string", default: "8" },
    fps: { type: "string", default: "30" },
  },
});
if (!opt.demo || !opt.processor) {
  console.error("usage: browser-test.mjs --demo PATH --processor PATH [--weir PATH] [--enricher PATH] [--dashboard DIR] [--screenshot PNG]");
  process.exit(2);
}

const CACHE_TTL_S = 2;
/** The registry change must be on the page within the cache TTL plus this much. */
const REGISTRY_SLACK_MS = 3000;

let passed = 0;
let failed = 0;
function report(name, err, detail) {
  if (err) {
    failed += 1;
    console.log(`FAIL ${name}: ${err}`);
  } else {
    passed += 1;
    console.log(`ok   ${name}${detail ? ` (${detail})` : ""}`);
  }
}

/** Runs fn; a thrown Error is the failure reason, a returned string is shown after `ok`. */
async function check(name, fn) {
  try {
    report(name, null, await fn());
    return true;
  } catch (e) {
    report(name, e instanceof Error ? e.message : String(e));
    return false;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls probe() (returns {ok, why, detail}) until ok or the deadline; throws the last why. */
async function eventually(timeoutMs, probe, everyMs = 200) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await probe();
    if (r.ok) return r.detail;
    if (Date.now() >= deadline) throw new Error(`${r.why} (after ${(timeoutMs / 1000).toFixed(1)} s)`);
    await sleep(everyMs);
  }
}

/** Everything the DOM contract exposes, per tile. */
function readTiles(page) {
  return page.$$eval("[data-camera]", (tiles) =>
    tiles.map((t) => {
      const field = (n) => t.querySelector(`[data-field="${n}"]`);
      const text = (n) => field(n)?.textContent ?? null;
      const canvas = field("canvas");
      let boxes = null;
      try {
        boxes = JSON.parse(canvas?.getAttribute("data-boxes") ?? "null");
      } catch {
        boxes = "unparsable";
      }
      return {
        id: t.getAttribute("data-camera"),
        location: text("location"),
        status: text("status"),
        installDate: text("install-date"),
        state: text("state"),
        error: text("error"),
        eps: Number.parseFloat(text("eps") ?? ""),
        latencyMs: Number.parseFloat(text("latency-ms") ?? ""),
        boxes,
        frames: Number(canvas?.getAttribute("data-frames")),
      };
    }),
  );
}

/** probe for eventually(): every camera's tile satisfies pred (returns a reason or null). */
function allTiles(page, cameras, pred) {
  return async () => {
    const tiles = new Map((await readTiles(page)).map((t) => [t.id, t]));
    const bad = [];
    for (const id of cameras) {
      const t = tiles.get(id);
      const why = t ? pred(t) : "no tile";
      if (why) bad.push(`${id}: ${why}`);
    }
    return bad.length ? { ok: false, why: bad.slice(0, 4).join("; ") + (bad.length > 4 ? ` (+${bad.length - 4} more)` : "") } : { ok: true };
  };
}

function boxShapeProblem(boxes) {
  if (!Array.isArray(boxes)) return `data-boxes is ${JSON.stringify(boxes)}`;
  if (boxes.length === 0) return "no boxes yet";
  for (const b of boxes) {
    const ok =
      Array.isArray(b) && b.length === 6 && b.slice(0, 4).every(Number.isFinite) &&
      typeof b[4] === "string" && typeof b[5] === "number" && b[5] >= 0 && b[5] <= 1;
    if (!ok) return `malformed box ${JSON.stringify(b)}`;
  }
  return null;
}

// ---- the run --------------------------------------------------------------------------------

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "vision-e2e-"));
const children = [];
let browser = null;

async function cleanup() {
  await browser?.close().catch(() => {});
  // The demo first, with SIGTERM, so it stops weir and the enricher itself.
  for (const c of children) await c.stop(c.name === "vision-demo" ? "SIGTERM" : "SIGKILL");
}

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    console.log(`interrupted (${sig}), cleaning up`);
    cleanup().finally(() => process.exit(130));
  });
}

function startProcessor(port) {
  const p = new Child("processor", opt.processor, [
    "--listen", `127.0.0.1:${port}`, "--cameras", opt.cameras, "--fps", opt.fps,
  ]);
  children.push(p);
  return p;
}

function demoCli(...args) {
  return new Child("vision-demo", opt.demo, args);
}

async function main() {
  for (const [flag, p] of [["--demo", opt.demo], ["--processor", opt.processor], ["--chromium", opt.chromium]]) {
    if (!fs.existsSync(p)) throw new Error(`${flag} ${p}: no such file`);
  }
  if (!fs.existsSync(path.join(opt.dashboard, "index.html"))) {
    throw new Error(`${opt.dashboard}/index.html missing: run scripts/setup-vision-dashboard.sh first`);
  }

  const procPort = await freePort();
  let processor = startProcessor(procPort);
  if (!(await check("processor listening", async () => (await processor.waitForLine(/(?:^|\s)LISTENING (\S+)/, 20_000))[1]))) return;

  const [gatewayPort, uiPort] = [await freePort(), await freePort()];
  const runArgs = [
    "run", "--data", dataDir, "--gateway-port", String(gatewayPort), "--ui-port", String(uiPort),
    "--cache-ttl", String(CACHE_TTL_S), "--processor-addr", `127.0.0.1:${procPort}`, "--dashboard", opt.dashboard,
  ];
  if (opt.weir) runArgs.push("--weir", opt.weir);
  if (opt.enricher) runArgs.push("--enricher", opt.enricher);
  const demo = new Child("vision-demo", opt.demo, runArgs);
  children.unshift(demo);
  let url = null;
  await check("vision-demo serves the dashboard", async () => {
    url = (await demo.waitForLine(/(?:^|\s)DASHBOARD (http\S+)/, 90_000))[1];
    return url;
  });
  if (!url) return;

  let cameras = [];
  await check("config.json lists the cameras", async () => {
    const res = await fetch(new URL("/config.json", url));
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const cfg = await res.json();
    cameras = Array.isArray(cfg.cameras) ? cfg.cameras : [];
    if (cameras.length === 0) throw new Error(`no cameras in ${JSON.stringify(cfg)}`);
    return `${cameras.join(",")} via ${cfg.grpcWebUrl ?? cfg.grpcWebUrls}`;
  });
  if (cameras.length === 0) return;

  // Known registry values for one camera, set before the page opens, to check the tile
  // shows what the registry holds (the other cameras keep the demo's seeded rows).
  const known = { id: cameras[1] ?? cameras[0], location: "E2E bay 2", status: "maintenance", installDate: "2019-07-01" };
  await check(`registry set ${known.id}`, () => registrySet(known.id, known.location, known.status, known.installDate));

  browser = await chromium.launch({
    executablePath: opt.chromium,
    headless: true,
    // Root in a container: no user namespaces for the sandbox, and a small /dev/shm.
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.goto(url, { waitUntil: "load" });
  const loadId = await page.evaluate(() => window.__loadId);

  await check("a tile per camera with every contract field", () =>
    eventually(15_000, allTiles(page, cameras, (t) => {
      const missing = ["location", "status", "installDate", "state", "error"].filter((k) => t[k] === null);
      if (missing.length) return `missing ${missing.join(",")}`;
      return Number.isNaN(t.frames) ? "no canvas data-frames" : null;
    })),
  );
  await check("every tile streaming", () =>
    eventually(20_000, allTiles(page, cameras, (t) => (t.state === "streaming" ? null : `state ${t.state} ${t.error}`))),
  );
  await check("boxes drawn on every tile", () =>
    eventually(10_000, allTiles(page, cameras, (t) => boxShapeProblem(t.boxes))),
  );
  await check("boxes move", async () => {
    const before = new Map((await readTiles(page)).map((t) => [t.id, t]));
    await eventually(5_000, allTiles(page, cameras, (t) => {
      const b = before.get(t.id);
      if (t.frames <= b.frames) return `data-frames stuck at ${t.frames}`;
      return JSON.stringify(t.boxes) === JSON.stringify(b.boxes) ? "same boxes" : null;
    }));
    const t = before.get(cameras[0]);
    return `${cameras[0]} at ${t.frames} frames: ${JSON.stringify(t.boxes[0])}`;
  });
  await check("registry metadata on every tile", () =>
    eventually(5_000, allTiles(page, cameras, (t) =>
      t.location && t.status && t.installDate ? null : `location=${t.location} status=${t.status} install-date=${t.installDate}`)),
  );
  await check(`${known.id} shows the values set in the registry`, () =>
    eventually(CACHE_TTL_S * 1000 + REGISTRY_SLACK_MS, allTiles(page, [known.id], (t) =>
      t.location === known.location && t.status === known.status && t.installDate === known.installDate
        ? null
        : `shows ${JSON.stringify([t.location, t.status, t.installDate])}`)),
  );
  await check("more than 10 events/s on every tile", async () => {
    await eventually(10_000, allTiles(page, cameras, (t) => (t.eps > 10 ? null : `eps ${t.eps}`)));
    const eps = (await readTiles(page)).map((t) => t.eps);
    return `min ${Math.min(...eps)}, max ${Math.max(...eps)}`;
  });
  await check("camera-to-browser latency shown", async () => {
    await eventually(5_000, allTiles(page, cameras, (t) =>
      Number.isFinite(t.latencyMs) && t.latencyMs > -1000 && t.latencyMs < 10_000 ? null : `latency-ms ${t.latencyMs}`));
    const lat = (await readTiles(page)).map((t) => t.latencyMs).sort((a, b) => a - b);
    return `median ${lat[Math.floor(lat.length / 2)]} ms`;
  });

  const target = cameras[0];
  const newLocation = `Moved by e2e at ${new Date().toISOString().slice(11, 19)}`;
  await check(`registry update of ${target}'s location shown within ${CACHE_TTL_S} s TTL + 3 s`, async () => {
    const tile = (await readTiles(page)).find((t) => t.id === target);
    await registrySet(target, newLocation, tile.status, tile.installDate);
    const t0 = Date.now();
    await eventually(CACHE_TTL_S * 1000 + REGISTRY_SLACK_MS, allTiles(page, [target], (t) =>
      t.location === newLocation ? null : `still "${t.location}"`), 100);
    return `after ${Date.now() - t0} ms`;
  });

  await processor.stop("SIGKILL");
  await check("every tile shows state error with its error text after the processor is killed", async () => {
    // A tile alternates between error (waiting out its back-off) and short reconnect attempts,
    // so each one only has to be seen in error once.
    const seen = new Map();
    await eventually(20_000, async () => {
      for (const t of await readTiles(page)) {
        if (t.state === "error" && t.error) seen.set(t.id, t.error);
      }
      const missing = cameras.filter((id) => !seen.has(id));
      return missing.length ? { ok: false, why: `not yet in error: ${missing.join(",")}` } : { ok: true };
    });
    return `${cameras[0]}: "${seen.get(cameras[0])}"`;
  });

  processor = startProcessor(procPort);
  if (!(await check("processor restarted on the same port", async () => (await processor.waitForLine(/(?:^|\s)LISTENING (\S+)/, 20_000))[1]))) return;
  await check("every tile streaming again", async () => {
    const before = new Map((await readTiles(page)).map((t) => [t.id, t.frames]));
    const t0 = Date.now();
    // The longest back-off is 10 s, so every tile retries within that after the restart.
    await eventually(30_000, allTiles(page, cameras, (t) =>
      t.state !== "streaming" ? `state ${t.state}` : t.frames <= before.get(t.id) ? "no new frames" : null));
    const streamingAfter = ((Date.now() - t0) / 1000).toFixed(1);
    await eventually(10_000, allTiles(page, cameras, (t) => (t.eps > 10 ? null : `eps ${t.eps}`)));
    return `after ${streamingAfter} s, back above 10 events/s after ${((Date.now() - t0) / 1000).toFixed(1)} s`;
  });
  await check("reconnected without a page reload", async () => {
    const now = await page.evaluate(() => window.__loadId);
    if (!loadId || now !== loadId) throw new Error(`window.__loadId was ${loadId}, now ${now}`);
    return loadId;
  });
  await check("no uncaught errors in the page", async () => {
    if (pageErrors.length) throw new Error(pageErrors.slice(0, 3).join(" | "));
  });
  await check("screenshot written", async () => {
    fs.mkdirSync(path.dirname(opt.screenshot), { recursive: true });
    await page.screenshot({ path: opt.screenshot, fullPage: true });
    return opt.screenshot;
  });
}

async function registrySet(id, location, status, installDate) {
  const c = demoCli("registry", "set", "--data", dataDir, id, location, status, installDate);
  const e = await c.exitPromise;
  if (e.code !== 0) throw new Error(`vision-demo registry set exited ${e.error ?? e.signal ?? e.code}:\n${c.describeTail()}`);
}

try {
  await main();
} catch (e) {
  report("run", e instanceof Error ? e.message : String(e));
} finally {
  if (failed > 0) {
    for (const c of children) console.log(`--- last output of ${c.name}\n${c.describeTail()}`);
  }
  await cleanup();
  // Keep the demo's data (registry, logs) for a look after a failure, if there is any.
  if (failed === 0 || children.length === 0) fs.rmSync(dataDir, { recursive: true, force: true });
  else console.log(`kept ${dataDir}`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
