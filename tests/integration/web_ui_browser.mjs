// The web UI in a real browser: Debian's headless Chromium driven by
// playwright-core (npm, pinned in package-lock.json; it downloads no
// browser). Run by test_web_ui.py against an `rpcload --web` whose target
// is a private nginx:
//
//   node web_ui_browser.mjs http://127.0.0.1:PORT/ DOWNLOAD_DIR
//
// It starts a test from the form, waits for the statistics table to fill
// and the three charts to draw (pixels of the series' colours on each
// canvas), saves a chart as a PNG, sorts the table by a column, shows the
// Exceptions tab (Locust's empty table) and the Current ratio tab,
// changes the user count through Edit and sees the bar follow, stops,
// downloads the requests CSV (the full-history link is hidden without
// --csv-full-history), and fails on any console message, page error or
// failed request along the way. Prints one line per step; exits 0 when all
// passed, 1 with the reason otherwise.
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";

const [url, downloadDir] = process.argv.slice(2);
if (!url || !downloadDir) {
  console.error("usage: node web_ui_browser.mjs URL DOWNLOAD_DIR");
  process.exit(2);
}
const CHROMIUM = process.env.RPCLOAD_CHROMIUM || "/usr/bin/chromium";
const STEP_MS = 20000;
// The charts' series colours (src/web/assets/app.js).
const SERIES = {
  rps: [0x1f, 0x6f, 0xd1], p50: [0x2c, 0xa0, 0x2c], p95: [0xff, 0x7f, 0x0e],
  p99: [0x94, 0x67, 0xbd], users: [0x17, 0xa2, 0xb8],
};
const CSV_HEADER =
  "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time," +
  "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s," +
  "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%";

