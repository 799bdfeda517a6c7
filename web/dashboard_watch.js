// Keeps the training dashboard open in headless Chromium (polling and redrawing as a person's
// browser would) until killed; used by web/dashboard_overhead.sh. Usage: node dashboard_watch.js URL
"use strict";
const { chromium } = require("playwright-core");
(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
  const page = await browser.newPage({ viewport: { width: 1000, height: 1000 } });
  await page.goto(process.argv[2]);
  const stop = async () => { await browser.close(); process.exit(0); };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
})();
