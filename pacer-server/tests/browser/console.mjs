// The operator console in headless Chromium (playwright-core, Debian's /usr/bin/chromium),
// against a running `pacer demo`:
//
//   node console.mjs <base url> <bootstrap password> <screenshot dir>
//
// Each scenario is a function; every passed step prints one `ok` line, the first failure prints
// `FAIL <scenario>: <what>`, saves `failure-<scenario>.png` and exits 1. Every scenario ends with
// a full-page screenshot `<n>-<scenario>.png` and a check that the page logged no console error
// and threw nothing. Waits are bounded (WAIT ms per expectation); nothing sleeps to synchronise.
// Run by pacer-server/tests/it/console.rs, which starts the demo.

import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";

const [base, password, shots] = process.argv.slice(2);
if (!base || !password || !shots) {
  console.error("usage: node console.mjs <base url> <password> <screenshot dir>");
  process.exit(2);
}
const EMAIL = process.env.PACER_EMAIL || "admin@pacer.local";
/** The bound of every single expectation, in ms. */
const WAIT = 20_000;
/** Names this run creates, unique per run so a reused data directory cannot confuse them. */
const RUN = Date.now().toString(36);
const PROJECT = `browser-${RUN}`;
const POOL = "ci";
const REPO = `browser-test/app-${RUN}`;
const IMPORTED = `imported-${RUN}`;

fs.mkdirSync(shots, { recursive: true });

class Failure extends Error {}

let scenario = "setup";
/** Console errors and uncaught exceptions of the page, as text. */
const problems = [];
/** Console errors a step expects (each pattern absorbs the matching messages while active). */
const expected = [];
/** Every text frame the page received over its WebSockets. */
const frames = [];

function ok(step) {
  console.log(`ok   ${scenario}: ${step}`);
}

function fail(what) {
  throw new Failure(what);
}

const tid = (id) => `[data-testid="${id}"]`;
/** A test id, or a selector as it is. */
const sel = (id) => (id.startsWith("[") ? id : tid(id));
/** The table row of this kind (`project-row`, …) with these data attributes. */
const row = (id, attrs) => tid(id) + Object.entries(attrs).map(([k, v]) => `[data-${k}="${v}"]`).join("");

/** Polls `check` (sync or async) every 100 ms until it returns a truthy value, or fails. */
async function until(what, check, timeout = WAIT) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      fail(`timed out after ${timeout / 1000} s waiting for ${what}${last ? ` (last error: ${last.message})` : ""}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits until the element with this test id is visible. */
async function visible(page, id, what = id) {
  const locator = page.locator(sel(id)).first();
  try {
    await locator.waitFor({ state: "visible", timeout: WAIT });
  } catch {
    fail(`${what} (${sel(id)}) is not visible after ${WAIT / 1000} s`);
  }
  return locator;
}

/** Waits until no element with this test id is visible. */
async function gone(page, id, what = id) {
  try {
    await page.locator(sel(id)).first().waitFor({ state: "hidden", timeout: WAIT });
  } catch {
    fail(`${what} (${sel(id)}) is still visible after ${WAIT / 1000} s`);
  }
}

async function text(locator) {
  return ((await locator.textContent({ timeout: WAIT })) ?? "").trim();
}

/** Runs `body` with console errors matching `pattern` tolerated (the step provokes them). */
async function tolerating(pattern, body) {
  expected.push(pattern);
  try {
    return await body();
  } finally {
    expected.splice(expected.indexOf(pattern), 1);
  }
}

function checkNoProblems() {
  if (problems.length > 0) {
    const list = problems.splice(0).join("\n  ");
    fail(`the page logged errors:\n  ${list}`);
  }
  ok("no console errors or page errors");
}

// The sidebar: (label, test id suffix, path).
const PAGES = [
  ["Overview", "overview", "/"],
  ["Jobs", "jobs", "/jobs"],
  ["Stats", "stats", "/stats"],
  ["Audit", "audit", "/audit"],
  ["Projects", "projects", "/projects"],
  ["Repos", "repos", "/repos"],
  ["Pools", "pools", "/pools"],
  ["Backup", "backup", "/backup"],
  ["Settings", "settings", "/settings"],
];

/** Goes to a page through the sidebar (client-side routing, no page load). */
async function navigate(page, name) {
  await page.locator(tid(`nav-${name}`)).click();
  await visible(page, `page-${name}`, `the ${name} page`);
}

function jobIds(rows) {
  return rows.map((r) => Number(r)).filter((n) => Number.isFinite(n));
}

// ---- scenarios -------------------------------------------------------------------------------

async function signIn(page) {
  await page.goto(`${base}/jobs`);
  await visible(page, "login-page", "the sign-in page (a signed-out deep link is sent to sign in)");
  await until("the URL /login", () => new URL(page.url()).pathname === "/login");
  ok("signed out, a deep link lands on /login");
  await page.locator(tid("login-email")).fill(EMAIL);
  await page.locator(tid("login-password")).fill(password);
  await page.locator(tid("login-submit")).click();
  await visible(page, "page-overview", "the Overview after signing in");
  await until("the URL /", () => new URL(page.url()).pathname === "/");
  const user = await text(await visible(page, "current-user", "the signed-in user"));
  if (user !== EMAIL) fail(`the sidebar shows ${JSON.stringify(user)}, not ${EMAIL}`);
  ok(`signed in as ${user} with the printed password`);
}

/** The month's spend as the API answers it (the session's cookie rides along). */
async function monthSpend(page) {
  const query = "{ spend(window: {monthToDate: true}) { from total { micros } jobs unpriced } }";
  const response = await page.request.post(`${base}/graphql`, {
    data: { query },
    headers: { "x-pacer-request": "1" },
  });
  const body = await response.json();
  if (!response.ok() || body.errors) fail(`spend query: ${response.status()} ${JSON.stringify(body)}`);
  const spend = body.data.spend;
  return { from: spend.from, total: BigInt(spend.total.micros), jobs: spend.jobs, unpriced: spend.unpriced };
}

/**
 * The Overview's spend card, freshly loaded: the month-to-date total and the jobs without cost
 * beside the top projects and repos. The demo keeps ending jobs, and the month's figures only
 * grow, so what the card shows lies between the API's answers before it loaded and after it was
 * read; within the card, the projects (and the repos) add up to the total while fewer than its
 * five rows hold them all. A race between refreshes cannot fail it, a wrong figure does.
 */
async function spendCard(page) {
  const before = await monthSpend(page);
  await page.goto(`${base}/`);
  await visible(page, "page-overview", "the Overview");
  await visible(page, "spend-total", "the spend total");
  // One read of the whole card, so a refresh cannot land between its figures.
  const card = await page.locator(tid("spend-card")).evaluate((card) => {
    const one = (id) => card.querySelector(`[data-testid="${id}"]`);
    const micros = (id) => [...card.querySelectorAll(`[data-testid="${id}-row"]`)].map((r) => r.dataset.micros);
    return {
      window: one("spend-window").textContent.trim(),
      total: one("spend-total").dataset.micros,
      shown: one("spend-total").textContent.trim(),
      jobs: Number(one("spend-jobs").dataset.count),
      unpriced: Number(one("spend-unpriced").dataset.count),
      unpricedText: one("spend-unpriced").textContent.trim(),
      rows: { "spend-projects": micros("spend-projects"), "spend-repos": micros("spend-repos") },
    };
  });
  const { window, shown, jobs, unpriced, unpricedText, rows } = card;
  const total = BigInt(card.total);
  if (!/ to date$/.test(window)) fail(`the spend card's window reads ${JSON.stringify(window)}`);
  if (!/^(\$[\d,]+\.\d{2}|\$0\.\d{4}|<\$0\.0001)$/.test(shown)) fail(`the spend total reads ${JSON.stringify(shown)}`);
  const expected = `${unpriced.toLocaleString("en-US")} job${unpriced === 1 ? "" : "s"}`;
  if (unpricedText !== expected) fail(`jobs without cost read ${JSON.stringify(unpricedText)}, not ${expected}`);
  // Read after the card: the card asked between the two answers (it refreshes every 30 s).
  const after = await monthSpend(page);
  if (before.from === after.from) {
    const within = (what, low, value, high) => {
      if (value < low || value > high) fail(`the card's ${what} ${value} is outside the API's ${low}..${high}`);
    };
    within("total", before.total, total, after.total);
    within("jobs", before.jobs, jobs, after.jobs);
    within("jobs without cost", before.unpriced, unpriced, after.unpriced);
  }
  for (const [list, micros] of Object.entries(rows)) {
    const sum = micros.reduce((a, m) => a + BigInt(m), 0n);
    if (micros.length < 5 && sum !== total) fail(`${list} add up to ${sum}, the total is ${total}`);
  }
  ok(`the spend card: ${shown} this month over ${jobs} jobs, ${unpricedText} without cost, as the API says`);
}

