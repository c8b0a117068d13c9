// "Stopped" means final, as the page shows it: Debian's headless Chromium
// (playwright-core) starts a test from the form, stops it after two
// seconds, and reads the statistics table's Aggregated request count as
// soon as the state shows STOPPED. Run by test_web_stop.py:
//
//   node web_stop_browser.mjs http://127.0.0.1:PORT/
//
// Prints step lines, then one JSON line {"requests": N}; exits 1 with the
// reason on any failure or browser error.
import { runPage } from "./browser_run.mjs";

await runPage("web_stop_browser.mjs URL", { httpErrors: true }, async (page, arg) => {
  await page.goto(arg, { waitUntil: "load" });
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
  const requests = Number(cell.replace(/[^0-9]/g, ""));
  console.log(`step: stopped, the table shows ${requests} requests`);
  return { requests };
});
