// What every browser check here shares: Debian's headless Chromium
// (playwright-core, $RPCLOAD_CHROMIUM or /usr/bin/chromium), one page that
// records console messages, page errors and (when asked) HTTP errors as
// problems, and one verdict: the check's result as the last JSON line, or
// "FAILED: ..." and exit 1 on an exception or any problem.
//
//   import { runPage } from "./browser_run.mjs";
//   await runPage("web_x_browser.mjs URL", { httpErrors: true }, async (page, url) => {
//     await page.goto(url); ...; return { shown: ... };
//   });
import { chromium } from "playwright-core";

export async function runPage(usage, options, check) {
  const [arg] = process.argv.slice(2);
  if (!arg) {
    console.error("usage: node " + usage);
    process.exit(2);
  }
  const problems = [];
  const browser = await chromium.launch({
    executablePath: process.env.RPCLOAD_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    timeout: 60000,
  });
  let failed = null;
  let result = null;
  try {
    const context = await browser.newContext(options.viewport ? { viewport: options.viewport } : {});
    const page = await context.newPage();
    page.setDefaultTimeout(20000);
    page.on("console", (m) => problems.push(`console ${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    if (options.httpErrors)
      page.on("response", (r) => {
        if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
      });
    result = await check(page, arg);
  } catch (e) {
    failed = e;
  } finally {
    await browser.close();
  }
  if (failed || problems.length) {
    console.log("FAILED: " + (failed ? failed.stack || failed : "") + "\n  " + problems.join("\n  "));
    process.exit(1);
  }
  console.log(JSON.stringify(result));
}
