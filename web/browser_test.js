// The page and the training dashboard as a person uses them, in headless Chromium driven by
// Playwright (run by web/test.sh), at a desktop size (1280×800) and a phone's (390×844, touch).
// At each size: the empty state; a 7 drawn (with the mouse, or a finger on the phone) is read
// as 7; the feature maps; photos of a digit, a number and a turned digit uploaded with the file
// picker, and a number and an image without a digit dropped on the page; the favicon; and that
// nothing is wider than the screen after each of these. The dashboard of a finished run: round
// ticks (a log axis for the loss), whole legends, nothing wider than the screen. Prints
// "N passed, M failed".
//
// Usage: node browser_test.js --page URL [--dashboard URL] [--screenshots DIR]
"use strict";

const { chromium } = require("playwright-core");
const fs = require("fs");
const path = require("path");

const options = {};
for (let i = 2; i + 1 < process.argv.length; i += 2) options[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
if (!options.page) {
  console.log("usage: node browser_test.js --page URL [--dashboard URL] [--screenshots DIR]");
  process.exit(2);
}
const fixtures = path.join(__dirname, "fixtures");
const SIZES = [
  { name: "desktop", viewport: { width: 1280, height: 800 } },
  { name: "phone", viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
];
// Chromium as web/test.sh's comment says; Playwright gives every launch a fresh temporary
// --user-data-dir of its own.
const CHROMIUM_FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
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
  if (JSON.stringify(found) !== JSON.stringify(wanted)) throw new Error(`${what}: expected ${JSON.stringify(wanted)}, found ${JSON.stringify(found)}`);
}

function expect(ok, what) {
  if (!ok) throw new Error(what);
}

/** Nothing sideways: the document is no wider than the viewport, and no element reaches past
 *  its right edge (which would be cut off or scroll). */
async function fitsTheScreen(page, width) {
  const r = await page.evaluate(() => {
    const vw = document.documentElement.clientWidth;
    const wide = [];
    for (const e of document.querySelectorAll("body *")) {
      const b = e.getBoundingClientRect();
      if (b.width > 0 && b.right > vw + 0.5) wide.push(`<${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""}${e.className ? "." + String(e.className).split(" ")[0] : ""}> ends at ${b.right.toFixed(0)} px`);
    }
    return { vw, scroll: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth), wide };
  });
  expectEqual(r.vw, width, "the layout width");
  expect(r.scroll <= width, `the page is ${r.scroll} px wide on a ${width} px screen (${r.wide.slice(0, 3).join(", ")})`);
  expect(!r.wide.length, `wider than the ${width} px screen: ${r.wide.slice(0, 3).join(", ")}`);
}

/** Drags through `points` (fractions of the pad's size): with the mouse, or with a finger
 *  (touch events through the DevTools protocol, as a phone sends them). */
async function stroke(page, points, finger) {
  const box = await page.locator("#pad").boundingBox();
  const at = ([fx, fy]) => ({ x: box.x + fx * box.width, y: box.y + fy * box.height });
  const path = [at(points[0])];
  for (let i = 1; i < points.length; i++) {
    const [a, b] = [at(points[i - 1]), at(points[i])];
    for (let s = 1; s <= 12; s++) path.push({ x: a.x + ((b.x - a.x) * s) / 12, y: a.y + ((b.y - a.y) * s) / 12 });
  }
  if (finger) {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Input.dispatchTouchEvent", { type: "touchStart", touchPoints: [path[0]] });
    for (const p of path.slice(1)) await cdp.send("Input.dispatchTouchEvent", { type: "touchMove", touchPoints: [p] });
    await cdp.send("Input.dispatchTouchEvent", { type: "touchEnd", touchPoints: [] });
    await cdp.detach();
  } else {
    await page.mouse.move(path[0].x, path[0].y);
    await page.mouse.down();
    for (const p of path.slice(1)) await page.mouse.move(p.x, p.y);
    await page.mouse.up();
  }
}

/** Drags `transfer` (a DataTransfer handle) over the upload section and drops it there; checks
 *  the drop zone lights up while the file is over it. */
async function drop(page, transfer) {
  await page.dispatchEvent("#upload-section", "dragenter", { dataTransfer: transfer });
  await page.dispatchEvent("#upload-section", "dragover", { dataTransfer: transfer });
  expect(await page.locator("#drop.over").count() === 1, "the drop zone is not highlighted while a file is dragged over it");
  await page.dispatchEvent("#upload-section", "drop", { dataTransfer: transfer });
  expect(await page.locator("#drop.over").count() === 0, "the drop zone stays highlighted after the drop");
}

