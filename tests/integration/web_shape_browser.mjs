// A load shape in the web UI: Debian's headless Chromium (playwright-core)
// opens an `rpcload --web --autostart --stages ...`, reads the header's
// Shape figure (target, stage, progress), checks the users chart draws a
// "Target users" line, then presses Stop. Run by test_shapes.py:
//
//   node web_shape_browser.mjs http://127.0.0.1:PORT/
//
// Prints step lines, then one JSON line {"shape": ..., "detail": ...,
// "chart": ..., "state": ...}; exits 1 with the reason on any failure.
import { chromium } from "playwright-core";

const [url] = process.argv.slice(2);
if (!url) {
  console.error("usage: node web_shape_browser.mjs URL");
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
  await page.locator("#shape-figure").waitFor({ state: "visible" });
  // The second stage: the target has reached its plateau.
  await page.waitForFunction(() =>
    /stage 2\/3/.test(document.getElementById("shape-detail").textContent));
  const shape = await page.locator("#shape").textContent();
  const detail = await page.locator("#shape-detail").textContent();
  console.log("step: the header shows the shape");
  await page.click('.tabs button[data-tab="charts"]');
  await page.locator("#chart-users").waitFor({ state: "visible" });
  const chart = await page.locator("#chart-users").textContent();
  console.log("step: the users chart");
  await page.click("#stop-button");
  await page.waitForFunction(() =>
    document.getElementById("state").textContent === "STOPPED");
  const state = await page.locator("#state").textContent();
  console.log("step: stopped");
  shown = { shape, detail, chart, state };
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
