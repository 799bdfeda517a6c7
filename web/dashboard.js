// digitnet's training dashboard: polls /api/progress?from=N once a second (only the batch
// points it does not have yet) and redraws the curves on canvases. Plain DOM, no framework.
"use strict";

const $ = (id) => document.getElementById(id);
const points = [];
let state = null;

const COLORS = { train: "#9db5e6", trainEpoch: "#2f6fdf", val: "#e0701e" };

/** A line chart: `series` = [{label, color, data: [[x, y]], line, dots}], x from 0 to `xMax`,
 *  y padded by 5 % but kept within [yMin, yMax]. */
function chart(canvas, title, series, xMax, yFormat, yMin, yMax) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  canvas.width = w * dpr;
  canvas.height = h * dpr;
  const g = canvas.getContext("2d");
  g.scale(dpr, dpr);
  g.clearRect(0, 0, w, h);
  const m = { l: 56, r: 12, t: 46, b: 30 };
  const ys = series.flatMap((s) => s.data.map((p) => p[1])).filter(Number.isFinite);
  let lo = ys.length ? Math.min(...ys) : 0, hi = ys.length ? Math.max(...ys) : 1;
  if (hi - lo < 1e-6) { lo -= 0.5; hi += 0.5; }
  const pad = (hi - lo) * 0.05;
  lo = Math.max(lo - pad, yMin);
  hi = Math.min(hi + pad, yMax);
  const X = (x) => m.l + (x / Math.max(xMax, 1e-9)) * (w - m.l - m.r);
  const Y = (y) => h - m.b - ((y - lo) / (hi - lo)) * (h - m.t - m.b);
  g.font = "12px system-ui, sans-serif";
  g.fillStyle = "#1d2430";
  g.fillText(title, m.l, 16);
  g.strokeStyle = "#d9dee7";
  g.fillStyle = "#667085";
  for (let i = 0; i <= 4; i++) {
    const y = lo + ((hi - lo) * i) / 4;
    g.beginPath(); g.moveTo(m.l, Y(y)); g.lineTo(w - m.r, Y(y)); g.stroke();
    g.fillText(yFormat(y), 4, Y(y) + 4);
  }
  const step = Math.max(1, Math.ceil(xMax / 10));
  for (let e = 0; e <= xMax; e += step) g.fillText(String(e), X(e) - 3, h - 10);
  let lx = m.l; // the legend, on the line under the title
  for (const s of series) {
    g.strokeStyle = g.fillStyle = s.color;
    g.lineWidth = 1.5;
    if (s.line && s.data.length) {
      // A new epoch's running average starts afresh: the line breaks between epochs.
      g.beginPath();
      s.data.forEach(([x, y], i) => (i && Math.ceil(x) === Math.ceil(s.data[i - 1][0]) ? g.lineTo(X(x), Y(y)) : g.moveTo(X(x), Y(y))));
      g.stroke();
    }
    if (s.dots) for (const [x, y] of s.data) if (Number.isFinite(y)) { g.beginPath(); g.arc(X(x), Y(y), 3.5, 0, 7); g.fill(); }
    g.fillRect(lx, 24, 10, 10);
    g.fillStyle = "#1d2430";
    g.fillText(s.label, lx + 14, 33);
    lx += g.measureText(s.label).width + 26;
  }
}

function draw() {
  if (!state) return;
  const hist = state.history;
  const xMax = Math.max(state.epochs, 1);
  const pick = (key) => hist.map((r) => [r.epoch, r[key]]);
  const pct = (v) => `${(v * 100).toFixed(1)} %`;
  chart($("loss-chart"), "loss by epoch", [
    { label: "train (running)", color: COLORS.train, data: points.map((p) => [p.x, p.loss]), line: true },
    { label: "train (epoch)", color: COLORS.trainEpoch, data: pick("train_loss"), dots: true },
    { label: "validation", color: COLORS.val, data: pick("val_loss"), dots: true, line: true },
  ], xMax, (v) => v.toFixed(3), 0, Infinity);
  chart($("acc-chart"), "accuracy by epoch", [
    { label: "train (running)", color: COLORS.train, data: points.map((p) => [p.x, p.acc]), line: true },
    { label: "train (epoch)", color: COLORS.trainEpoch, data: pick("train_acc"), dots: true },
    { label: "validation", color: COLORS.val, data: pick("val_acc"), dots: true, line: true },
  ], xMax, pct, 0, 1);
}

function show() {
  const s = state;
  $("title").textContent = `training ${s.title}`;
  document.title = `${s.status} · ${s.title} · digitnet`;
  $("status").textContent = `${s.status} · ${s.seconds.toFixed(0)} s`;
  $("epoch").textContent = s.epochs ? `${s.epoch} / ${s.epochs}` : "–";
  $("batch").textContent = s.batches ? `${s.batch} / ${s.batches}` : "–";
  $("speed").textContent = s.images_per_second ? Math.round(s.images_per_second).toLocaleString("en") : "–";
  $("lr").textContent = s.lr ? s.lr.toExponential(2) : "–";
  const eta = s.status === "training" && s.batch ? (s.epoch_seconds * (s.batches - s.batch)) / s.batch : null;
  $("eta").textContent = eta != null ? `${Math.round(eta)} s` : "–";
  $("bar").style.width = s.batches ? `${(100 * s.batch) / s.batches}%` : "0";
  const best = s.history.reduce((b, r) => (Number.isFinite(r.val_acc) && r.val_acc > b ? r.val_acc : b), -1);
  $("best").textContent = best >= 0 ? `${(best * 100).toFixed(2)} %` : "–";
  $("history").tBodies[0].replaceChildren(...s.history.map((r) => {
    const tr = document.createElement("tr");
    for (const v of [r.epoch, r.train_loss.toFixed(4), r.train_acc.toFixed(4), r.val_loss.toFixed(4), r.val_acc.toFixed(4), r.lr.toExponential(2), r.seconds.toFixed(1)]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.append(td);
    }
    return tr;
  }));
  draw();
}

async function poll() {
  try {
    const r = await fetch(`/api/progress?from=${points.length}`);
    const j = await r.json();
    if (j.from === points.length) points.push(...j.points);
    state = j.state;
    show();
  } catch (err) {
    if (state) $("status").textContent = `${state.status === "finished" ? "finished" : "no answer"}: the training process has ended or is unreachable`;
  }
  setTimeout(poll, 1000);
}

window.addEventListener("resize", draw);
poll();
