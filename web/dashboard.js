// digitnet's training dashboard: polls /api/progress?from=N once a second (only the batch
// points it does not have yet) and redraws the curves on canvases. The loss is on a log axis
// with 1-2-5 ticks (… 1, 0.5, 0.2, 0.1, 0.05 …), the accuracy on a linear one with round
// percentages; the legends are HTML, so they wrap on a narrow screen. Plain DOM, no framework.
"use strict";

const $ = (id) => document.getElementById(id);
const points = [];
let state = null;

const COLORS = { train: "#9db5e6", trainEpoch: "#2f6fdf", val: "#e0701e" };

/** `m × 10^k` without the floating-point tail (2 × 0.1 → 0.2, not 0.20000000000000001). */
const clean = (v) => Number(v.toPrecision(12));

/** A log axis from the round value at or below `lo` to the one at or above `hi` (both > 0):
 *  ticks at 1, 2 and 5 × 10^k, or only at the powers of ten when those would be more than
 *  `maxTicks`. */
function logAxis(lo, hi, maxTicks) {
  const k0 = Math.floor(Math.log10(lo)) - 1;
  const k1 = Math.ceil(Math.log10(hi)) + 1;
  let axis = null;
  for (const mantissas of [[1, 2, 5], [1]]) {
    const all = [];
    for (let k = k0; k <= k1; k++) for (const m of mantissas) all.push(clean(m * 10 ** k));
    let bottom = Math.max(...all.filter((v) => v <= lo * (1 + 1e-9)));
    let top = Math.min(...all.filter((v) => v >= hi * (1 - 1e-9)));
    if (bottom === top) {
      bottom = Math.max(...all.filter((v) => v < bottom));
      top = Math.min(...all.filter((v) => v > top));
    }
    axis = { lo: bottom, hi: top, ticks: all.filter((v) => v >= bottom && v <= top), log: true };
    if (axis.ticks.length <= maxTicks) break;
  }
  return axis;
}

/** A linear axis over [lo, hi] widened to round steps (1, 2 or 5 × 10^k) with at most
 *  `maxTicks` ticks; the step is at least `minStep`. */
function linearAxis(lo, hi, maxTicks, minStep = 0) {
  if (hi - lo < 1e-9) [lo, hi] = [lo - 0.01, hi + 0.01];
  const raw = (hi - lo) / Math.max(1, maxTicks - 1);
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(minStep, [1, 2, 5, 10].map((m) => clean(m * p)).find((s) => s >= raw * (1 - 1e-9)));
  const bottom = clean(Math.floor(lo / step + 1e-9) * step);
  const top = clean(Math.ceil(hi / step - 1e-9) * step);
  const ticks = [];
  for (let i = 0; bottom + i * step <= top + step / 2; i++) ticks.push(clean(bottom + i * step));
  return { lo: bottom, hi: top, ticks, step, log: false };
}

/** A chart of `series` = [{color, data: [[x, y]], line, dots, breaks}] over epochs 0…`xMax`
 *  (`breaks`: the line starts afresh with each epoch, as a running average does), on the
 *  y axis `makeAxis(lo, hi, maxTicks)` gives for the data, with labels from `yFormat`. The
 *  canvas keeps its tick labels in `data-ticks` (the browser test reads them). */
function chart(canvas, series, xMax, makeAxis, yFormat) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const g = canvas.getContext("2d");
  g.scale(dpr, dpr);
  g.clearRect(0, 0, w, h);
  g.font = "12px system-ui, sans-serif";
  const ys = series.flatMap((s) => s.data.map((p) => p[1])).filter(Number.isFinite);
  const top = 10, bottom = 26;
  const maxTicks = Math.max(3, Math.floor((h - top - bottom) / 26) + 1);
  const axis = ys.length ? makeAxis(Math.min(...ys), Math.max(...ys), maxTicks) : null;
  if (!axis) {
    g.fillStyle = "#5d6678";
    g.fillText("waiting for the first batches…", 12, h / 2);
    canvas.dataset.ticks = "[]";
    return;
  }
  const labels = axis.ticks.map((t) => yFormat(t, axis));
  const left = Math.ceil(Math.max(...labels.map((l) => g.measureText(l).width))) + 12;
  const right = 12;
  const X = (x) => left + (x / Math.max(xMax, 1e-9)) * (w - left - right);
  const f = axis.log ? Math.log10 : (v) => v;
  const Y = (y) => h - bottom - ((f(y) - f(axis.lo)) / (f(axis.hi) - f(axis.lo))) * (h - top - bottom);
  g.strokeStyle = "#e3e7ee";
  g.fillStyle = "#5d6678";
  g.lineWidth = 1;
  g.textAlign = "right";
  axis.ticks.forEach((t, i) => {
    const y = Math.round(Y(t)) + 0.5;
    g.beginPath(); g.moveTo(left, y); g.lineTo(w - right, y); g.stroke();
    g.fillText(labels[i], left - 6, y + 4);
  });
  const xAxis = linearAxis(0, xMax, Math.max(2, Math.floor((w - left - right) / 56)), xMax >= 2 ? 1 : 0);
  g.textAlign = "center";
  for (const e of xAxis.ticks) if (e <= xMax + 1e-9) g.fillText(String(e), X(e), h - 8);
  g.textAlign = "left";
  canvas.dataset.ticks = JSON.stringify(labels);
  canvas.dataset.scale = axis.log ? "log" : "linear";
  g.save();
  g.beginPath();
  g.rect(left, top - 4, w - left - right, h - top - bottom + 8);
  g.clip();
  const ok = (y) => Number.isFinite(y) && (!axis.log || y > 0);
  for (const s of series) {
    g.strokeStyle = g.fillStyle = s.color;
    g.lineWidth = 1.5;
    if (s.line && s.data.length) {
      g.beginPath();
      s.data.forEach(([x, y], i) => {
        if (!ok(y)) return;
        const joined = i && ok(s.data[i - 1][1]) && (!s.breaks || Math.ceil(x) === Math.ceil(s.data[i - 1][0]));
        if (joined) g.lineTo(X(x), Y(y));
        else g.moveTo(X(x), Y(y));
      });
      g.stroke();
    }
    if (s.dots) for (const [x, y] of s.data) if (ok(y)) { g.beginPath(); g.arc(X(x), Y(y), 3.5, 0, 7); g.fill(); }
  }
  g.restore();
}

