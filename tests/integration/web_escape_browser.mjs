// Text from the network, as the page shows it: Debian's headless Chromium
// (playwright-core) opens an `rpcload --web --autostart` whose server
// answers with control characters and a right-to-left override in its
// reason phrase, and reads the Failures tab's message cell and the
// statistics' name cell. Run by test_web_ui.py:
//
//   node web_escape_browser.mjs http://127.0.0.1:PORT/
//
// Prints step lines, then one JSON line {"error": ..., "name": ...} (the
// cells' text as shown); exits 1 with the reason on any failure.
import { chromium } from "playwright-core";

const [url] = process.argv.slice(2);
if (!url) {
  console.error("usage: node web_escape_browser.mjs URL");
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
let shown = null;
try {
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(20000);
  page.on("console", (m) => problems.push(`console ${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  await page.goto(url, { waitUntil: "load" });
  await page.click('.tabs button[data-tab="failures"]');
  await page.locator("#failures-table tbody tr").first().waitFor();
  const error = await page.locator("#failures-table tbody tr td").nth(3).textContent();
  const name = await page.locator("#stats-table tbody tr td").nth(1).textContent();
  console.log("step: the failures table shows a row");
  shown = { error, name };
} catch (e) {
  failed = e;
} finally {
  await browser.close();
}
if (failed || problems.length) {
  console.log("FAILED: " + (failed ? failed.stack || failed : "") + "\n  " + problems.join("\n  "));
  process.exit(1);
}
console.log(JSON.stringify(shown));
