// The Workers tab of an rpcload master's web UI in headless Chromium
// (playwright-core, as web_ui_browser.mjs). Run by test_cluster_web.py
// while a test runs on two workers:
//
//   node cluster_web_browser.mjs http://127.0.0.1:PORT/ WORKER_ID...
//
// Opens the page, shows the Workers tab and waits until it lists every
// given worker id, each "running" with users; fails on any console
// message or page error. Exits 0 when it did, 1 with the reason otherwise.
import { chromium } from "playwright-core";

const [url, ...ids] = process.argv.slice(2);
if (!url || ids.length === 0) {
  console.error("usage: node cluster_web_browser.mjs URL WORKER_ID...");
  process.exit(2);
}
const CHROMIUM = process.env.RPCLOAD_CHROMIUM || "/usr/bin/chromium";
const problems = [];
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  timeout: 60000,
});
let failed = null;
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(20000);
  page.on("console", (m) => problems.push(`console ${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  await page.goto(url, { waitUntil: "load" });
  await page.locator("#workers-tab").waitFor({ state: "visible" });
  await page.click('.tabs button[data-tab="workers"]');
  await page.waitForFunction((want) => {
    const rows = [...document.querySelectorAll("#workers-table tbody tr")].map(
      (tr) => [...tr.cells].map((td) => td.textContent));
    return want.every((id) => rows.some((r) => r[0] === id && r[1] === "running" && Number(r[2]) > 0));
  }, ids);
  const text = await page.locator("#workers-table").innerText();
  console.log("step: the Workers tab: " + text.replace(/\s+/g, " "));
  if (await page.locator("#no-workers").isVisible()) throw new Error("'no worker' note shown");
} catch (e) {
  failed = e.message;
}
await browser.close();
if (problems.length) failed = (failed ? failed + "; " : "") + problems.join("; ");
if (failed) {
  console.log("FAILED: " + failed);
  process.exit(1);
}
console.log("ok");
