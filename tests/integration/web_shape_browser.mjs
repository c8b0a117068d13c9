// A load shape in the web UI: Debian's headless Chromium (playwright-core)
// opens an `rpcload --web --autostart --stages ...`, reads the header's
// Shape figure (target, stage, progress), checks the users chart draws a
// "Target users" line, then presses Stop. Run by test_shapes.py:
//
//   node web_shape_browser.mjs http://127.0.0.1:PORT/
//
// Prints step lines, then one JSON line {"shape": ..., "detail": ...,
// "chart": ..., "state": ...}; exits 1 with the reason on any failure.
import { runPage } from "./browser_run.mjs";

await runPage("web_shape_browser.mjs URL", {}, async (page, arg) => {
  await page.goto(arg, { waitUntil: "load" });
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
  return { shape, detail, chart, state };
});