/** What must be on each page once it has loaded its data. */
async function pageContent(page, name) {
  switch (name) {
    case "overview": {
      await visible(page, "overview-tiles", "the Overview tiles");
      await visible(page, "daily-chart", "the daily chart");
      await visible(page, "spend-card", "the spend card");
      const projects = await text(page.locator(tid("tile-projects-value")));
      if (Number(projects) < 3) fail(`the projects tile shows ${projects}, the demo seeds 3`);
      break;
    }
    case "jobs":
      await visible(page, "job-row", "a job row");
      await visible(page, "status-filter", "the status filter");
      break;
    case "stats":
      await visible(page, "stats-jobs", "the Jobs run tile");
      await visible(page, "stats-table", "the breakdown table");
      break;
    case "audit":
      await visible(page, "audit-row", "an audit row");
      break;
    case "projects":
      await until("3 seeded projects", async () => (await page.locator(tid("project-row")).count()) >= 3);
      break;
    case "repos":
      await until("4 seeded repos", async () => (await page.locator(tid("repo-row")).count()) >= 4);
      break;
    case "pools":
      await until("5 seeded pools", async () => (await page.locator(tid("pool-row")).count()) >= 5);
      break;
    case "backup":
      await visible(page, "backup-export", "the export button");
      await visible(page, "import-dry-run", "the dry-run button");
      break;
    case "settings":
      await visible(page, "token-fingerprint", "the bootstrap token fingerprint");
      {
        const source = await text(await visible(page, "github-app-source", "where the GitHub App comes from"));
        if (!source.startsWith("Set in the configuration")) fail(`the GitHub App card says: ${source}`);
      }
      await page.locator(tid("run-checks")).click();
      await visible(page, "checks-table", "the checks");
      {
        const statuses = await page.locator(tid("check-status")).allTextContents();
        if (statuses.length < 10 || statuses.includes("failed")) fail(`checks in demo mode: ${statuses.join(", ")}`);
      }
      break;
    default:
      fail(`no content check for ${name}`);
  }
  const errors = page.locator('[role="alert"]');
  if ((await errors.count()) > 0) fail(`${name} shows an error: ${await text(errors.first())}`);
}

async function everyPage(page) {
  for (const [label, name, route] of PAGES) {
    await navigate(page, name);
    await until(`the URL ${route}`, () => new URL(page.url()).pathname === route);
    await pageContent(page, name);
    const active = await page.locator(tid(`nav-${name}`)).getAttribute("class");
    if (!/\bactive\b/.test(active ?? "")) fail(`the ${label} sidebar link is not marked active (${active})`);
    await until(`the title "${label} · Pacer"`, async () => (await page.title()) === `${label} · Pacer`);
    ok(`${label} through the sidebar`);
  }
  for (const [label, name, route] of PAGES) {
    await page.goto(`${base}${route}`);
    await visible(page, `page-${name}`, `the ${label} page by deep link`);
    await pageContent(page, name);
    ok(`${label} by deep link ${route}`);
  }
  await page.goto(`${base}/no/such/page`);
  await visible(page, "page-not-found", "the not-found page");
  ok("an unknown path shows the not-found page");

  // The audit info badge opens the full payload.
  await page.goto(`${base}/audit`);
  await visible(page, "audit-row");
  await page.locator(tid("audit-info")).first().click();
  const payload = await text(await visible(page, "payload-json", "the payload panel"));
  try {
    JSON.parse(payload);
  } catch {
    fail(`the audit payload is not JSON: ${payload.slice(0, 200)}`);
  }
  await page.locator(tid("payload-panel-close")).click();
  await gone(page, "payload-panel");
  ok("the audit info badge shows the full JSON payload");
}

async function jobDetails(page) {
  await navigate(page, "jobs");
  await visible(page, "job-row");
  // Pin the row by its id: live updates put new jobs on top while the test runs.
  const id = await page.locator(tid("job-row")).first().getAttribute("data-job-id");
  const jobRow = page.locator(`${tid("job-row")}[data-job-id="${id}"]`);
  await jobRow.locator(tid("job-details")).click();
  const modal = await visible(page, "job-modal", "the job details modal");
  await visible(page, "job-detail", "the job details");
  const timeline = await visible(page, "job-timeline", "the timeline");
  await until("a timeline entry", async () => (await timeline.locator(tid("timeline-entry")).count()) >= 1);
  const first = await text(timeline.locator(tid("timeline-entry")).first().locator("td").nth(1));
  if (first !== "job.queued") fail(`the timeline starts with ${first}, not job.queued`);
  const shownId = await text(modal.locator(tid("detail-pacer-id")));
  if (shownId !== id) fail(`the modal shows job ${shownId}, the row was ${id}`);
  for (const field of ["detail-workflow", "detail-branch", "detail-commit", "detail-project", "detail-pool"]) {
    if ((await text(modal.locator(tid(field)))) === "") fail(`${field} is empty`);
  }
  const github = await modal.locator(tid("open-in-github")).getAttribute("href");
  if (!/^https:\/\/github\.com\//.test(github ?? "")) fail(`"open in GitHub" links to ${github}`);
  ok(`job ${id}: modal with workflow, branch, commit, project, pool and a timeline from job.queued`);
  await page.screenshot({ path: path.join(shots, "job-modal.png"), fullPage: true });
  await page.locator(tid("job-modal-close")).click();
  await gone(page, "job-modal");
  ok("the modal closes");

  await page.goto(`${base}/jobs/${id}`);
  await visible(page, "job-modal", "the modal by deep link");
  await until(`job ${id} in the deep-linked modal`, async () => (await text(page.locator(tid("detail-pacer-id")))) === id);
  await visible(page, "job-timeline");
  ok(`deep link /jobs/${id} opens the modal`);
  await page.locator(tid("job-modal-close")).click();
  await gone(page, "job-modal");
  await until("the URL /jobs after closing", () => new URL(page.url()).pathname === "/jobs");
  ok("closing a deep-linked modal goes back to /jobs");
}

/** The page's GraphQL answer to `query`, with its session. */
async function api(page, query) {
  return page.evaluate(async (query) => {
    const response = await fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", "x-pacer-request": "1" },
      body: JSON.stringify({ query }),
    });
    return response.json();
  }, query);
}