/** The legend under a chart: a line or a dot (or both) in each series' colour, and its name. */
function legend(el, series) {
  if (el.childElementCount) return;
  for (const s of series) {
    const item = document.createElement("span");
    if (s.line) { const i = document.createElement("i"); i.style.background = s.color; item.append(i); }
    if (s.dots) { const i = document.createElement("i"); i.className = "dot"; i.style.background = s.color; item.append(i); }
    item.append(s.label);
    el.append(item);
  }
}

const logFormat = (v) => String(v);
const pctFormat = (v, axis) => `${(v * 100).toFixed(Math.max(0, -Math.floor(Math.log10(axis.step * 100) + 1e-9)))} %`;

function draw() {
  if (!state) return;
  const hist = state.history;
  const xMax = Math.max(state.epochs, 1);
  const pick = (key) => hist.map((r) => [r.epoch, r[key]]);
  const positive = (data) => data.filter(([, y]) => y > 0);
  const loss = [
    { label: "train (running)", color: COLORS.train, data: positive(points.map((p) => [p.x, p.loss])), line: true, breaks: true },
    { label: "train (epoch)", color: COLORS.trainEpoch, data: positive(pick("train_loss")), dots: true },
    { label: "validation", color: COLORS.val, data: positive(pick("val_loss")), dots: true, line: true },
  ];
  const acc = [
    { label: "train (running)", color: COLORS.train, data: points.map((p) => [p.x, p.acc]), line: true, breaks: true },
    { label: "train (epoch)", color: COLORS.trainEpoch, data: pick("train_acc"), dots: true },
    { label: "validation", color: COLORS.val, data: pick("val_acc"), dots: true, line: true },
  ];
  chart($("loss-chart"), loss, xMax, logAxis, logFormat);
  chart($("acc-chart"), acc, xMax, (lo, hi, n) => {
    const a = linearAxis(Math.max(lo, 0), Math.min(hi, 1), n);
    return { ...a, lo: Math.max(a.lo, 0), hi: Math.min(a.hi, 1), ticks: a.ticks.filter((t) => t >= 0 && t <= 1) };
  }, pctFormat);
  legend($("loss-legend"), loss);
  legend($("acc-legend"), acc);
}

const done = (s) => s.status === "finished" || s.status === "stopped early";

function show() {
  const s = state;
  $("title").textContent = `training ${s.title}`;
  document.title = `${s.status} · ${s.title} · digitnet`;
  $("status").textContent = done(s)
    ? `${s.status} after ${s.seconds.toFixed(0)} s · these are the final curves; they stay here until digitnet is stopped (Ctrl-C)`
    : `${s.status} · ${s.seconds.toFixed(0)} s`;
  $("epoch").textContent = s.epochs ? `${s.epoch} / ${s.epochs}` : "–";
  $("batch").textContent = s.batches ? `${s.batch} / ${s.batches}` : "–";
  $("speed").textContent = s.images_per_second ? Math.round(s.images_per_second).toLocaleString("en") : "–";
  $("lr").textContent = s.lr ? s.lr.toExponential(2) : "–";
  const eta = s.status === "training" && s.batch ? (s.epoch_seconds * (s.batches - s.batch)) / s.batch : null;
  $("eta").textContent = eta != null ? `${Math.round(eta)} s` : done(s) ? "done" : "–";
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
    if (state) {
      $("status").textContent = done(state)
        ? `${state.status}: digitnet has stopped; these are the final curves`
        : "no answer: the training process has ended or cannot be reached";
    }
  }
  setTimeout(poll, 1000);
}

window.addEventListener("resize", draw);
poll();
