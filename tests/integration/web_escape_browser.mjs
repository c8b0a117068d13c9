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
import { runPage } from "./browser_run.mjs";

await runPage("web_escape_browser.mjs URL", {}, async (page, arg) => {
  await page.goto(arg, { waitUntil: "load" });
  await page.click('.tabs button[data-tab="failures"]');
  await page.locator("#failures-table tbody tr").first().waitFor();
  const error = await page.locator("#failures-table tbody tr td").nth(3).textContent();
  const name = await page.locator("#stats-table tbody tr td").nth(1).textContent();
  console.log("step: the failures table shows a row");
  return { error, name };
});
