// digitnet's page: draw → /api/predict (debounced), feature maps → /api/inspect,
// uploads → /api/predict, /api/read or /api/angle. Plain DOM, no framework.
"use strict";

const $ = (id) => document.getElementById(id);

/** POSTs `body` to `url`; resolves to the JSON answer, or throws its `error` message. */
async function post(url, body, contentType) {
  const headers = contentType ? { "Content-Type": contentType } : {};
  const r = await fetch(url, { method: "POST", body, headers });
  const j = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(j.error || `HTTP ${r.status}`);
  return j;
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

/** The digit, its confidence and ten probability bars. */
function showPrediction(answer, digitEl, confEl, barsEl) {
  digitEl.textContent = answer.digit;
  confEl.textContent = `${(answer.confidence * 100).toFixed(1)} %`;
  barsEl.replaceChildren();
  answer.probabilities.forEach((p, k) => {
    const label = document.createElement("span");
    label.textContent = k;
    const bar = document.createElement("div");
    bar.className = "bar" + (String(k) === answer.digit ? " best" : "");
    const fill = document.createElement("div");
    fill.style.width = `${(p * 100).toFixed(1)}%`;
    bar.append(fill);
    const pct = document.createElement("span");
    pct.className = "pct";
    pct.textContent = `${(p * 100).toFixed(1)} %`;
    barsEl.append(label, bar, pct);
  });
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

function clearPad() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
  drawn = false;
  $("digit").textContent = "–";
  $("confidence").textContent = "";
  $("bars").replaceChildren();
  drawGray($("seen"), new Uint8Array(784));
  $("maps").replaceChildren();
}

function at(e) {
  const r = pad.getBoundingClientRect();
  return [(e.clientX - r.left) * (pad.width / r.width), (e.clientY - r.top) * (pad.height / r.height)];
}

function stroke(from, to) {
  ctx.strokeStyle = "#000";
  ctx.fillStyle = "#000";
  ctx.lineWidth = Number($("pen").value);
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(from[0], from[1]);
  ctx.lineTo(to[0], to[1]);
  ctx.stroke();
  drawn = true;
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

/** One canvas per layer: its maps in a grid (16 a row), one pixel per value, scaled up. */
function layerCanvas(layer) {
  const [c, h, w] = layer.shape;
  const cols = Math.min(c, 16);
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
  const scale = Math.max(1, Math.floor(56 / Math.max(w, 8)));
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
    const out = [];
    for (const layer of answer.layers) {
      const div = document.createElement("div");
      div.className = "layer";
      const title = document.createElement("h3");
      const what = layer.kind === "filters" ? `layer ${layer.index} filters (${layer.shape[1]}×${layer.shape[2]})` : `layer ${layer.index}: ${layer.kind}`;
      title.textContent = `${what} — ${layer.shape.join("×")}`;
      div.append(title, layerCanvas(layer));
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

function element(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text != null) e.textContent = text;
  return e;
}

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

async function upload(file) {
  const mode = document.querySelector("input[name=mode]:checked").value;
  const out = $("upload-result");
  out.replaceChildren(element("p", "muted", "working…"));
  const form = new FormData();
  form.append("image", file, file.name);
  try {
    if (mode === "digit") {
      const a = await post("/api/predict?show=true", form);
      const line = element("div", "result-line");
      const big = element("span", "big");
      const digit = element("span", null);
      const conf = element("span", "muted");
      big.append(digit, conf);
      line.append(big);
      const bars = element("div", "bars");
      const seen = element("canvas", "pixelated");
      showPrediction(a, digit, conf, bars);
      drawGray(seen, a.input);
      out.replaceChildren(line, bars, element("p", "muted", "what the network saw:"), seen);
      out.dataset.digit = a.digit;
    } else if (mode === "number") {
      const a = await post("/api/read", form);
      const img = new Image();
      img.src = URL.createObjectURL(file);
      await img.decode();
      const text = element("div", "result-line");
      text.id = "read-text";
      text.textContent = a.text.replace(/\n/g, " / ");
      out.replaceChildren(text, photoWithBoxes(img, a.digits));
    } else {
      const a = await post("/api/angle?show=true", form);
      const seen = element("canvas", "pixelated");
      drawGray(seen, a.input);
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
      out.replaceChildren(element("div", "result-line", `turned ${a.angle.toFixed(1)}° counter-clockwise`), seen, straight);
      out.dataset.angle = a.angle;
    }
  } catch (err) {
    out.replaceChildren(element("p", "error", err.message));
  }
}

$("file").addEventListener("change", (e) => {
  if (e.target.files.length) upload(e.target.files[0]);
});

clearPad();
