// An HTML report (rpcload --html) as a reader sees it in Debian's headless
// Chromium (playwright-core), on a page narrow enough that long request
// names must wrap. Run by test_html_report.py:
//
//   node html_report_browser.mjs FILE.html
//
// Prints one JSON line:
//   {"names": [{"text", "breaks": [the character before each line break]}],
//    "target": the Run table's Target cell or null,
//    "ticks": [[the x-axis tick labels of each chart]],
//    "problems": [console messages, page errors]}
// exits 1 with the reason on any failure to read the page.
import { chromium } from "playwright-core";

const [file] = process.argv.slice(2);
if (!file) {
  console.error("usage: node html_report_browser.mjs FILE.html");
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
let out = null;
let failed = null;
try {
  const page = await (await browser.newContext({ viewport: { width: 420, height: 900 } }))
    .newPage();
  page.setDefaultTimeout(20000);
  page.on("console", (m) => problems.push(`console ${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  // uPlot draws its axes on a canvas: keep each chart's instance, whose
  // _values are the tick labels it drew, by wrapping the constructor the
  // page defines (its own properties, such as uPlot.paths, carried over).
  await page.addInitScript(() => {
    window.__plots = [];
    let real;
    Object.defineProperty(window, "uPlot", {
      configurable: true,
      get() {
        return real;
      },
      set(v) {
        const wrapped = function (opts, data, target) {
          const u = new v(opts, data, target);
          window.__plots.push(u);
          return u;
        };
        Object.assign(wrapped, v);
        real = wrapped;
      },
    });
  });
  await page.goto("file://" + file, { waitUntil: "load" });
  await page.waitForSelector("html[data-rl-rendered='1']");
  out = await page.evaluate(() => {
    // Where each name cell's text breaks: the character before each place
    // where the next character starts a lower line.
    const names = [];
    for (const td of document.querySelectorAll("td.name")) {
      const chars = [];
      const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
      for (let n = walker.nextNode(); n; n = walker.nextNode())
        for (let i = 0; i < n.data.length; i++) {
          const r = document.createRange();
          r.setStart(n, i);
          r.setEnd(n, i + 1);
          const rect = r.getBoundingClientRect();
          chars.push({ c: n.data[i], top: rect.top, h: rect.height });
        }
      const breaks = [];
      for (let i = 1; i < chars.length; i++)
        if (chars[i].top > chars[i - 1].top + chars[i - 1].h / 2) breaks.push(chars[i - 1].c);
      names.push({ text: td.textContent, breaks });
    }
    let target = null;
    for (const tr of document.querySelectorAll("#run table.params tr"))
      if (tr.querySelector("th").textContent === "Target")
        target = tr.querySelector("td").textContent;
    const ticks = window.__plots.map((u) => (u.axes[0]._values || []).map(String));
    return { names, target, ticks };
  });
} catch (e) {
  failed = e;
} finally {
  await browser.close();
}
if (failed) {
  console.error(`error: ${failed.message}`);
  process.exit(1);
}
out.problems = problems;
console.log(JSON.stringify(out));