/** Issue 22: a running job's detail shows GitHub's steps, the raw webhooks, GitHub's times, the
 *  sender type and a green "last seen" badge from its runner's heartbeat. */
async function jobSteps(page) {
  let id;
  await until("a running job whose runner has sent a heartbeat", async () => {
    const answer = await api(page, "{ jobs(first: 50, filter: {statuses: [RUNNING]}) { nodes { id } } }");
    for (const node of answer?.data?.jobs?.nodes ?? []) {
      const job = await api(page, `{ job(id: "${node.id}") { lastSeenAt webhooks { action } } }`);
      if (job?.data?.job?.lastSeenAt && (job.data.job.webhooks ?? []).some((w) => w.action === "in_progress")) {
        id = node.id;
        return true;
      }
    }
    return false;
  }, 90_000);
  await page.goto(`${base}/jobs/${id}`);
  const modal = await visible(page, "job-modal", "the job details modal");
  await visible(page, "job-github", "GitHub's part of the job detail");
  const steps = await visible(page, "job-steps", "the steps from GitHub");
  await until("steps", async () => (await steps.locator(tid("job-step")).count()) >= 1);
  const firstStep = await text(steps.locator(tid("job-step")).first().locator("td").nth(1));
  if (firstStep !== "Set up job") fail(`the first step is ${firstStep}, not "Set up job"`);
  const badge = modal.locator(tid("heartbeat-badge"));
  await until("a green heartbeat badge", async () => (await badge.getAttribute("data-badge")) === "green");
  for (const field of ["detail-github-created", "detail-github-started", "detail-sender-type"]) {
    if (["", "—", "-"].includes(await text(modal.locator(tid(field))))) fail(`${field} is empty`);
  }
  const hooks = modal.locator(tid("job-webhook"));
  await until("the raw webhooks", async () => (await hooks.count()) >= 2);
  await hooks.first().locator("summary").click();
  const payload = await text(hooks.first().locator("pre"));
  try {
    if (JSON.parse(payload).workflow_job === undefined) fail("the raw webhook has no workflow_job");
  } catch {
    fail(`the raw webhook is not JSON: ${payload.slice(0, 200)}`);
  }
  ok(`job ${id}: ${await steps.locator(tid("job-step")).count()} steps from GitHub, ${await hooks.count()} raw webhooks, green heartbeat badge`);
  await page.screenshot({ path: path.join(shots, "job-steps-heartbeat.png"), fullPage: true });
  await page.locator(tid("job-modal-close")).click();
  await gone(page, "job-modal");
}

async function rowStatuses(page) {
  return page.locator(tid("job-row")).evaluateAll((rows) => rows.map((r) => r.getAttribute("data-status")));
}

async function filterJobs(page) {
  await navigate(page, "jobs");
  await visible(page, "job-row");
  const filter = page.locator(tid("status-filter"));
  // Running jobs exist within seconds of the start; the first completed one can take a while.
  for (const [status, timeout] of [["running", WAIT], ["completed", 3 * WAIT]]) {
    await filter.selectOption(status);
    await until(`?status=${status} in the URL`, () => new URL(page.url()).searchParams.get("status") === status);
    await until(`only ${status} rows`, async () => {
      const statuses = await rowStatuses(page);
      return statuses.length > 0 && statuses.every((s) => s === status);
    }, timeout);
    ok(`the status filter shows only ${status} jobs (${(await rowStatuses(page)).length} rows)`);
  }
  await filter.selectOption("");
  await until("the status parameter gone", () => !new URL(page.url()).searchParams.has("status"));
  await until("rows of several statuses", async () => new Set(await rowStatuses(page)).size > 1);
  ok("back to all statuses");
  await page.goto(`${base}/jobs?status=completed`);
  await visible(page, "job-row");
  if ((await filter.inputValue()) !== "completed") fail("a deep link with ?status=completed does not set the filter");
  await until("only completed rows by deep link", async () => (await rowStatuses(page)).every((s) => s === "completed"));
  ok("deep link /jobs?status=completed filters");
}

