// Console timings on loopback (BENCHMARKS.md, issue 6), in headless Chromium (playwright-core,
// Debian's /usr/bin/chromium) against a running `pacer demo` (run by scripts/bench.sh):
//
//   node console_timing.mjs <base url> <bootstrap password> <demo data dir> [rounds]
//
// Each measurement runs `rounds` times (default 5) and prints min / median / max in ms:
// - first render, signed out: navigation start → the sign-in form visible (`login-email`),
//   in a fresh browser context (no HTTP cache: the wasm is fetched and compiled each time);
// - first render, signed in: a fresh context carrying only the session cookie, navigation to
//   `/` → the Overview tiles visible with data (`overview-tiles`);
// - reload, signed in: the same in a context that has loaded the console before (ETag
//   revalidation, wasm from the HTTP cache);
// - live update: on the Jobs page with its subscription live, a signed webhook for a new job
//   is posted (secret from `<demo data dir>/demo-webhook-secret`); POST → durable ack and
//   POST → its `job-row` in the table, without a reload.
// The playwright-core package comes from $PACER_PEERS_DIR/node/node_modules
// (scripts/install-node-peers.sh).

import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const [base, password, dataDir, roundsArg] = process.argv.slice(2);
if (!base || !password || !dataDir) {
  console.error("usage: node console_timing.mjs <base url> <password> <demo data dir> [rounds]");
  process.exit(2);
}
const rounds = Number(roundsArg || 5);
const peers = process.env.PACER_PEERS_DIR || path.join(process.env.HOME, ".cache/pacer/peers");
const require = createRequire(path.join(peers, "node/node_modules/"));
const { chromium } = require("playwright-core");
const root = new URL("../../", import.meta.url).pathname;
const EMAIL = process.env.PACER_EMAIL || "admin@pacer.local";
const WAIT = 30_000;
const tid = (id) => `[data-testid="${id}"]`;

function stats(name, values) {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  console.log(
    `${name}: median ${median.toFixed(0)} ms (min ${sorted[0].toFixed(0)}, max ${sorted[sorted.length - 1].toFixed(0)}, n=${sorted.length})`,
  );
}

const browser = await chromium.launch({
  executablePath: process.env.PACER_CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
  ],
});
const viewport = { width: 1440, height: 900 };

try {
  // Sign in once; later contexts carry only this session cookie.
  const signIn = await browser.newContext({ viewport });
  const page = await signIn.newPage();
  await page.goto(`${base}/login`);
  await page.locator(tid("login-email")).fill(EMAIL);
  await page.locator(tid("login-password")).fill(password);
  await page.locator(tid("login-submit")).click();
  await page.locator(tid("page-overview")).waitFor({ state: "visible", timeout: WAIT });
  const cookies = await signIn.cookies();
  await signIn.close();

  const signedOut = [];
  const signedIn = [];
  const reload = [];
  for (let i = 0; i < rounds; i++) {
    const fresh = await browser.newContext({ viewport });
    const p = await fresh.newPage();
    let t0 = performance.now();
    await p.goto(`${base}/login`, { waitUntil: "commit" });
    await p.locator(tid("login-email")).waitFor({ state: "visible", timeout: WAIT });
    signedOut.push(performance.now() - t0);
    await fresh.close();

    const session = await browser.newContext({ viewport });
    await session.addCookies(cookies);
    const q = await session.newPage();
    t0 = performance.now();
    await q.goto(`${base}/`, { waitUntil: "commit" });
    await q.locator(tid("overview-tiles")).waitFor({ state: "visible", timeout: WAIT });
    signedIn.push(performance.now() - t0);
    t0 = performance.now();
    await q.reload({ waitUntil: "commit" });
    await q.locator(tid("overview-tiles")).waitFor({ state: "visible", timeout: WAIT });
    reload.push(performance.now() - t0);
    await session.close();
  }
  stats("first render, signed out (fresh context → sign-in form)", signedOut);
  stats("first render, signed in (fresh context → Overview tiles with data)", signedIn);
  stats("reload, signed in (HTTP cache warm → Overview tiles)", reload);

  // Live update: a webhook for a new job, then its row on the open Jobs page.
  const secret = fs.readFileSync(path.join(dataDir, "demo-webhook-secret"), "utf8").trim();
  const template = JSON.parse(
    fs.readFileSync(path.join(root, "testdata/webhooks/workflow_job.05.queued.json"), "utf8"),
  );
  const live = await browser.newContext({ viewport });
  await live.addCookies(cookies);
  const jobs = await live.newPage();
  await jobs.goto(`${base}/jobs`);
  await jobs.locator(tid("job-row")).first().waitFor({ state: "visible", timeout: WAIT });
  await jobs.waitForFunction(
    (sel) => document.querySelector(sel)?.textContent.trim() === "live",
    tid("live-indicator"),
    { timeout: WAIT },
  );
  const acks = [];
  const rows = [];
  const run = Date.now();
  for (let i = 0; i < rounds; i++) {
    const githubId = 80_000_000_000 + (run % 1_000_000_000) + i;
    const body = structuredClone(template);
    body.action = "queued";
    body.workflow_job.id = githubId;
    body.workflow_job.run_id = githubId + 1;
    body.workflow_job.labels = ["self-hosted"];
    body.workflow_job.runner_name = null;
    body.workflow_job.conclusion = null;
    body.repository.full_name = "acme/api";
    body.installation = { id: 4242 };
    const text = JSON.stringify(body);
    const signature = "sha256=" + crypto.createHmac("sha256", secret).update(text).digest("hex");
    const t0 = performance.now();
    const response = await fetch(`${base}/api/webhook`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-github-event": "workflow_job",
        "x-github-delivery": `console-timing-${run}-${i}`,
        "x-hub-signature-256": signature,
      },
      body: text,
    });
    const answer = await response.json();
    acks.push(performance.now() - t0);
    if (answer.status !== "queued") throw new Error(`the webhook was answered ${response.status} ${JSON.stringify(answer)}`);
    await jobs.waitForFunction(
      (id) => document.querySelector(`[data-testid="job-row"][data-job-id="${id}"]`) !== null,
      answer.job_id,
      { timeout: WAIT, polling: 10 },
    );
    rows.push(performance.now() - t0);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  stats("live update: webhook POST → durable ack", acks);
  stats("live update: webhook POST → job row on the open Jobs page", rows);
  await live.close();
} finally {
  await browser.close();
}