const problems = [];
function step(text) {
  console.log("step: " + text);
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  timeout: 60000,
});
let failed = null;
try {
  const context = await browser.newContext({
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
  });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  page.on("console", (m) => problems.push(`console ${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => {
    // A download's navigation is "aborted" by design.
    if (!r.url().includes("/csv")) problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });

  await page.goto(url, { waitUntil: "load" });
  await page.locator("#state").filter({ hasText: "READY" }).waitFor();
  await page.locator("#start").waitFor({ state: "visible" });
  step("the start form shows, state READY");

  await page.fill("#start-users", "4");
  await page.fill("#start-rate", "100");
  await page.click("#start-button");
  await page.locator("#state").filter({ hasText: /SPAWNING|RUNNING/ }).waitFor();
  await page.locator("#users").filter({ hasText: /^4$/ }).waitFor();
  step("started from the form: 4 users");

  // The table fills: a /hello row with requests, and the Aggregated row.
  await page.waitForFunction(() => {
    const row = [...document.querySelectorAll("#stats-table tbody tr")]
      .find((tr) => tr.cells[1] && tr.cells[1].textContent === "/hello");
    return row && Number(row.cells[2].textContent) > 0 && Number(row.cells[11].textContent) > 0;
  });
  const agg = await page.locator("#stats-table tfoot td").nth(1).textContent();
  if (agg !== "Aggregated") throw new Error(`no Aggregated row (got ${agg})`);
  const headers = await page.locator("#stats-table thead th").allTextContents();
  step("the statistics table fills: " + headers.join(" | "));

  // The charts draw: every series' colour on its canvas.
  await page.click('.tabs button[data-tab="charts"]');
  await page.waitForFunction(() => document.querySelectorAll(".chart canvas").length === 3);
  await page.waitForTimeout(3500); // a few polls: lines need two points
  const colours = await page.evaluate((series) => {
    const near = (d, i, c) =>
      Math.abs(d[i] - c[0]) < 40 && Math.abs(d[i + 1] - c[1]) < 40 && Math.abs(d[i + 2] - c[2]) < 40 && d[i + 3] > 100;
    const count = (canvas, c) => {
      // Read a copy made for reading (reading the chart's own canvas
      // makes Chromium log a performance warning).
      const copy = document.createElement("canvas");
      copy.width = canvas.width;
      copy.height = canvas.height;
      const ctx = copy.getContext("2d", { willReadFrequently: true });
      ctx.drawImage(canvas, 0, 0);
      const d = ctx.getImageData(0, 0, copy.width, copy.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (near(d, i, c)) n++;
      return n;
    };
    const cs = [...document.querySelectorAll(".chart canvas")];
    return {
      rps: count(cs[0], series.rps), p50: count(cs[1], series.p50), p95: count(cs[1], series.p95),
      p99: count(cs[1], series.p99), users: count(cs[2], series.users),
    };
  }, SERIES);
  for (const [k, n] of Object.entries(colours))
    if (n < 20) throw new Error(`chart series ${k} not drawn (${n} pixels of its colour): ${JSON.stringify(colours)}`);
  step("the charts draw: " + JSON.stringify(colours));

  // A chart saved as an image: a PNG of the plot's size or more.
  {
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.click('.save-chart[data-chart="0"]'),
    ]);
    const file = path.join(downloadDir, download.suggestedFilename() || "chart.png");
    await download.saveAs(file);
    const png = fs.readFileSync(file);
    const magic = png.subarray(0, 8).toString("hex");
    if (magic !== "89504e470d0a1a0a") throw new Error(`not a PNG: ${magic}`);
    const width = png.readUInt32BE(16), height = png.readUInt32BE(20);
    if (width < 300 || height < 250) throw new Error(`PNG of ${width}x${height}`);
    if (!/^rpcload_rps_\d+\.png$/.test(download.suggestedFilename()))
      throw new Error(`PNG named ${download.suggestedFilename()}`);
    step(`saved the requests/s chart: ${download.suggestedFilename()}, ${width}x${height}`);
  }

  // Sorting: a click on a head sorts by it, a second reverses; the
  // Aggregated row stays at the foot.
  await page.click('.tabs button[data-tab="stats"]');
  const reqHead = page.locator('#stats-table thead th[data-key="num_requests"]');
  await reqHead.click();
  if ((await reqHead.getAttribute("aria-sort")) !== "ascending") throw new Error("no ascending sort");
  await reqHead.click();
  if ((await reqHead.getAttribute("aria-sort")) !== "descending") throw new Error("no descending sort");
  if ((await page.locator("#stats-table tfoot td").nth(1).textContent()) !== "Aggregated")
    throw new Error("the Aggregated row left the foot");
  step("sorted by # Requests, both ways");

  // Exceptions: Locust's table, empty.
  await page.click('.tabs button[data-tab="exceptions"]');
  await page.locator("#no-exceptions").waitFor({ state: "visible" });
  const exHeads = await page.locator("#exceptions-table thead th").allTextContents();
  if (exHeads.join("|") !== "# Occurrences|Message|Traceback|Nodes") throw new Error(`exceptions heads ${exHeads}`);
  if ((await page.locator("#exceptions-table tbody tr").count()) !== 0) throw new Error("exception rows");
  step("the Exceptions tab: " + exHeads.join(" | ") + ", no rows");

  // Current ratio: the one class and its one task, from /tasks.
  await page.click('.tabs button[data-tab="ratio"]');
  await page.locator("#ratio-per-class .ratio-item").filter({ hasText: "100.0% User" }).waitFor();
  await page.locator("#ratio-total .ratio-item").filter({ hasText: "100.0% task 1" }).waitFor();
  step("the Current ratio tab: " + (await page.locator("#tab-ratio").innerText()).replace(/\s+/g, " "));

  if (process.env.RPCLOAD_WEB_UI_SCREENSHOT)
    await page.screenshot({ path: process.env.RPCLOAD_WEB_UI_SCREENSHOT, fullPage: true });

  // Edit: down to 2 users, then up to 6.
  for (const users of ["2", "6"]) {
    await page.click("#edit-button");
    await page.locator("#edit").waitFor({ state: "visible" });
    await page.fill("#edit-users", users);
    await page.fill("#edit-rate", "100");
    await page.click("#update-button");
    await page.locator("#users").filter({ hasText: new RegExp(`^${users}$`) }).waitFor();
    step(`edited: the bar shows ${users} users`);
  }

  await page.click("#stop-button");
  await page.locator("#state").filter({ hasText: "STOPPED" }).waitFor();
  await page.locator("#new-button").waitFor({ state: "visible" });
  step("stopped: state STOPPED, New test offered");

  await page.click('.tabs button[data-tab="download"]');
  if (await page.locator("#dl-history").isVisible()) throw new Error("full-history link without --csv-full-history");
  {
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#dl-requests")]);
    const file = path.join(downloadDir, download.suggestedFilename() || "requests.csv");
    await download.saveAs(file);
    const csv = fs.readFileSync(file, "utf8");
    const lines = csv.split("\r\n");
    if (lines[0] !== CSV_HEADER) throw new Error(`CSV header: ${JSON.stringify(lines[0])}`);
    if (!lines.some((l) => l.startsWith("GET,/hello,")) || !lines.some((l) => l.startsWith(",Aggregated,")))
      throw new Error(`CSV rows: ${JSON.stringify(csv.slice(0, 400))}`);
    step(`downloaded ${download.suggestedFilename()}: ${lines.length - 1} lines`);
  }

  // "New test" brings the form back.
  await page.click("#new-button");
  await page.locator("#start").waitFor({ state: "visible" });
  step("New test shows the start form");
  await page.waitForTimeout(500);
} catch (e) {
  failed = e;
} finally {
  await browser.close();
}
if (failed) {
  console.log("FAILED: " + (failed.stack || failed));
  if (problems.length) console.log("browser messages:\n  " + problems.join("\n  "));
  process.exit(1);
}
if (problems.length) {
  console.log("FAILED: the browser reported:\n  " + problems.join("\n  "));
  process.exit(1);
}
console.log("ok");