/** A DataTransfer holding the fixture `name` as a dragged file. */
function fixtureTransfer(page, name) {
  const b64 = fs.readFileSync(path.join(fixtures, name)).toString("base64");
  return page.evaluateHandle(({ b64, name }) => {
    const dt = new DataTransfer();
    dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name, { type: "image/png" }));
    return dt;
  }, { b64, name });
}

/** Waits for an upload's answer: `dataset.digit`/`angle`, the read text or an error. */
async function uploaded(page, what) {
  await page.waitForFunction((what) => {
    const out = document.getElementById("upload-result");
    return what === "error" ? out.querySelector(".error") : what === "number" ? out.querySelector("#read-text") : out.dataset[what] !== undefined;
  }, what, { timeout: 15000 });
}

/** The captions of the upload result's figures, each with the size its image is shown at. */
function figures(page) {
  return page.evaluate(() => [...document.querySelectorAll("#upload-result figure")].map((f) => {
    const img = f.querySelector("img, canvas");
    const b = img ? img.getBoundingClientRect() : { width: 0, height: 0 };
    return { caption: f.querySelector("figcaption").textContent, shown: b.width > 20 && b.height > 20 && (img.tagName !== "IMG" || img.naturalWidth > 0) };
  }));
}

async function testPage(browser, size) {
  const context = await browser.newContext({ viewport: size.viewport, deviceScaleFactor: size.deviceScaleFactor || 1, isMobile: !!size.isMobile, hasTouch: !!size.hasTouch });
  const page = await context.newPage();
  const errors = [];
  const elsewhere = [];
  const origin = new URL(options.page).origin;
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("request", (r) => { if (!r.url().startsWith(origin) && !/^(data|blob):/.test(r.url())) elsewhere.push(r.url()); });
  const width = size.viewport.width;
  const at = (name) => `${size.name}: ${name}`;
  await page.goto(options.page);

  await check(at("the model line loads"), async () => {
    await page.waitForFunction(() => document.getElementById("model-info").textContent.startsWith("model "), null, { timeout: 10000 });
  });

  await check(at("the favicon is the page's own SVG, and draws"), async () => {
    const href = await page.getAttribute("link[rel=icon]", "href");
    expectEqual(href, "/favicon.svg", "the icon link");
    const icon = await page.evaluate(async (href) => {
      const r = await fetch(href);
      const i = new Image();
      i.src = href;
      await i.decode();
      return { type: r.headers.get("content-type"), width: i.naturalWidth };
    }, href);
    expectEqual(icon.type, "image/svg+xml", "the icon's type");
    expect(icon.width > 0, "the favicon does not decode");
  });

  await check(at("the empty state: a hint where the answer goes, ten empty bars, no black square"), async () => {
    expect(await page.isVisible("#answer-hint"), "no hint before anything is drawn");
    expect(!(await page.isVisible("#digit")), "the digit is shown before anything is drawn");
    expectEqual(await page.locator("#bars .bar").count(), 10, "bars");
    expectEqual(await page.evaluate(() => [...document.querySelectorAll("#bars .bar > div")].map((d) => d.getBoundingClientRect().width).reduce((a, b) => a + b)), 0, "filled bars");
    const seen = await page.evaluate(() => getComputedStyle(document.getElementById("seen")).backgroundColor);
    expect(seen !== "rgb(0, 0, 0)", "the 28×28 box is a black square before anything is drawn");
    expectEqual(await page.textContent("#draw-status"), "", "status line");
  });

  await check(at("nothing is wider than the screen: empty page"), () => fitsTheScreen(page, width));

  await check(at(`a 7 drawn with the ${size.hasTouch ? "finger" : "mouse"} is read as 7`), async () => {
    // The bar, then the stem down to the lower left.
    await stroke(page, [[0.22, 0.2], [0.78, 0.2], [0.45, 0.85]], size.hasTouch);
    await page.waitForFunction(() => document.getElementById("digit").textContent === "7", null, { timeout: 10000 });
    expectEqual(await page.locator("#bars .bar").count(), 10, "probability bars");
    expect(!(await page.isVisible("#answer-hint")), "the hint stays after drawing");
  });

  await check(at("nothing is wider than the screen: after drawing"), () => fitsTheScreen(page, width));

  await check(at("a photo of one digit is read, beside the photo and what the network saw"), async () => {
    await page.check("input[name=mode][value=digit]");
    await page.setInputFiles("#file", path.join(fixtures, "digit.png"));
    await uploaded(page, "digit");
    expectEqual(await page.evaluate(() => document.getElementById("upload-result").dataset.digit), "2", "digit.png");
    expectEqual(await figures(page), [{ caption: "your photo", shown: true }, { caption: "what the network saw (28×28)", shown: true }], "figures");
  });
  await check(at("nothing is wider than the screen: a digit uploaded"), () => fitsTheScreen(page, width));

  await check(at("a photo of a number shows its digits and boxes"), async () => {
    await page.check("input[name=mode][value=number]");
    await page.setInputFiles("#file", path.join(fixtures, "number.png"));
    await uploaded(page, "number");
    expectEqual(await page.textContent("#read-text"), "72104", "number.png");
    expectEqual(await page.locator("#upload-result canvas.photo").count(), 1, "the photo with its boxes");
    expectEqual(await figures(page), [{ caption: "your photo, with the digits found", shown: true }], "figures");
  });
  await check(at("nothing is wider than the screen: a number uploaded"), () => fitsTheScreen(page, width));
  if (options.screenshots && size.name === "desktop") await page.screenshot({ path: path.join(options.screenshots, "serve-page.png"), fullPage: true });

  await check(at("a photo of a turned digit: its angle, and the photo, the digit as given and straightened, labelled"), async () => {
    await page.check("input[name=mode][value=rotated]");
    await page.setInputFiles("#file", path.join(fixtures, "rotated.png"));
    await uploaded(page, "angle");
    const angle = Number(await page.evaluate(() => document.getElementById("upload-result").dataset.angle));
    expect(Math.abs(angle - 30) < 10, `rotated.png (turned 30°): the page says ${angle}°`);
    expect(/^turned \d+\.\d° counter-clockwise$/.test(await page.textContent("#upload-result .result-line")), "the angle line");
    expectEqual(await figures(page), ["your photo", "as given (28×28)", "straightened"].map((caption) => ({ caption, shown: true })), "figures");
  });
  await check(at("nothing is wider than the screen: a turned digit uploaded"), () => fitsTheScreen(page, width));
  if (options.screenshots && size.name === "phone") await page.screenshot({ path: path.join(options.screenshots, "serve-page-phone.png"), fullPage: true, scale: "css" });

  await check(at("a photo of a number dropped on the page is read"), async () => {
    await page.check("input[name=mode][value=number]");
    await drop(page, await fixtureTransfer(page, "number.png"));
    await uploaded(page, "number");
    expectEqual(await page.textContent("#read-text"), "72104", "number.png dropped");
  });
  await check(at("nothing is wider than the screen: a number dropped"), () => fitsTheScreen(page, width));

  await check(at("an image without a digit, dropped: the page shows the API's own message"), async () => {
    await page.check("input[name=mode][value=digit]");
    const blank = await page.evaluateHandle(async () => {
      const c = document.createElement("canvas");
      c.width = c.height = 64;
      const g = c.getContext("2d");
      g.fillStyle = "#fff";
      g.fillRect(0, 0, 64, 64);
      const blob = await new Promise((resolve) => c.toBlob(resolve, "image/png"));
      const dt = new DataTransfer();
      dt.items.add(new File([blob], "blank.png", { type: "image/png" }));
      window.blankPng = blob;
      return dt;
    });
    await drop(page, blank);
    await uploaded(page, "error");
    const api = await page.evaluate(async () => (await (await fetch("/api/predict", { method: "POST", body: window.blankPng })).json()).error);
    expect(api && api.includes("no digit"), `the API says ${JSON.stringify(api)}`);
    expectEqual(await page.textContent("#upload-result .error"), api, "the message shown");
  });
  await check(at("nothing is wider than the screen: an error shown"), () => fitsTheScreen(page, width));

  await check(at("the feature maps of the drawing are shown on demand"), async () => {
    await page.click("#inside");
    await page.waitForFunction(() => document.querySelectorAll("#maps .layer canvas").length >= 10, null, { timeout: 10000 });
  });
  await check(at("nothing is wider than the screen: the feature maps open"), () => fitsTheScreen(page, width));

  await check(at("the clear button returns to the empty state"), async () => {
    await page.click("#clear");
    expectEqual(await page.textContent("#digit"), "", "the digit after clear");
    expect(await page.isVisible("#answer-hint"), "no hint after clear");
    expectEqual(await page.textContent("#maps"), "Draw a digit first.", "the feature maps after clear");
  });

  await check(at("no script errors, nothing fetched from elsewhere"), async () => {
    expectEqual(errors.join("; "), "", "page errors");
    expectEqual(elsewhere, [], "requests to other origins");
  });
  await context.close();
}

