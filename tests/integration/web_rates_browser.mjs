// #14's "done when", in a real browser: Debian's headless Chromium
// (playwright-core) drives rpcload's page as a Locust user would. Run by
// test_web_ui.py's CurrentRpsTest:
//
//   node web_rates_browser.mjs http://127.0.0.1:PORT/ NEW_HOST RUN_TIME
//
// It starts a test from the form with a run time and a new host, reads
// the header's current RPS every second, sorts the statistics by
// # Requests and by Name (checking the order shown), reads the users per
// class in the header, opens the Exceptions tab (Locust's empty table) and
// the Current ratio tab (the scenario's two classes and their tasks),
// resets the stats, reads the current RPS every second again, and waits
// for the run time to stop the test. Prints step
// lines, then one JSON line: {"start", "reset", "stopped": ms since the
// epoch, "samples": [{"t", "rps", "phase": "start"|"reset"}]}, which the
// test compares with what the server measured. Exits 1 with the reason on
// any failure, console message or page error.
import { chromium } from "playwright-core";

const [url, newHost, runTime] = process.argv.slice(2);
if (!url || !newHost || !runTime) {
  console.error("usage: node web_rates_browser.mjs URL NEW_HOST RUN_TIME");
  process.exit(2);
}
const CHROMIUM = process.env.RPCLOAD_CHROMIUM || "/usr/bin/chromium";
const SAMPLES = 12; // seconds read after the start, and after the reset
const problems = [];
const out = { samples: [] };
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
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(20000);
  page.on("console", (m) => problems.push(`console ${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });

  // Reads the header's current RPS once a second, SAMPLES times.
  async function sample(phase) {
    const t0 = Date.now();
    for (let i = 1; i <= SAMPLES; i++) {
      await page.waitForTimeout(Math.max(0, t0 + i * 1000 - Date.now()));
      const rps = Number(await page.locator("#rps").textContent());
      out.samples.push({ t: Date.now(), rps, phase });
    }
  }

  await page.goto(url, { waitUntil: "load" });
  await page.locator("#start").waitFor({ state: "visible" });
  await page.fill("#start-users", "40");
  await page.fill("#start-rate", "400");
  await page.fill("#start-host", newHost);
  await page.fill("#start-run-time", runTime);
  const [swarm] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/swarm")),
    page.click("#start-button"),
  ]);
  out.start = Date.now();
  const res = await swarm.json();
  if (!res.success) throw new Error(`swarm refused: ${res.message}`);
  await page.locator("#host").filter({ hasText: newHost }).waitFor();
  await page.locator("#state").filter({ hasText: /SPAWNING|RUNNING/ }).waitFor();
  step(`started with host ${res.host} and run time ${res.run_time} s`);
  await sample("start");
  step("read the current RPS for " + SAMPLES + " s");

  // Sorting: by # Requests, descending (a second click), then by Name.
  const rowsOf = () =>
    page.$$eval("#stats-table tbody tr", (trs) =>
      trs.map((tr) => ({ name: tr.cells[1].textContent, reqs: Number(tr.cells[2].textContent) })));
  const reqHead = page.locator('#stats-table thead th[data-key="num_requests"]');
  await reqHead.click();
  await reqHead.click();
  let rows = await rowsOf();
  if (rows.length !== 3) throw new Error(`stats rows: ${JSON.stringify(rows)}`);
  if (!(rows[0].reqs >= rows[1].reqs && rows[1].reqs >= rows[2].reqs))
    throw new Error(`not by # Requests, descending: ${JSON.stringify(rows)}`);
  const byReqs = rows.map((r) => r.name).join(", ");
  await page.locator('#stats-table thead th[data-key="name"]').click();
  await page.waitForTimeout(1100); // a poll re-renders: the order must hold
  rows = await rowsOf();
  if (rows.map((r) => r.name).join(",") !== "/audit,/hello,/missing")
    throw new Error(`not by Name: ${JSON.stringify(rows)}`);
  step(`sorted: by # Requests descending ${byReqs}; by Name ${rows.map((r) => r.name).join(", ")}`);

  const classes = await page.locator("#user-classes").textContent();
  if (classes !== "Admin 1 \u00b7 Web 39") throw new Error(`users per class: ${classes}`);
  step(`users per class: ${classes}`);

  await page.click('.tabs button[data-tab="exceptions"]');
  await page.locator("#no-exceptions").waitFor({ state: "visible" });
  if ((await page.locator("#exceptions-table tbody tr").count()) !== 0) throw new Error("exception rows");
  step("the Exceptions tab: no exceptions");
  await page.click('.tabs button[data-tab="ratio"]');
  for (const text of ["97.5% Web", "75.0% hello", "25.0% missing", "2.5% Admin", "100.0% audit"])
    await page.locator("#ratio-per-class .ratio-item").filter({ hasText: text }).waitFor();
  for (const text of ["73.1% hello", "24.4% missing", "2.5% audit"])
    await page.locator("#ratio-total .ratio-item").filter({ hasText: text }).waitFor();
  step("the Current ratio tab: " + (await page.locator("#ratio-per-class").innerText()).replace(/\s+/g, " "));
  await page.click('.tabs button[data-tab="stats"]');

  const [reset] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/stats/reset")),
    page.click("#reset-button"),
  ]);
  out.reset = Date.now();
  // (Not reset.text(): Playwright may wait for ever on a fetch's body.)
  if (reset.status() !== 200) throw new Error(`reset: HTTP ${reset.status()}`);
  step("reset the stats");
  await sample("reset");
  step("read the current RPS for " + SAMPLES + " s");

  await page.locator("#state").filter({ hasText: "STOPPED" }).waitFor({ timeout: 60000 });
  out.stopped = Date.now();
  step(`the run time stopped the test ${((out.stopped - out.start) / 1000).toFixed(1)} s after the start`);
} catch (e) {
  failed = e;
} finally {
  await browser.close();
}
if (failed || problems.length) {
  console.log("FAILED: " + (failed ? failed.stack || failed : "") + "\n  " + problems.join("\n  "));
  process.exit(1);
}
console.log(JSON.stringify(out));