async function configForms(page) {
  // A project; an empty name is refused inline first.
  await navigate(page, "projects");
  // The page shows before its rows load (one query brings them all): count them once there.
  await visible(page, "project-row", "the seeded projects");
  const projects = await page.locator(tid("project-row")).count();
  await page.locator(tid("project-new")).click();
  const projectEditor = await visible(page, "project-editor");
  await projectEditor.locator(tid("project-save")).click();
  const nameError = await text(await visible(page, "error-name", "the inline error of an empty name"));
  if (!/required/.test(nameError)) fail(`the name error reads ${JSON.stringify(nameError)}`);
  if ((await page.locator(tid("project-row")).count()) !== projects) fail("a refused project was created");
  await visible(page, "project-editor", "the editor, still open after a refusal");
  ok(`an empty project name is refused inline: ${nameError}`);
  await projectEditor.locator(tid("input-name")).fill(PROJECT);
  await projectEditor.locator(tid("input-cap")).fill("4");
  await projectEditor.locator(tid("input-tags")).fill("team=browser");
  await gone(page, "error-name", "the name error once fixed");
  await projectEditor.locator(tid("project-save")).click();
  await gone(page, "project-editor", "the project editor after saving");
  await visible(page, "projects-notice");
  const projectRow = await visible(page, row("project-row", { name: PROJECT }), `the row of project ${PROJECT}`);
  ok(`created project ${PROJECT}: ${(await text(projectRow)).replace(/\s+/g, " ")}`);

  // A pool of that project, materialised against the simulated EC2; a bad AMI is refused first.
  await navigate(page, "pools");
  await visible(page, "pool-row", "the seeded pools");
  const pools = await page.locator(tid("pool-row")).count();
  await page.locator(tid("pool-new")).click();
  const poolEditor = await visible(page, "pool-editor");
  await poolEditor.locator(tid("input-project_id")).selectOption({ label: PROJECT });
  await poolEditor.locator(tid("input-name")).fill(POOL);
  await poolEditor.locator(tid("input-ami_id")).fill("ami-not-an-image");
  await poolEditor.locator(tid("input-instance_types")).fill("m5.large, m6i.large");
  await poolEditor.locator(tid("input-subnet_ids")).fill("subnet-0aaaaaaaaaaaaaaaa");
  await poolEditor.locator(tid("input-security_group_ids")).fill("sg-0bbbbbbbbbbbbbbbb");
  await poolEditor.locator(tid("input-cap")).fill("3");
  const amiError = await text(await visible(page, "error-ami_id", "the inline error of a bad AMI"));
  if (!/ami-/.test(amiError)) fail(`the AMI error reads ${JSON.stringify(amiError)}`);
  await poolEditor.locator(tid("pool-save")).click();
  await visible(page, "pool-editor", "the editor, still open after a refusal");
  if ((await page.locator(tid("pool-row")).count()) !== pools) fail("a refused pool was created");
  ok(`a malformed AMI is refused inline and nothing is created: ${amiError}`);
  const preview = await text(poolEditor.locator(tid("runs-on-preview")));
  if (!preview.includes(PROJECT) || !preview.includes(POOL)) fail(`the runs-on preview reads ${preview}`);
  ok(`the editor previews ${preview}`);
  // The allocation strategy explains the one chosen; run_instances holds it to cost, and says why.
  const allocation = poolEditor.locator(tid("input-allocation_strategy"));
  const allocationHint = poolEditor.locator(tid("hint-allocation_strategy"));
  await allocation.selectOption("priority");
  await until("the hint of the priority strategy", async () => /in the order listed/.test(await text(allocationHint)));
  await allocation.selectOption("capacity");
  await until("the hint of the capacity strategy", async () => /capacity-optimized/.test(await text(allocationHint)));
  await poolEditor.locator(tid("input-spawn_method")).selectOption("run_instances");
  await until(
    "the allocation strategy held to cost",
    async () => (await allocation.isDisabled()) && (await allocation.inputValue()) === "cost",
  );
  const held = await text(allocationHint);
  if (!/^fixed to cost: run_instances/.test(held)) fail(`the held strategy's hint reads ${held}`);
  await poolEditor.locator(tid("input-spawn_method")).selectOption("fleet");
  await until("the allocation strategy free again", async () => !(await allocation.isDisabled()));
  ok(`the allocation strategy explains each choice, and run_instances holds it: ${held}`);
  await poolEditor.locator(tid("input-ami_id")).fill("ami-0123456789abcdef0");
  await gone(page, "error-ami_id", "the AMI error once fixed");
  await poolEditor.locator(tid("pool-save")).click();
  await gone(page, "pool-editor", "the pool editor after saving");
  const saved = await text(await visible(page, "pool-saved", "the saved notice"));
  if (!/launch template lt-\S+ is now at version \d+/.test(saved)) fail(`the notice reads ${saved}`);
  const poolRow = await visible(page, row("pool-row", { name: POOL, project: PROJECT }), `the row of pool ${POOL}`);
  const template = await text(poolRow.locator(tid("pool-template")));
  if (!/^lt-\S+ v\d+$/.test(template)) fail(`the pool's launch template cell reads ${template}`);
  ok(`created pool ${PROJECT}/${POOL}, materialised as ${template}`);
  await poolRow.locator(tid("pool-rotate-token")).click();
  await page.waitForFunction(
    (id) => (document.querySelector(`[data-testid="${id}"]`)?.textContent || "").includes("Rotated the bootstrap token"),
    "pool-saved",
    { timeout: 15000 },
  ).catch(() => fail("rotating the pool's token reports nothing"));
  const rotated = await text(page.locator(tid("pool-saved")));
  if (!/Rotated the bootstrap token of pool \S+: launch template lt-\S+ is now at version \d+/.test(rotated)) fail(`the rotation notice reads ${rotated}`);
  // The table refetches after the notice: wait for the new version in the row.
  let reversioned = template;
  for (let i = 0; i < 50 && reversioned === template; i++) {
    await page.waitForTimeout(200);
    reversioned = await text(poolRow.locator(tid("pool-template")));
  }
  if (reversioned === template) fail("rotation did not re-version the template");
  ok(`rotated ${POOL}'s bootstrap token: ${rotated}`);

  // A repo binding; a malformed name (local) and a repo bound elsewhere (server) are refused.
  await navigate(page, "repos");
  await visible(page, "repo-row", "the seeded repos");
  const repos = await page.locator(tid("repo-row")).count();
  const taken = await page.locator(tid("repo-row")).first().getAttribute("data-name");
  await page.locator(tid("repo-new")).click();
  const repoEditor = await visible(page, "repo-editor");
  await repoEditor.locator(tid("input-project_id")).selectOption({ label: PROJECT });
  await repoEditor.locator(tid("input-full_name")).fill("not a repo");
  const repoError = await text(await visible(page, "error-full_name", "the inline error of a malformed repo"));
  await repoEditor.locator(tid("repo-save")).click();
  await visible(page, "repo-editor");
  ok(`a malformed repo name is refused inline: ${repoError}`);
  await repoEditor.locator(tid("input-full_name")).fill(taken);
  await gone(page, "error-full_name");
  await repoEditor.locator(tid("repo-save")).click();
  const conflict = await text(await visible(page, "error-full_name", "the server's refusal of a bound repo"));
  if (!/already bound/.test(conflict)) fail(`binding ${taken} twice reads ${JSON.stringify(conflict)}`);
  await visible(page, "repo-editor");
  if ((await page.locator(tid("repo-row")).count()) !== repos) fail("a refused binding was created");
  ok(`binding ${taken} again is refused by the server, inline: ${conflict}`);
  await repoEditor.locator(tid("input-full_name")).fill(REPO);
  await repoEditor.locator(tid("repo-save")).click();
  await gone(page, "repo-editor", "the repo editor after saving");
  const repoRow = await visible(page, row("repo-row", { name: REPO }), `the row of ${REPO}`);
  if (!(await text(repoRow)).includes(PROJECT)) fail(`${REPO} is not bound to ${PROJECT}`);
  ok(`bound ${REPO} to ${PROJECT}`);
  // The project row now counts them.
  await navigate(page, "projects");
  await visible(page, row("project-row", { name: PROJECT }), `the row of ${PROJECT}`);
  const counts = await page
    .locator(`${row("project-row", { name: PROJECT })} td.num`)
    .evaluateAll((cells) => cells.map((c) => c.textContent.trim()));
  if (counts[1] !== "1" || counts[2] !== "1") fail(`project ${PROJECT} counts ${counts} (cap, pools, repos, active)`);
  ok(`project ${PROJECT} lists 1 pool and 1 repo`);
}

async function live(page) {
  // Everything from here is client-side: a marker on window would vanish with a page load.
  await page.evaluate(() => {
    window.__pacerNoReload = true;
  });
  await navigate(page, "jobs");
  await visible(page, "job-row");
  await until("the Jobs page live", async () => (await text(page.locator(tid("live-indicator")))) === "live");
  const before = Math.max(...jobIds(await page.locator(tid("job-row")).evaluateAll((r) => r.map((e) => e.dataset.jobId))));
  const newer = await until(`a job newer than ${before} on Jobs`, async () => {
    const ids = jobIds(await page.locator(tid("job-row")).evaluateAll((r) => r.map((e) => e.dataset.jobId)));
    return ids.find((id) => id > before);
  });
  const top = Number(await page.locator(tid("job-row")).first().getAttribute("data-job-id"));
  if (top < newer) fail(`the new job ${newer} is not on top (top is ${top})`);
  ok(`job ${newer} appeared on top of Jobs without a reload (was ${before})`);

  await navigate(page, "overview");
  await until("the Overview live", async () => (await text(page.locator(tid("live-indicator")))) === "live");
  const tiles = page.locator(tid("overview-tiles"));
  const read = async () =>
    JSON.stringify(await tiles.locator(".tile-value").evaluateAll((v) => v.map((e) => e.textContent.trim())));
  const first = await read();
  const pushes = frames.filter((f) => f.includes("overviewChanged")).length;
  const changed = await until("an Overview tile to change", async () => {
    const now = await read();
    return now !== first && now;
  });
  ok(`an Overview tile changed live: ${first} → ${changed}`);
  if (frames.filter((f) => f.includes("overviewChanged")).length <= pushes) {
    fail("the tiles changed without an overviewChanged message on the WebSocket");
  }
  ok("the change arrived as an overviewChanged message over graphql-transport-ws");
  if (!(await page.evaluate(() => window.__pacerNoReload === true))) fail("the page was reloaded");
  ok("no page load happened");

  // The spend card once the demo has ended (and costed) a job this month.
  await until("a costed job this month", async () => (await monthSpend(page)).total > 0n, 60_000);
  await spendCard(page);
}

