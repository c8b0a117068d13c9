// "Stopped" means final, as the page shows it: Debian's headless Chromium
// (playwright-core) starts a test from the form, stops it after two
// seconds, and reads the statistics table's Aggregated request count as
// soon as the state shows STOPPED. Run by test_web_stop.py:
//
//   node web_stop_browser.mjs http://127.0.0.1:PORT/
//
// Prints step lines, then one JSON line {"requests": N}; exits 1 with the
// reason on any failure or browser error.
import { chromium } from "playwright-core";

const [url] = process.argv.slice(2);
if (!url) {
  console.error("usage: node web_stop_browser.mjs URL");
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
let requests = null;
try {
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(20000);
  page.on("console", (m) => problems.push(`console ${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  await page.goto(url, { waitUntil: "load" });
  await page.locator("#start").waitFor({ state: "visible" });
  await page.fill("#start-users", "5");
  await page.fill("#start-rate", "100");
  await page.click("#start-button");
  await page.locator("#state").filter({ hasText: /RUNNING/ }).waitFor();
  console.log("step: running");
  await page.waitForTimeout(2000);
  await page.click("#stop-button");
  await page.locator("#state").filter({ hasText: "STOPPED" }).waitFor();
  const cell = await page.locator("#stats-table tfoot td").nth(2).textContent();
  requests = Number(cell.replace(/[^0-9]/g, ""));
  console.log(`step: stopped, the table shows ${requests} requests`);
} catch (e) {
  failed = e;
} finally {
  await browser.close();
}
if (failed || problems.length) {
  console.log("FAILED: " + (failed ? failed.stack || failed : "") + "\n  " + problems.join("\n  "));
  process.exit(1);
}
console.log(JSON.stringify({ requests }));
