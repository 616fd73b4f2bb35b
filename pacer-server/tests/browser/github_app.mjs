// Creating Pacer's GitHub App from the console in headless Chromium (playwright-core, Debian's
// /usr/bin/chromium), against a Pacer without an App whose GitHub is the fake one, which plays
// github.com's "new App from a manifest" page:
//
//   node github_app.mjs <base url> <screenshot dir>
//
// Settings shows that there is no App; the name and organization are entered, the manifest is
// posted to GitHub as a plain form (the console's CSP must allow that one origin), GitHub sends
// the browser back through /setup/github-app, and Settings shows the created App. Prints one
// `ok` line per step; the first failure prints `FAIL <what>`, saves a screenshot and exits 1.
// Run by pacer-server/tests/it/github_app.rs.

import { chromium } from "playwright-core";
import path from "node:path";

const [base, shots] = process.argv.slice(2);
if (!base || !shots) {
  console.error("usage: node github_app.mjs <base url> <screenshot dir>");
  process.exit(2);
}
const WAIT = 20_000;
const tid = (id) => `[data-testid="${id}"]`;
const problems = [];
const ok = (what) => console.log(`ok ${what}`);

async function text(page, id) {
  const locator = page.locator(tid(id));
  await locator.first().waitFor({ state: "visible", timeout: WAIT });
  return ((await locator.first().textContent()) ?? "").trim();
}

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
try {
  page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  page.on("pageerror", (error) => problems.push(`uncaught: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console.error: ${message.text()}`);
  });

  await page.goto(`${base}/settings`);
  const before = await text(page, "github-app-source");
  if (!before.startsWith("No GitHub App yet")) throw new Error(`the card says: ${before}`);
  ok("Settings says there is no GitHub App");

  await page.locator(tid("github-app-name")).fill("pacer-browser");
  await page.locator(tid("github-app-organization")).fill("octo");
  await page.locator(tid("github-app-create")).click();
  await page.locator(tid("github-app-continue")).waitFor({ state: "visible", timeout: WAIT });
  ok("the creation is started");

  await Promise.all([
    page.waitForURL(/\/settings\?github_app=created$/, { timeout: WAIT }),
    page.locator(tid("github-app-continue")).click(),
  ]);
  ok("GitHub sent the browser back to Settings");

  const outcome = await text(page, "github-app-outcome");
  if (outcome !== "GitHub App created.") throw new Error(`the outcome says: ${outcome}`);
  const after = await text(page, "github-app-source");
  if (!after.includes("pacer-e2e") || !after.includes("octo")) throw new Error(`the card says: ${after}`);
  ok("Settings shows the created App");

  if (problems.length > 0) throw new Error(`the page reported:\n  ${problems.join("\n  ")}`);
  await page.screenshot({ path: path.join(shots, "github-app.png"), fullPage: true });
  ok("no console error (the CSP let the form through)");
} catch (error) {
  code = 1;
  console.error(`FAIL ${error.message}`);
  if (problems.length > 0) console.error(`page errors:\n  ${problems.join("\n  ")}`);
  if (page) await page.screenshot({ path: path.join(shots, "failure-github-app.png"), fullPage: true }).catch(() => {});
} finally {
  await browser.close();
}
process.exit(code);