async function backup(page) {
  await navigate(page, "backup");
  const [download] = await Promise.all([
    page.waitForEvent("download", { timeout: WAIT }),
    page.locator(tid("backup-export")).click(),
  ]);
  const exported = path.join(shots, "exported-backup.json");
  await download.saveAs(exported);
  const raw = fs.readFileSync(exported, "utf8");
  const doc = JSON.parse(raw);
  if (doc.version !== 1 || !Array.isArray(doc.projects)) fail(`the export is not a version-1 backup: ${raw.slice(0, 200)}`);
  const mine = doc.projects.find((p) => p.name === PROJECT);
  if (!mine) fail(`the export lacks project ${PROJECT}`);
  if (!mine.pools?.some((p) => p.name === POOL)) fail(`the export lacks pool ${POOL}`);
  if (!mine.repos?.some((r) => (r.full_name ?? r.fullName) === REPO)) fail(`the export lacks repo ${REPO}`);
  if (/password|secret|token/i.test(raw)) fail("the export mentions a password, secret or token");
  ok(`exported ${download.suggestedFilename()}: ${doc.projects.length} projects with ${PROJECT}, ${POOL} and ${REPO}`);

  // Something malformed is refused before anything is sent.
  await page.locator(tid("import-json")).fill("{ not json");
  await page.locator(tid("import-dry-run")).click();
  await visible(page, "error-import-json", "the inline error of malformed JSON");
  ok("malformed JSON is refused inline");

  // Upload an edited export: one project updated, one created, the rest unchanged.
  mine.cap = 9;
  doc.projects.push({ name: IMPORTED, cap: 2, tags: { source: "browser" }, pools: [], repos: [] });
  const edited = path.join(shots, "edited-backup.json");
  fs.writeFileSync(edited, JSON.stringify(doc, null, 2));
  await page.locator(tid("import-file")).setInputFiles(edited);
  await until("the file loaded into the text area", async () => (await page.locator(tid("import-json")).inputValue()).includes(IMPORTED));
  await page.locator(tid("import-dry-run")).click();
  const preview = await visible(page, "import-preview", "the dry-run preview");
  if ((await preview.getAttribute("data-applied")) !== "false") fail("the dry run says it applied");
  const actions = await until("preview rows", async () => {
    const list = await preview.locator(tid("import-item")).evaluateAll((r) => r.map((e) => e.dataset.action.toLowerCase()));
    return list.length > 0 && list;
  });
  const tally = actions.reduce((t, a) => ({ ...t, [a]: (t[a] ?? 0) + 1 }), {});
  if (!tally.create || !tally.update || !tally.unchanged) fail(`the preview's actions are ${JSON.stringify(tally)}`);
  const projectsCount = await text(preview.locator(`${tid("import-count-projects")} .tile-value`));
  if (projectsCount !== "+1 / ~1") fail(`the projects count reads ${projectsCount}, expected +1 / ~1`);
  if ((await page.locator(tid("import-errors")).count()) > 0) fail("the preview lists errors");
  ok(`the dry run previews ${JSON.stringify(tally)} (projects ${projectsCount})`);
  await navigate(page, "projects");
  if ((await page.locator(row("project-row", { name: IMPORTED })).count()) !== 0) fail("the dry run created a project");
  ok("the dry run changed nothing");

  await navigate(page, "backup");
  await page.locator(tid("import-file")).setInputFiles(edited);
  await until("the file loaded again", async () => (await page.locator(tid("import-json")).inputValue()).includes(IMPORTED));
  const apply = page.locator(tid("import-apply"));
  if (await apply.isEnabled()) fail("Apply is offered before a dry run of this text");
  await page.locator(tid("import-dry-run")).click();
  await visible(page, "import-preview");
  await until("Apply enabled after a clean dry run", () => apply.isEnabled());
  await apply.click();
  await visible(page, "import-applied", "the applied notice");
  await until("the preview marked applied", async () => (await page.locator(tid("import-preview")).getAttribute("data-applied")) === "true");
  ok("applied the import");
  await navigate(page, "projects");
  await visible(page, row("project-row", { name: IMPORTED }), `the imported project ${IMPORTED}`);
  const cap = await text(page.locator(`${row("project-row", { name: PROJECT })} td.num`).first());
  if (cap !== "9") fail(`project ${PROJECT}'s cap reads ${cap} after the import, expected 9`);
  ok(`the import created ${IMPORTED} and updated ${PROJECT}'s cap to 9`);
}

/** Clicks a row's removal button, confirms, and returns the dialog. */
async function confirmRemoval(page, rowSelector, button) {
  await page.locator(`${rowSelector} ${tid(button)}`).click();
  const dialog = await visible(page, "confirm-dialog", `the confirmation of ${button}`);
  await dialog.locator(tid("confirm-yes")).click();
  return dialog;
}