/** Is `label` a 1-2-5 × 10^k number written as such ("0.05", "2", "100")? */
const roundLog = (label) => {
  const v = Number(label);
  const m = v / 10 ** Math.floor(Math.log10(v) + 1e-9);
  return v > 0 && String(v) === label && [1, 2, 5].some((r) => Math.abs(m - r) < 1e-9);
};

async function testDashboard(browser, size) {
  const context = await browser.newContext({ viewport: size.viewport, deviceScaleFactor: size.deviceScaleFactor || 1, isMobile: !!size.isMobile, hasTouch: !!size.hasTouch });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const width = size.viewport.width;
  const at = (name) => `${size.name} dashboard: ${name}`;
  await page.goto(options.dashboard);

  await check(at("the finished run's curves stay on the page"), async () => {
    await page.waitForFunction(() => /^finished after/.test(document.getElementById("status").textContent), null, { timeout: 90000 });
    expect((await page.textContent("#status")).includes("until digitnet is stopped (Ctrl-C)"), "the status does not say the page stays");
    expect(await page.locator("#history tbody tr").count() >= 2, "the table of epochs");
    await page.waitForTimeout(200); // the chart redraws after the table
  });

  await check(at("the loss axis is logarithmic with round ticks (1, 0.5, 0.2, 0.1 …)"), async () => {
    expectEqual(await page.getAttribute("#loss-chart", "data-scale"), "log", "the loss axis");
    const ticks = JSON.parse(await page.getAttribute("#loss-chart", "data-ticks"));
    expect(ticks.length >= 2, `ticks ${ticks}`);
    expect(ticks.every(roundLog), `loss ticks ${JSON.stringify(ticks)}`);
  });

  await check(at("the accuracy axis has round, evenly spaced ticks"), async () => {
    const ticks = JSON.parse(await page.getAttribute("#acc-chart", "data-ticks"));
    expect(ticks.length >= 2, `ticks ${ticks}`);
    const v = ticks.map((t) => Number(t.replace(" %", "")));
    const step = v[1] - v[0];
    expect(ticks.every((t) => / %$/.test(t)) && v.every((x, i) => Math.abs(x - (v[0] + i * step)) < 1e-6 && x >= 0 && x <= 100), `accuracy ticks ${JSON.stringify(ticks)}`);
    expect(roundLog(String(Number(step.toPrecision(6)))), `accuracy step ${step} (not 1, 2 or 5 × 10^k)`);
  });

  await check(at("the legends are whole: every label inside its chart"), async () => {
    const items = await page.evaluate(() => [...document.querySelectorAll(".legend span")].map((s) => {
      const f = s.closest(".chart").getBoundingClientRect();
      const b = s.getBoundingClientRect();
      return { text: s.textContent, inside: b.left >= f.left && b.right <= f.right + 0.5 && s.scrollWidth <= s.clientWidth + 0.5 };
    }));
    expectEqual(items.map((i) => i.text), ["train (running)", "train (epoch)", "validation", "train (running)", "train (epoch)", "validation"], "legend labels");
    expect(items.every((i) => i.inside), `cut: ${items.filter((i) => !i.inside).map((i) => i.text)}`);
  });

  await check(at("the favicon is served beside the dashboard too"), async () => {
    expectEqual(await page.getAttribute("link[rel=icon]", "href"), "/favicon.svg", "the icon link");
    expect(await page.evaluate(async () => { const i = new Image(); i.src = "/favicon.svg"; await i.decode(); return i.naturalWidth > 0; }), "the favicon does not decode");
  });

  await check(at("nothing is wider than the screen"), () => fitsTheScreen(page, width));
  if (options.screenshots) await page.screenshot({ path: path.join(options.screenshots, size.name === "phone" ? "dashboard-phone.png" : "dashboard.png"), fullPage: true, scale: "css" });

  await check(at("no script errors"), async () => expectEqual(errors.join("; "), "", "page errors"));
  await context.close();
}

(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: CHROMIUM_FLAGS });
  for (const size of SIZES) await testPage(browser, size);
  if (options.dashboard) for (const size of SIZES) await testDashboard(browser, size);
  await browser.close();
  if (options.screenshots) console.log(`screenshots: ${options.screenshots}`);
  console.log(`browser test: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})().catch((err) => {
  console.log(`browser test: could not run: ${err.message}`);
  process.exit(1);
});
