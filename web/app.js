// digitnet's page: draw → /api/predict (debounced), feature maps → /api/inspect,
// uploads (file picker or drag-and-drop) → /api/predict, /api/read or /api/angle.
// Plain DOM, no framework.
"use strict";

const $ = (id) => document.getElementById(id);

/** POSTs `body` to `url`; resolves to the JSON answer, or throws the API's `error` message as
 *  it is (or a plain sentence when the server gave none or could not be reached). */
async function post(url, body, contentType) {
  const headers = contentType ? { "Content-Type": contentType } : {};
  let r;
  try {
    r = await fetch(url, { method: "POST", body, headers });
  } catch {
    throw new Error("The server could not be reached: is digitnet serve still running?");
  }
  const j = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(j.error || `The server answered ${r.status} ${r.statusText}`.trim());
  return j;
}

function element(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text != null) e.textContent = text;
  return e;
}

/** A figure: `content` (an image or a canvas) above its caption. */
function figure(content, caption) {
  const f = element("figure");
  f.append(content, element("figcaption", null, caption));
  return f;
}

/** Draws 28×28 (or w×h) ink bytes (0 = background, 255 = ink) onto `canvas`, white on black. */
function drawGray(canvas, bytes, w = 28, h = 28) {
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(w, h);
  for (let i = 0; i < w * h; i++) {
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = bytes[i];
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/** Ten probability bars (0–9); empty tracks without an answer. */
function showBars(barsEl, answer) {
  barsEl.replaceChildren();
  for (let k = 0; k < 10; k++) {
    const p = answer ? answer.probabilities[k] : 0;
    const bar = element("div", "bar" + (answer && String(k) === answer.digit ? " best" : ""));
    const fill = element("div");
    fill.style.width = `${(p * 100).toFixed(1)}%`;
    bar.append(fill);
    barsEl.append(element("span", null, k), bar, element("span", "pct", answer ? `${(p * 100).toFixed(1)} %` : ""));
  }
}

/** The digit, its confidence and ten probability bars. */
function showPrediction(answer, digitEl, confEl, barsEl) {
  digitEl.textContent = answer.digit;
  confEl.textContent = `${(answer.confidence * 100).toFixed(1)} %`;
  showBars(barsEl, answer);
}

// ---------------------------------------------------------------------------------------------
// The model line
// ---------------------------------------------------------------------------------------------

fetch("/api/model").then((r) => r.json()).then((m) => {
  const acc = m.val_accuracy != null ? ` · validation accuracy ${(m.val_accuracy * 100).toFixed(2)} %` + (m.epoch ? ` (epoch ${m.epoch})` : "") : "";
  $("model-info").textContent = `model ${m.name} · ${m.parameters.toLocaleString("en")} parameters · ${m.layers.length} layers${acc}`;
}).catch(() => { $("model-info").textContent = "model information unavailable"; });

// ---------------------------------------------------------------------------------------------
// Drawing
// ---------------------------------------------------------------------------------------------

const pad = $("pad");
const ctx = pad.getContext("2d");
let drawn = false;
let last = null;

/** The empty state: a blank pad, a hint where the answer goes, empty bars and an empty 28×28. */
function clearPad() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
  drawn = false;
  $("pad-wrap").classList.add("blank");
  sequence++; // an answer still on its way belongs to the old drawing
  $("answer").classList.add("empty");
  $("digit").textContent = "";
  $("confidence").textContent = "";
  showBars($("bars"));
  const seen = $("seen");
  seen.getContext("2d").clearRect(0, 0, seen.width, seen.height);
  $("draw-status").textContent = "";
  $("maps").replaceChildren();
  if (mapsOpen) $("maps").textContent = "Draw a digit first.";
}

function at(e) {
  const r = pad.getBoundingClientRect();
  return [(e.clientX - r.left) * (pad.width / r.width), (e.clientY - r.top) * (pad.height / r.height)];
}

function stroke(from, to) {
  ctx.strokeStyle = "#000";
  ctx.fillStyle = "#000";
  // The pen's width is in screen pixels; the pad may be drawn smaller than its 280 pixels.
  ctx.lineWidth = Number($("pen").value) * (pad.width / pad.getBoundingClientRect().width);
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(from[0], from[1]);
  ctx.lineTo(to[0], to[1]);
  ctx.stroke();
  drawn = true;
  $("pad-wrap").classList.remove("blank");
}

pad.addEventListener("pointerdown", (e) => {
  pad.setPointerCapture(e.pointerId);
  last = at(e);
  stroke(last, last);
  schedule();
});
pad.addEventListener("pointermove", (e) => {
  if (!last) return;
  const p = at(e);
  stroke(last, p);
  last = p;
  schedule();
});
for (const ev of ["pointerup", "pointercancel"]) {
  pad.addEventListener(ev, () => {
    if (last) predictDrawing();
    last = null;
  });
}
$("clear").addEventListener("click", clearPad);
$("pen").addEventListener("input", () => { $("pen-value").textContent = $("pen").value; });

// Debounced prediction: at most one request in flight, answers older than the latest ignored.
let timer = null;
let sequence = 0;
function schedule() {
  clearTimeout(timer);
  timer = setTimeout(predictDrawing, 150);
}

function padBlob() {
  return new Promise((resolve) => pad.toBlob(resolve, "image/png"));
}

async function predictDrawing() {
  clearTimeout(timer);
  if (!drawn) return;
  const mine = ++sequence;
  try {
    const answer = await post("/api/predict?show=true", await padBlob(), "image/png");
    if (mine !== sequence) return;
    $("answer").classList.remove("empty");
    showPrediction(answer, $("digit"), $("confidence"), $("bars"));
    drawGray($("seen"), answer.input);
    $("draw-status").textContent = "";
    if (mapsOpen) showMaps();
  } catch (err) {
    if (mine !== sequence) return;
    $("draw-status").textContent = err.message;
  }
}

// ---------------------------------------------------------------------------------------------
// Feature maps
// ---------------------------------------------------------------------------------------------

let mapsOpen = false;

/** One canvas per layer: its maps in a grid, one pixel per value, scaled up. As many columns
 *  (at most 16) as about fit `width` pixels at that scale, so a phone gets more rows, not a
 *  wider page (the stylesheet's max-width shrinks a grid a little wider than `width`). */
function layerCanvas(layer, width) {
  const [c, h, w] = layer.shape;
  const scale = Math.max(1, Math.floor(56 / Math.max(w, 8)));
  const fit = Math.max(1, Math.round((width + scale) / ((w + 1) * scale)));
  const cols = Math.min(c, 16, fit);
  const rows = Math.ceil(c / cols);
  const canvas = document.createElement("canvas");
  canvas.width = cols * (w + 1) - 1;
  canvas.height = rows * (h + 1) - 1;
  const g = canvas.getContext("2d");
  g.fillStyle = "#fff";
  g.fillRect(0, 0, canvas.width, canvas.height);
  layer.maps.forEach((m, k) => {
    const img = g.createImageData(w, h);
    for (let i = 0; i < w * h; i++) {
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = m[i];
      img.data[4 * i + 3] = 255;
    }
    g.putImageData(img, (k % cols) * (w + 1), Math.floor(k / cols) * (h + 1));
  });
  canvas.style.width = `${canvas.width * scale}px`;
  return canvas;
}

async function showMaps() {
  if (!drawn) {
    $("maps").textContent = "Draw a digit first.";
    return;
  }
  try {
    const answer = await post("/api/inspect", await padBlob(), "image/png");
    const width = $("maps").clientWidth;
    const out = [];
    for (const layer of answer.layers) {
      const div = element("div", "layer");
      const what = layer.kind === "filters" ? `layer ${layer.index} filters (${layer.shape[1]}×${layer.shape[2]})` : `layer ${layer.index}: ${layer.kind}`;
      div.append(element("h3", null, `${what} — ${layer.shape.join("×")}`), layerCanvas(layer, width));
      out.push(div);
    }
    $("maps").replaceChildren(...out);
  } catch (err) {
    $("maps").textContent = err.message;
  }
}

$("inside").addEventListener("click", () => {
  mapsOpen = true;
  showMaps();
});

// ---------------------------------------------------------------------------------------------
// Uploads
// ---------------------------------------------------------------------------------------------

/** The photo with the boxes of the digits read and their labels. */
function photoWithBoxes(img, digits) {
  const canvas = element("canvas", "photo");
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const g = canvas.getContext("2d");
  g.drawImage(img, 0, 0);
  const lw = Math.max(2, Math.round(Math.max(canvas.width, canvas.height) / 300));
  g.lineWidth = lw;
  g.font = `bold ${Math.max(14, lw * 8)}px system-ui, sans-serif`;
  for (const d of digits) {
    const [x, y, w, h] = d.box;
    g.strokeStyle = "#e0301e";
    g.strokeRect(x, y, w, h);
    g.fillStyle = "#e0301e";
    g.fillText(d.digit, x, Math.max(lw * 8, y - lw));
  }
  return canvas;
}

/** The uploaded photo as a small image (its object URL freed with the next upload). */
let photoUrl = null;
async function thumbnail(file) {
  if (photoUrl) URL.revokeObjectURL(photoUrl);
  photoUrl = URL.createObjectURL(file);
  const img = element("img", "thumb");
  img.alt = "the uploaded photo";
  img.src = photoUrl;
  await img.decode().catch(() => {}); // a file the browser cannot show (TIFF) still goes to the server
  return img;
}

/** "your photo" beside `others`, leaving the photo out when the browser cannot show it. */
function figuresWith(photo, caption, ...others) {
  const figures = element("div", "figures");
  if (photo.naturalWidth) figures.append(figure(photo, caption));
  figures.append(...others);
  return figures;
}

/** A 28×28 image as a canvas scaled up, pixel for pixel. */
function digitCanvas(bytes) {
  const c = element("canvas", "pixelated");
  drawGray(c, bytes);
  return c;
}

async function upload(file) {
  const mode = document.querySelector("input[name=mode]:checked").value;
  const out = $("upload-result");
  delete out.dataset.digit;
  delete out.dataset.angle;
  out.replaceChildren(element("p", "muted", `working on ${file.name}…`));
  const form = new FormData();
  form.append("image", file, file.name);
  const photo = await thumbnail(file);
  try {
    if (mode === "digit") {
      const a = await post("/api/predict?show=true", form);
      const line = element("div", "result-line");
      const big = element("span", "big");
      const digit = element("span");
      const conf = element("span", "muted");
      big.append(digit, conf);
      line.append(big);
      const bars = element("div", "bars");
      showPrediction(a, digit, conf, bars);
      out.replaceChildren(line, bars, figuresWith(photo, "your photo", figure(digitCanvas(a.input), "what the network saw (28×28)")));
      out.dataset.digit = a.digit;
    } else if (mode === "number") {
      const a = await post("/api/read", form);
      const text = element("div", "result-line");
      text.id = "read-text";
      text.textContent = a.text.replace(/\n/g, " / ");
      out.replaceChildren(text);
      if (photo.naturalWidth) out.append(figure(photoWithBoxes(photo, a.digits), "your photo, with the digits found"));
    } else {
      const a = await post("/api/angle?show=true", form);
      const seen = digitCanvas(a.input);
      // The digit is turned `angle` degrees counter-clockwise; turning it back is clockwise,
      // which is a positive rotation on a canvas (y points down).
      const straight = element("canvas", "pixelated");
      straight.width = straight.height = 28;
      const g = straight.getContext("2d");
      g.fillStyle = "#000";
      g.fillRect(0, 0, 28, 28);
      g.translate(14, 14);
      g.rotate((a.angle * Math.PI) / 180);
      g.drawImage(seen, -14, -14);
      const figures = figuresWith(photo, "your photo", figure(seen, "as given (28×28)"), figure(straight, "straightened"));
      const direction = a.angle >= 0 ? "counter-clockwise" : "clockwise";
      out.replaceChildren(element("div", "result-line", `turned ${Math.abs(a.angle).toFixed(1)}° ${direction}`), figures);
      out.dataset.angle = a.angle;
    }
  } catch (err) {
    out.replaceChildren(element("p", "error", err.message), figuresWith(photo, "your photo"));
  }
}

$("file").addEventListener("change", (e) => {
  if (e.target.files.length) upload(e.target.files[0]);
});

// Drag-and-drop: a photo dropped anywhere on the upload section is uploaded as if chosen with
// the file picker; dropped elsewhere, the browser is kept from opening it in place of the page.
const dropZone = $("upload-section");
let dragDepth = 0;
dropZone.addEventListener("dragenter", (e) => {
  e.preventDefault();
  dragDepth++;
  $("drop").classList.add("over");
});
dropZone.addEventListener("dragleave", () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (!dragDepth) $("drop").classList.remove("over");
});
dropZone.addEventListener("dragover", (e) => {
  e.preventDefault();
  e.dataTransfer.dropEffect = "copy";
});
dropZone.addEventListener("drop", (e) => {
  e.preventDefault();
  e.stopPropagation();
  dragDepth = 0;
  $("drop").classList.remove("over");
  const file = [...e.dataTransfer.files].find((f) => f.type.startsWith("image/")) || e.dataTransfer.files[0];
  if (file) upload(file);
});
for (const ev of ["dragover", "drop"]) window.addEventListener(ev, (e) => e.preventDefault());

clearPad();