async function removals(page) {
  // A project with a pool and a repo is refused, inside the dialog, which stays open.
  await navigate(page, "projects");
  const projectRow = row("project-row", { name: PROJECT });
  await visible(page, projectRow, `the row of project ${PROJECT}`);
  const dialog = await confirmRemoval(page, projectRow, "project-delete");
  const refusal = await text(await visible(page, "confirm-error", "the refusal of a project that has pools"));
  if (!/delete the project's 1 pool\(s\) first/.test(refusal)) fail(`deleting a project with a pool reads ${refusal}`);
  await dialog.locator(tid("confirm-no")).click();
  await gone(page, "confirm-dialog", "the confirmation after cancelling");
  await visible(page, projectRow, `project ${PROJECT}, still listed`);
  ok(`deleting project ${PROJECT} while it has a pool is refused in the dialog: ${refusal}`);

  // Disabling a pool through its checkbox, then deleting it.
  await navigate(page, "pools");
  const poolRow = row("pool-row", { name: POOL, project: PROJECT });
  await page.locator(`${poolRow} ${tid("pool-edit")}`).click();
  const poolEditor = await visible(page, "pool-editor");
  await poolEditor.locator(tid("input-disabled")).check();
  await poolEditor.locator(tid("pool-save")).click();
  await gone(page, "pool-editor", "the pool editor after saving");
  await visible(page, `${poolRow} ${tid("disabled-badge")}`, `the disabled badge of pool ${POOL}`);
  ok(`disabled pool ${POOL} with its checkbox`);
  await confirmRemoval(page, poolRow, "pool-delete");
  await gone(page, "confirm-dialog", "the confirmation after deleting the pool");
  const deleted = await text(await visible(page, "pool-saved", "the deleted notice"));
  if (deleted !== `Deleted pool ${POOL}.`) fail(`deleting the pool reads ${deleted}`);
  await gone(page, poolRow, `the row of pool ${POOL}`);
  ok(deleted);

  await navigate(page, "repos");
  const repoRow = row("repo-row", { name: REPO });
  await confirmRemoval(page, repoRow, "repo-unbind");
  await gone(page, "confirm-dialog", "the confirmation after unbinding");
  const unbound = await text(await visible(page, "repos-notice", "the unbound notice"));
  if (unbound !== `Unbound ${REPO}.`) fail(`unbinding reads ${unbound}`);
  await gone(page, repoRow, `the row of ${REPO}`);
  ok(unbound);

  await navigate(page, "projects");
  await confirmRemoval(page, projectRow, "project-delete");
  await gone(page, "confirm-dialog", "the confirmation after deleting the project");
  const goneProject = await text(await visible(page, "projects-notice", "the deleted notice"));
  if (goneProject !== `Deleted project ${PROJECT}.`) fail(`deleting the project reads ${goneProject}`);
  await gone(page, projectRow, `the row of project ${PROJECT}`);
  ok(goneProject);
}

async function graphiql(page) {
  // Served by Pacer itself: with every origin but loopback cut off (see the launch), it loads.
  await page.goto(`${base}/graphql`);
  await until("GraphiQL rendered", () => page.locator(".graphiql-container").count());
  const editor = ".graphiql-query-editor .CodeMirror";
  await until("the query editor", () => page.locator(editor).count());
  await page.evaluate((sel) => document.querySelector(sel).CodeMirror.setValue("{ me { email } }"), editor);
  await page.locator(".graphiql-execute-button").click();
  const answer = await until("the answer of { me { email } }", () =>
    page.evaluate(() => {
      const response = document.querySelector(".graphiql-response .CodeMirror");
      const text = response ? response.CodeMirror.getValue() : "";
      return text.includes("email") && text;
    }),
  );
  if (!answer.includes(EMAIL)) fail(`GraphiQL answered ${answer}`);
  ok(`GraphiQL ran a query as ${EMAIL}, offline`);
  if (foreign.length > 0) fail(`the browser asked beyond Pacer: ${foreign.join(", ")}`);
  ok("nothing was requested from anywhere but Pacer");
}

// ---- runner ----------------------------------------------------------------------------------

/** The audit filters: actor, target and text, a range preset, all kept in the URL. */
async function auditFilters(page) {
  await page.goto(`${base}/audit?actor=${encodeURIComponent(EMAIL.toUpperCase())}`);
  await visible(page, "audit-row", "rows by the signed-in operator");
  if ((await page.locator(tid("audit-actor")).inputValue()) !== EMAIL.toUpperCase()) {
    fail("the actor from the URL is not in its input");
  }
  const actors = await page.locator(`${tid("audit-row")} td:nth-child(4)`).allTextContents();
  if (actors.some((actor) => actor.trim() !== EMAIL)) fail(`another actor passed the filter: ${actors}`);
  await visible(page, "tile-audit-events", "the events tile");
  ok("actor filter from the URL, ignoring case");
  const head = await text(await visible(page, "audit-chain-hash", "the chain head"));
  if (!/^[0-9a-f]{64}$/.test(head)) fail(`the chain head reads ${head}`);
  const href = await page.locator(tid("audit-export")).getAttribute("href");
  const exported = await page.request.get(`${base}${href}`);
  const lines = (await exported.text()).trim().split("\n");
  if (exported.status() !== 200 || JSON.parse(lines[lines.length - 1]).hash !== head) {
    fail(`the export (${exported.status()}) does not end at the chain head`);
  }
  ok(`the chain head ${head.slice(0, 12)}… ends the export of ${lines.length} records`);

  await page.locator(tid("audit-actor")).fill("");
  await page.locator(tid("audit-text")).fill("login_succeeded");
  await page.locator(tid("audit-search-apply")).click();
  await until("the text in the URL", () => new URL(page.url()).searchParams.get("text") === "login_succeeded");
  await until("only sign-ins listed", async () => {
    const actions = await page.locator(`${tid("audit-row")}`).evaluateAll((rows) => rows.map((r) => r.dataset.action));
    return actions.length > 0 && actions.every((a) => a === "auth.login_succeeded");
  });
  const client = await text(page.locator(tid("audit-client")).first());
  const outcome = await text(page.locator(tid("audit-outcome")).first());
  if (client !== "127.0.0.1" || outcome !== "succeeded") fail(`client ${client}, outcome ${outcome}`);
  ok("free-text search; the sign-in shows its client address and outcome");

  await page.locator(tid("audit-range-preset")).selectOption("7d");
  await until("the range in the URL", () => new URL(page.url()).searchParams.get("range") === "7d");
  await page.reload();
  await visible(page, "audit-row", "the filtered rows after a reload");
  if ((await page.locator(tid("audit-text")).inputValue()) !== "login_succeeded") fail("the text was lost on reload");
  if ((await page.locator(tid("audit-range-preset")).inputValue()) !== "7d") fail("the range was lost on reload");
  const events = Number((await text(page.locator(tid("tile-audit-events-value")))).replace(/[^0-9]/g, ""));
  const rows = await page.locator(tid("audit-row")).count();
  if (events !== rows) fail(`the events tile says ${events} for ${rows} rows`);
  ok("filters survive a reload; the tiles count what the filter matches");
  await page.screenshot({ path: path.join(shots, "audit-filters.png"), fullPage: true });

  await page.locator(tid("audit-target")).fill("user/nobody-at-all");
  await page.locator(tid("audit-search-apply")).click();
  await visible(page, "audit-table");
  await until("no rows", async () => (await page.locator(tid("audit-row")).count()) === 0);
  await page.locator(tid("audit-clear")).click();
  await until("the filters cleared", () => new URL(page.url()).search.replace("?", "") === "");
  await visible(page, "audit-row", "every record again");
  ok("a target that matches nothing lists nothing; clearing shows everything");
}

/** Settings: the masked token and its rotation, reported per pool; "Reconcile now" on Jobs; the
 * retentions overridden and set back to their defaults; the themes. */
async function operatorActions(page) {
  await navigate(page, "settings");
  const masked = await text(await visible(page, "token-masked", "the masked bootstrap token"));
  if (!/^\S{4}•{12}$/.test(masked)) fail(`the token shows as ${masked}`);
  await page.locator(tid("rotate-token")).click();
  await page.locator(tid("rotate-confirm")).click();
  const summary = await text(await visible(page, "token-rotated-summary", "the rotation summary"));
  if (!/^Token rotated\. \d+ launch templates? re-materialised with the new token\.$/.test(summary)) {
    fail(`the rotation says: ${summary}`);
  }
  const pools = await page.locator(tid("rotation-pool")).allTextContents();
  if (pools.length < 5 || !pools.every((row) => /template version \d+/.test(row))) fail(`per pool: ${pools}`);
  if ((await text(page.locator(tid("token-masked")))) === masked) fail("the masked token did not change");
  if ((await text(page.locator(tid("token-rotated-at")))).startsWith("never")) fail("no rotation time shown");
  ok(`rotated the token: ${summary} (${pools.length} pools listed)`);
  await page.screenshot({ path: path.join(shots, "settings-rotation.png"), fullPage: true });

  await navigate(page, "jobs");
  await page.locator(tid("reconcile-now")).click();
  const report = await text(await visible(page, "reconcile-result", "what the reconcile found"));
  if (!/^Checked \d+ instances?: \d+ reaped, \d+ no longer running, \d+ stopped terminated, \d+ untracked instances?\.$/.test(report)) {
    fail(`reconcile says: ${report}`);
  }
  ok(`reconcile now: ${report}`);

  // Three retentions, each at its configured default; the audit one overridden (told by a
  // toast, which goes by itself, and an "overridden" badge), then back to its default.
  await navigate(page, "settings");
  const rows = await page.locator(tid("retention-card")).locator('[data-testid$="-row"]').allTextContents();
  const titles = rows.map((row) => row.match(/^(Audit log|Raw webhooks|Failure logs)/)?.[1]);
  if (titles.join("|") !== "Audit log|Raw webhooks|Failure logs") fail(`retention rows: ${rows}`);
  for (const [id, days] of [["audit", "90"], ["webhook", "7"], ["failure-log", "30"]]) {
    if ((await page.locator(tid(`retention-${id}`)).inputValue()) !== days) fail(`${id} retention is not ${days}`);
    if ((await text(page.locator(tid(`hint-retention-${id}`)))).indexOf(`default ${days} days`) !== 0) fail(`${id}: no default shown`);
    if ((await page.locator(tid(`retention-${id}-overridden`)).count()) !== 0) fail(`${id} shows as overridden`);
    if ((await page.locator(tid(`retention-${id}-default`)).count()) !== 0) fail(`${id} offers its default`);
  }
  const removes = await text(page.locator(tid("field-retention-audit")).locator("label"));
  if (!removes.startsWith("Log records older than this are deleted")) fail(`the audit retention says: ${removes}`);
  const neverPruned = await text(page.locator(tid("last-prune")));
  if (neverPruned !== "The log has never been pruned.") fail(`last prune: ${neverPruned}`);
  await page.locator(tid("retention-audit")).fill("0");
  await visible(page, "error-retention-audit", "the inline error of 0 days");
  if (!(await page.locator(tid("retention-audit-save")).isDisabled())) fail("0 days can be saved");
  await page.locator(tid("retention-audit")).fill("45");
  await page.locator(tid("retention-audit-save")).click();
  const toast = await text(await visible(page, "retention-saved", "the retention toast"));
  if (toast !== "Audit log retention saved: 45 days.") fail(`the toast says ${toast}`);
  await visible(page, "retention-audit-overridden", "the overridden badge");
  await visible(page, "retention-audit-default", "the Use default button");
  if ((await page.locator(tid("retention-webhook-overridden")).count()) !== 0) fail("the webhook retention shows as overridden");
  await gone(page, "retention-saved", "the toast, after a few seconds");
  await page.screenshot({ path: path.join(shots, "settings-retention.png"), fullPage: true });
  ok(`a toast told "${toast}" and went away; the audit retention shows as overridden`);
  await page.reload();
  await visible(page, "retention-audit-overridden", "the overridden badge after a reload");
  if ((await page.locator(tid("retention-audit")).inputValue()) !== "45") fail("the override was lost on reload");
  await page.locator(tid("retention-audit-default")).click();
  const back = await text(await visible(page, "retention-saved", "the retention toast"));
  if (back !== "Audit log retention back to the default: 90 days.") fail(`the toast says ${back}`);
  await gone(page, "retention-audit-overridden", "the overridden badge, back at the default");
  await gone(page, "retention-audit-default", "the Use default button, back at the default");
  if ((await page.locator(tid("retention-audit")).inputValue()) !== "90") fail("the default is not shown again");
  ok(`"${back}": the badge and the button went away`);

  // Themes: the system's by default; the toggle picks light, then dark, and it sticks.
  const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const light = await background();
  const toggle = page.locator(tid("theme-toggle"));
  await toggle.click();
  await until("data-theme light", async () => (await page.evaluate(() => document.documentElement.dataset.theme)) === "light");
  await toggle.click();
  await until("data-theme dark", async () => (await page.evaluate(() => document.documentElement.dataset.theme)) === "dark");
  await until("a dark background", async () => (await background()) !== light);
  await page.reload();
  await visible(page, "page-settings");
  if ((await page.evaluate(() => document.documentElement.dataset.theme)) !== "dark") fail("the dark theme was lost on reload");
  await page.screenshot({ path: path.join(shots, "theme-dark.png"), fullPage: true });
  await navigate(page, "overview");
  await page.screenshot({ path: path.join(shots, "theme-dark-overview.png"), fullPage: true });
  await page.locator(tid("theme-toggle")).click();
  await until("back to the system's theme", async () => (await page.evaluate(() => document.documentElement.dataset.theme)) === undefined);
  if ((await background()) !== light) fail("the system theme (light in this browser) did not come back");
  ok(`themes: light ${light}, dark kept across a reload, back to the system's`);
}

/** The project scope in the sidebar narrows Overview, Jobs, Stats, Repos and Pools, and sticks. */
async function projectScope(page) {
  await navigate(page, "pools");
  await until("the seeded pools", async () => (await page.locator(tid("pool-row")).count()) >= 5);
  const all = await page.locator(tid("pool-row")).count();
  const select = page.locator(tid("scope-select"));
  const options = await select.locator("option").evaluateAll((os) => os.map((o) => [o.value, o.textContent.trim()]));
  const [id, name] = options.find(([value]) => value !== "") ?? fail("no project to scope to");
  await select.selectOption(id);
  await until(`only ${name}'s pools`, async () => {
    const projects = await page.locator(tid("pool-row")).evaluateAll((rows) => rows.map((r) => r.dataset.project));
    return projects.length > 0 && projects.length < all && projects.every((p) => p === name);
  });
  await navigate(page, "jobs");
  await until(`only ${name}'s jobs`, async () => {
    const projects = await page.locator(tid("job-row")).evaluateAll((rows) => rows.map((r) => r.dataset.project));
    return projects.length > 0 && projects.every((p) => p === name);
  }, 3 * WAIT);
  await navigate(page, "overview");
  await until("one project on the tiles", async () => (await text(page.locator(tid("tile-projects-value")))) === "1");
  await page.reload();
  await visible(page, "page-overview");
  await until("the scope kept across a reload", async () => (await select.inputValue()) === id);
  await until("still one project on the tiles", async () => (await text(page.locator(tid("tile-projects-value")))) === "1");
  await page.screenshot({ path: path.join(shots, "project-scope.png"), fullPage: true });
  await select.selectOption("");
  await until("every project again", async () => Number(await text(page.locator(tid("tile-projects-value")))) > 1);
  ok(`scoped to ${name}: pools, jobs and overview narrowed, kept across a reload, and back to all`);
}

/** The pool editor's pickers over the demo's simulated account: subnets, security groups, AMIs. */
async function poolPickers(page) {
  const SUBNET = "subnet-0bb1c79de3e1a2b3c";
  const AMI = "ami-0a8e7c5f3b2d1e4f6";
  await navigate(page, "pools");
  await visible(page, "pool-row", "the seeded pools");
  await page.locator(tid("pool-new")).click();
  const editor = await visible(page, "pool-editor");
  await editor.locator(tid("input-subnet_ids")).fill("");
  await editor.locator(tid("pick-subnets")).click();
  const subnet = await visible(page, `pick-option-${SUBNET}`, `subnet ${SUBNET} in the list`);
  const shown = await text(subnet);
  if (!/us-east-1[abc]/.test(shown) || !shown.includes("vpc-0a1b2c3d4e5f60718") || !shown.includes("10.20.1.0/24")) {
    fail(`the subnet's option reads ${shown}`);
  }
  await subnet.click();
  await until("the subnet in the input", async () => (await editor.locator(tid("input-subnet_ids")).inputValue()) === SUBNET);
  if ((await subnet.getAttribute("aria-selected")) !== "true") fail("the chosen subnet is not marked");
  ok(`browsed the subnets and picked ${SUBNET}: ${shown.replace(/\s+/g, " ")}`);

  // Security groups follow the chosen subnet's VPC: the other VPC's default group is not offered.
  await editor.locator(tid("pick-security-groups")).click();
  const note = await text(await visible(page, "pick-security-groups-note", "which VPC the groups are of"));
  if (!note.includes("vpc-0a1b2c3d4e5f60718")) fail(`the security groups' note reads ${note}`);
  await visible(page, "pick-option-sg-0a1b2c3d4e5f67890", "the runners' security group");
  if ((await page.locator(tid("pick-option-sg-0e9d8c7b6a5f4e3d2")).count()) !== 0) fail("another VPC's group is offered");
  await page.locator(tid("pick-option-sg-0a1b2c3d4e5f67890")).click();
  await until("the group in the input", async () => (await editor.locator(tid("input-security_group_ids")).inputValue()) === "sg-0a1b2c3d4e5f67890");
  ok(`security groups ${note}; picked sg-0a1b2c3d4e5f67890`);

  await editor.locator(tid("pick-ami")).click();
  await visible(page, "pick-option-ami-0c55b159cbfafe1f0", "the demo's AMI in the list");
  await editor.locator(tid("pick-ami-search")).fill("arm64");
  await until("only arm64 AMIs", async () => {
    const names = await page.locator(`${tid("pick-ami-list")} [data-testid^="pick-option-"]`).allTextContents();
    return names.length > 0 && names.every((n) => n.includes("arm64"));
  });
  const ami = await visible(page, `pick-option-${AMI}`, `AMI ${AMI}`);
  const amiText = (await text(ami)).replace(/\s+/g, " ");
  await page.screenshot({ path: path.join(shots, "pool-pickers.png"), fullPage: true });
  await ami.click();
  await gone(page, "pick-ami-list", "the AMI list once one is picked");
  const picked = await editor.locator(tid("input-ami_id")).inputValue();
  if (picked !== AMI) fail(`the AMI input holds ${picked}`);
  ok(`searched the AMIs by name and picked ${amiText}`);
  await page.locator(tid("pool-editor-close")).click();
  await gone(page, "pool-editor", "the editor, closed without saving");
}

/**
 * Warm capacity on the Pools page: the demo's `linux` pool holds 2 hot instances, shown with the
 * sizing's reason; its warm dialog switches it to a schedule, a window starting at "8" is
 * refused inline, fixed to 08:00 it saves, and the row shows the schedule.
 */
async function warmPools(page) {
  await navigate(page, "pools");
  const linux = row("pool-row", { name: "linux" });
  await visible(page, linux, "the linux pool");
  const warm = page.locator(`${linux} ${tid("pool-warm")}`);
  await until("linux's warm capacity", async () => (await warm.count()) === 1);
  // What the sizing asks for: what the pool holds for it now depends on the demo's jobs (they
  // take the cap's room first).
  const shown = await warm.evaluate((w) => ({ mode: w.dataset.mode, hot: w.dataset.targetHot }));
  if (shown.mode !== "fixed" || shown.hot !== "2") fail(`linux's warm capacity reads ${JSON.stringify(shown)}`);
  const reason = await text(page.locator(`${linux} ${tid("pool-warm-reason")}`));
  if (!/fixed: 2 hot, 0 stopped/.test(reason)) fail(`the warm reason reads ${JSON.stringify(reason)}`);
  ok(`linux holds warm capacity: ${reason}`);

  await page.locator(`${linux} ${tid("pool-warm-edit")}`).click();
  const dialog = await visible(page, "pool-warm-dialog");
  await dialog.locator(tid("input-warm_mode")).selectOption("schedule");
  await dialog.locator(tid("input-warm_zone")).fill("Europe/Berlin");
  if ((await dialog.locator(tid("warm-window")).count()) === 0) await dialog.locator(tid("warm-window-add")).click();
  await dialog.locator(tid("input-warm_window_0_from")).fill("8");
  await dialog.locator(tid("pool-warm-save")).click();
  const fromError = await text(await visible(page, "error-warm_window_0_from", "the inline error of a bad start"));
  ok(`a window starting at "8" is refused inline: ${fromError}`);
  await dialog.locator(tid("input-warm_window_0_from")).fill("08:00");
  await dialog.locator(tid("pool-warm-save")).click();
  await gone(page, "pool-warm-dialog", "the warm dialog after saving");
  await visible(page, "pool-saved", "the saved toast");
  await until("linux on a schedule", async () => (await warm.getAttribute("data-mode")) === "schedule");
  const scheduled = await text(page.locator(`${linux} ${tid("pool-warm-reason")}`));
  if (!/^schedule: .*Europe\/Berlin/.test(scheduled)) fail(`the reason now reads ${JSON.stringify(scheduled)}`);
  await page.screenshot({ path: path.join(shots, "pool-warm.png"), fullPage: true });
  ok(`linux now sized by schedule: ${scheduled}`);
}

const SCENARIOS = [
  ["sign-in", signIn],
  ["every-page", everyPage],
  ["audit-filters", auditFilters],
  ["operator-actions", operatorActions],
  ["project-scope", projectScope],
  ["job-details", jobDetails],
  ["job-steps-heartbeat", jobSteps],
  ["config-forms", configForms],
  ["pool-pickers", poolPickers],
  ["warm-pools", warmPools],
  ["status-filter", filterJobs],
  ["live-updates", live],
  ["backup", backup],
  ["removals", removals],
  ["graphiql", graphiql],
];

/** Every request the browser made to anywhere but Pacer. */
const foreign = [];

const browser = await chromium.launch({
  executablePath: process.env.PACER_CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--no-first-run",
    // The network cut off: everything but loopback (bypassed by default) goes to a dead proxy.
    "--proxy-server=http://127.0.0.1:9",
  ],
});
let page;
let code = 0;
const started = Date.now();
try {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1440, height: 900 } });
  context.on("request", (request) => {
    const url = request.url();
    if (!url.startsWith(base) && !/^(data|blob):/.test(url)) foreign.push(url);
  });
  page = await context.newPage();
  page.on("pageerror", (error) => problems.push(`[${scenario}] uncaught: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const line = message.text();
    if (expected.some((pattern) => pattern.test(line))) return;
    const where = message.location()?.url ? ` (${message.location().url})` : "";
    problems.push(`[${scenario}] console.error: ${line}${where}`);
  });
  page.on("websocket", (socket) => {
    socket.on("framereceived", (frame) => {
      if (typeof frame.payload === "string") frames.push(frame.payload);
    });
  });
  for (const [index, [name, run]] of SCENARIOS.entries()) {
    scenario = name;
    const t0 = Date.now();
    await run(page);
    checkNoProblems();
    await page.screenshot({ path: path.join(shots, `${index + 1}-${name}.png`), fullPage: true });
    ok(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s, screenshot ${index + 1}-${name}.png`);
  }
  console.log(`all ${SCENARIOS.length} scenarios passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (error) {
  code = 1;
  const what = error instanceof Failure ? error.message : error.stack || String(error);
  console.error(`FAIL ${scenario}: ${what}`);
  if (problems.length > 0) console.error(`page errors so far:\n  ${problems.join("\n  ")}`);
  if (page) {
    const shot = path.join(shots, `failure-${scenario}.png`);
    await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
    console.error(`at ${page.url()}; screenshot ${shot}`);
  }
} finally {
  await browser.close();
}
process.exit(code);
