// The page as a person uses it, in headless Chromium driven by Playwright (run by web/test.sh):
// draw a 7 with mouse events → the page shows 7; open the feature maps; upload a photo of a
// digit and of a number → the page shows the right digits. Prints "N passed, M failed".
//
// Usage: node browser_test.js URL [SCREENSHOT.png]
"use strict";

const { chromium } = require("playwright-core");
const path = require("path");

const url = process.argv[2];
const screenshot = process.argv[3];
const fixtures = path.join(__dirname, "fixtures");
let passed = 0;
let failed = 0;

async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok: ${name}`);
  } catch (err) {
    failed++;
    console.log(`FAILED: ${name}: ${err.message.split("\n")[0]}`);
  }
}

function expectEqual(found, wanted, what) {
  if (found !== wanted) throw new Error(`${what}: expected ${JSON.stringify(wanted)}, found ${JSON.stringify(found)}`);
}

/** Drags the mouse through `points` (fractions of the pad's size) with the button down. */
async function stroke(page, box, points) {
  const at = ([fx, fy]) => [box.x + fx * box.width, box.y + fy * box.height];
  const [x0, y0] = at(points[0]);
  await page.mouse.move(x0, y0);
  await page.mouse.down();
  for (const p of points.slice(1)) {
    const [x, y] = at(p);
    await page.mouse.move(x, y, { steps: 12 });
  }
  await page.mouse.up();
}

(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
  const page = await browser.newPage({ viewport: { width: 1000, height: 1200 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);

  await check("the model line loads", async () => {
    await page.waitForFunction(() => document.getElementById("model-info").textContent.startsWith("model "), null, { timeout: 10000 });
  });

  await check("a 7 drawn with the mouse is read as 7", async () => {
    const box = await page.locator("#pad").boundingBox();
    // The bar, then the stem down to the lower left.
    await stroke(page, box, [[0.22, 0.2], [0.78, 0.2], [0.45, 0.85]]);
    await page.waitForFunction(() => document.getElementById("digit").textContent === "7", null, { timeout: 10000 });
    const bars = await page.locator("#bars .bar").count();
    expectEqual(bars, 10, "probability bars");
  });

  await check("a photo of one digit is read", async () => {
    await page.check("input[name=mode][value=digit]");
    await page.setInputFiles("#file", path.join(fixtures, "digit.png"));
    await page.waitForFunction(() => document.getElementById("upload-result").dataset.digit !== undefined, null, { timeout: 10000 });
    expectEqual(await page.evaluate(() => document.getElementById("upload-result").dataset.digit), "2", "digit.png");
  });

  await check("a photo of a number shows its digits and boxes", async () => {
    await page.check("input[name=mode][value=number]");
    await page.setInputFiles("#file", path.join(fixtures, "number.png"));
    await page.waitForSelector("#read-text", { timeout: 10000 });
    expectEqual(await page.textContent("#read-text"), "72104", "number.png");
    const canvases = await page.locator("#upload-result canvas.photo").count();
    expectEqual(canvases, 1, "the photo with its boxes");
  });

  if (screenshot) {
    await page.screenshot({ path: screenshot, fullPage: false });
    console.log(`screenshot: ${screenshot}`);
  }

  await check("a photo of a turned digit shows its angle and the straightened digit", async () => {
    await page.check("input[name=mode][value=rotated]");
    await page.setInputFiles("#file", path.join(fixtures, "rotated.png"));
    await page.waitForFunction(() => document.getElementById("upload-result").dataset.angle !== undefined, null, { timeout: 10000 });
    const angle = Number(await page.evaluate(() => document.getElementById("upload-result").dataset.angle));
    if (!(Math.abs(angle - 30) < 10)) throw new Error(`rotated.png (turned 30°): the page says ${angle}°`);
    expectEqual(await page.locator("#upload-result canvas").count(), 2, "the digit seen and straightened");
  });

  await check("the feature maps of the drawing are shown on demand", async () => {
    await page.click("#inside");
    await page.waitForFunction(() => document.querySelectorAll("#maps .layer canvas").length >= 10, null, { timeout: 10000 });
  });

  await check("the clear button empties the answer", async () => {
    await page.click("#clear");
    expectEqual(await page.textContent("#digit"), "–", "after clear");
  });

  await check("no script errors", async () => {
    expectEqual(errors.join("; "), "", "page errors");
  });

  await browser.close();
  console.log(`browser test: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})().catch((err) => {
  console.log(`browser test: could not run: ${err.message}`);
  process.exit(1);
});
