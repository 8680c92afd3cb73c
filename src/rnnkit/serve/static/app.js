// rnnkit serve: the page. Plain JavaScript, no libraries; charts are inline SVG drawn here.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
let models = [];
let current = null;
let controller = null;

function headers(json) {
  const h = {};
  if (json) h["Content-Type"] = "application/json";
  const key = $("api-key").value || sessionStorage.getItem("rnnkit-key") || "";
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

function showError(text) { $("status").textContent = text || ""; }

async function api(path, body) {
  const res = await fetch(path, body === undefined ? { headers: headers(false) }
    : { method: "POST", headers: headers(true), body: JSON.stringify(body) });
  const data = await res.json().catch(() => ({ detail: res.statusText }));
  if (!res.ok) {
    if (res.status === 401) $("key-box").open = true;
    throw new Error(`${res.status}: ${data.detail || res.statusText}`);
  }
  return data;
}

async function loadModels() {
  try {
    const data = await api("/v1/models");
    models = data.models;
    const select = $("model");
    select.textContent = "";
    for (const m of models) {
      const o = document.createElement("option");
      o.value = m.name;
      o.textContent = `${m.name} (${m.task})`;
      select.appendChild(o);
    }
    showError(models.length ? "" : "the server has no models");
    choose();
  } catch (e) { showError(e.message); }
}

function choose() {
  current = models.find((m) => m.name === $("model").value) || null;
  for (const p of document.querySelectorAll(".panel")) p.hidden = true;
  if (!current) return;
  const panel = { textgen: "textgen", forecast: "forecast", classify: "classify",
                  translate: "translate", regress: "series", anomaly: "series",
                  model: "model" }[current.task];
  if (panel) $("panel-" + panel).hidden = false;
  if (panel === "classify") setupClassify();
  if (panel === "model") setupModel();
  const size = current.parameters ? `, ${current.parameters.toLocaleString()} parameters` : "";
  $("model-info").textContent = `${current.task} · ${current.model_class || ""}${size}`;
}

// ---------------------------------------------------------------- language models (SSE)
function numberOrNull(id) {
  const v = $(id).value.trim();
  return v === "" ? null : Number(v);
}

async function generate() {
  const out = $("generated");
  out.textContent = $("prompt").value;
  showError("");
  const body = { prompt: $("prompt").value, max_tokens: numberOrNull("max-tokens") || 200,
                 temperature: numberOrNull("temperature") ?? 1.0, stream: true };
  for (const [k, id] of [["top_k", "top-k"], ["top_p", "top-p"], ["seed", "seed"]]) {
    const v = numberOrNull(id);
    if (v !== null) body[k] = v;
  }
  controller = new AbortController();
  $("generate").disabled = true;
  $("stop").disabled = false;
  const started = performance.now();
  let tokens = 0;
  try {
    const res = await fetch(`/v1/models/${encodeURIComponent(current.name)}/generate`, {
      method: "POST", headers: headers(true), body: JSON.stringify(body),
      signal: controller.signal });
    if (!res.ok) {
      const data = await res.json().catch(() => ({}));
      throw new Error(`${res.status}: ${data.detail || res.statusText}`);
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = (frame.match(/^event: (.*)$/m) || [])[1];
        const data = JSON.parse((frame.match(/^data: (.*)$/m) || [, "{}"])[1]);
        if (event === "token") {
          out.textContent += data.text;
          tokens += 1;
          const s = (performance.now() - started) / 1000;
          $("gen-stats").textContent = `${tokens} tokens, ${(tokens / s).toFixed(0)} tokens/s`;
        } else if (event === "done") {
          $("gen-stats").textContent += ` · ${data.finish_reason}`;
        } else if (event === "error") {
          showError(data.finish_reason);
        }
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") showError(e.message);
  } finally {
    $("generate").disabled = false;
    $("stop").disabled = true;
    controller = null;
  }
}

// ---------------------------------------------------------------------------- SVG helpers
function el(name, attrs, parent) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function text(parent, x, y, content, attrs) {
  const t = el("text", { x, y, ...(attrs || {}) }, parent);
  t.textContent = content;
  return t;
}

function fmt(v) {
  if (v === null || v === undefined) return "";
  const a = Math.abs(v);
  return a !== 0 && (a >= 1e5 || a < 1e-3) ? v.toExponential(2) : (+v.toFixed(3)).toString();
}

// A line chart: series = [{values, start, color, dash}], band = {lower, upper, start}
function lineChart(container, title, series, band, labels) {
  const W = 640, H = 260, L = 56, R = 12, T = 22, B = 28;
  const all = [];
  let n = 0;
  for (const s of series) {
    s.values.forEach((v) => { if (v !== null) all.push(v); });
    n = Math.max(n, s.start + s.values.length);
  }
  if (band) {
    band.lower.concat(band.upper).forEach((v) => { if (v !== null) all.push(v); });
    n = Math.max(n, band.start + band.lower.length);
  }
  if (!all.length) return;
  let lo = Math.min(...all), hi = Math.max(...all);
  if (lo === hi) { lo -= 1; hi += 1; }
  const pad = (hi - lo) * 0.06;
  lo -= pad; hi += pad;
  const x = (i) => L + (n <= 1 ? 0 : (i * (W - L - R)) / (n - 1));
  const y = (v) => T + ((hi - v) * (H - T - B)) / (hi - lo);
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
  text(svg, L, 14, title, { "font-weight": "600" });
  for (let k = 0; k <= 4; k++) {
    const v = lo + ((hi - lo) * k) / 4;
    el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e6e9ee" }, svg);
    text(svg, L - 6, y(v) + 4, fmt(v), { "text-anchor": "end" });
  }
  if (labels && labels.length) {
    for (const i of [0, Math.floor((n - 1) / 2), n - 1]) {
      if (labels[i] !== undefined) {
        text(svg, x(i), H - 8, String(labels[i]).slice(0, 16),
             { "text-anchor": i === 0 ? "start" : i === n - 1 ? "end" : "middle" });
      }
    }
  }
  if (band) {
    const up = band.upper.map((v, i) => `${x(band.start + i)},${y(v)}`);
    const down = band.lower.map((v, i) => `${x(band.start + i)},${y(v)}`).reverse();
    el("polygon", { points: up.concat(down).join(" "), fill: "var(--band)", class: "band" }, svg);
  }
  for (const s of series) {
    const pts = s.values.map((v, i) => (v === null ? null : `${x(s.start + i)},${y(v)}`))
      .filter((p) => p !== null);
    el("polyline", { points: pts.join(" "), fill: "none", stroke: s.color,
                     "stroke-width": 2, "stroke-dasharray": s.dash || "", class: s.cls || "" },
       svg);
    if (s.marks) {
      s.marks.forEach((m, i) => {
        if (m) el("circle", { cx: x(s.start + i), cy: y(s.values[i]), r: 3.5,
                              fill: "var(--bad)" }, svg);
      });
    }
  }
  container.appendChild(svg);
}

function table(container, frame, limit) {
  const cols = Object.keys(frame);
  if (!cols.length) return;
  const t = document.createElement("table");
  const head = t.insertRow();
  for (const c of cols) {
    const th = document.createElement("th");
    th.textContent = c;
    head.appendChild(th);
  }
  const rows = frame[cols[0]].length;
  for (let i = 0; i < Math.min(rows, limit || 50); i++) {
    const r = t.insertRow();
    for (const c of cols) {
      const v = frame[c][i];
      r.insertCell().textContent = typeof v === "number" ? fmt(v) : String(v ?? "");
    }
  }
  container.appendChild(t);
}

// -------------------------------------------------------------------------------- forecast
const TIME_NAMES = ["time", "ds", "date", "datetime", "timestamp", "step"];

function forecastSeries(frame) {
  // long format (id, time, forecast, lower/upper columns) or wide (col, col_lower, col_upper)
  const cols = Object.keys(frame);
  const timeCol = cols.find((c) => TIME_NAMES.includes(c.toLowerCase())) || null;
  const idCol = cols.find((c) => ["id", "unique_id", "series"].includes(c.toLowerCase()));
  const pointCol = cols.find((c) => ["forecast", "point", "mean", "yhat"].includes(c));
  const lowCol = cols.find((c) => /^(lo|lower)\b|_lower$|^lo-/.test(c));
  const highCol = cols.find((c) => /^(hi|upper)\b|_upper$|^hi-/.test(c));
  const out = [];
  if (pointCol) {
    const ids = idCol ? [...new Set(frame[idCol])] : [null];
    for (const id of ids) {
      const idx = frame[pointCol].map((_, i) => i).filter((i) => !idCol || frame[idCol][i] === id);
      const pick = (c) => (c ? idx.map((i) => frame[c][i]) : null);
      out.push({ name: id === null ? pointCol : String(id), point: pick(pointCol),
                 lower: pick(lowCol), upper: pick(highCol), times: pick(timeCol) });
    }
    return out;
  }
  for (const c of cols) {
    if (c === timeCol || /_(lower|upper|actual)$/.test(c)) continue;
    out.push({ name: c, point: frame[c], lower: frame[c + "_lower"] || null,
               upper: frame[c + "_upper"] || null, times: timeCol ? frame[timeCol] : null });
  }
  return out;
}

async function forecast() {
  showError("");
  $("chart").textContent = "";
  $("forecast-table").textContent = "";
  const body = { csv: $("csv").value };
  const level = numberOrNull("level");
  if (level !== null) body.level = level;
  try {
    const data = await api(`/v1/models/${encodeURIComponent(current.name)}/predict`, body);
    const history = data.history || {};
    const hcols = Object.keys(history);
    const htime = hcols.find((c) => TIME_NAMES.includes(c.toLowerCase()))
      || hcols.find((c) => typeof history[c][0] === "string");
    for (const s of forecastSeries(data.forecast).slice(0, 6)) {
      const past = history[s.name] || [];
      const times = s.times || s.point.map((_, i) => past.length + i);
      // history's labels: its time column, or row numbers counted back from the forecast's
      const numeric = typeof times[0] === "number";
      const pastLabels = htime ? history[htime] : past.map((_, i) => (numeric ? times[0] - past.length + i : i));
      // the forecast line starts at the last observed value, so the two lines join
      const joined = past.length ? [past[past.length - 1]].concat(s.point) : s.point;
      const series = [{ values: past, start: 0, color: "#7a8595", cls: "history" },
                      { values: joined, start: Math.max(past.length - 1, 0),
                        color: "var(--accent)", cls: "forecast" }];
      const hasBand = s.lower && s.upper && s.lower.some((v) => v !== null);
      const band = hasBand ? { lower: s.lower, upper: s.upper, start: past.length } : null;
      lineChart($("chart"), s.name, series, band, pastLabels.concat(times));
    }
    const legend = document.createElement("p");
    legend.className = "legend";
    legend.innerHTML = '<i style="background:#7a8595"></i>history' +
      '<i style="background:var(--accent)"></i>forecast' +
      '<i style="background:var(--band)"></i>interval';
    $("chart").appendChild(legend);
    table($("forecast-table"), data.forecast, 200);
  } catch (e) { showError(e.message); }
}

function readFile(input, target) {
  const f = input.files[0];
  if (!f) return;
  const r = new FileReader();
  r.onload = () => { $(target).value = r.result; };
  r.readAsText(f);
}

// ------------------------------------------------------------------------------ classify
// A text classifier reads one text per line. A numeric one (the listing's input.kind) reads
// one series per line: numbers separated by commas or spaces, one per step (one feature), or
// steps separated by ";" with F numbers each (F features per step); or a long-format CSV,
// one row per (series, step), in the columns of the listing's input.csv.
const PALETTE = ["#2f6fde", "#d9822b", "#2e9e5b", "#b3261e", "#8e59c7", "#5f6b7a"];
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const MAX_CHARTS = 20;
const typed = {};  // what the box held for each kind of input, kept while switching models
let typedKind = "text";

function inputOf(model) { return (model && model.input) || { kind: "text" }; }

function featureList(input) {
  return input.feature_names && input.feature_names.length
    ? ` (${input.feature_names.join(", ")})` : "";
}

function setupClassify() {
  const input = inputOf(current);
  const F = input.features || 1;
  const kind = input.kind === "numeric" ? `numeric:${F}` : "text";
  const box = $("texts");
  if (kind !== typedKind) {  // another kind of input: swap what was typed for it
    typed[typedKind] = box.value;
    box.value = typed[kind] ?? "";
    typedKind = kind;
    clearClassified();
  }
  $("classify-csv-box").hidden = !input.csv;
  if (input.csv) setupClassifyCsv(input);
  if (input.kind !== "numeric") {
    $("texts-hint").textContent = "One input per line";
    box.placeholder = "";
    return;
  }
  if (F === 1) {
    $("texts-hint").textContent = "One series per line: its numbers, one per step, separated " +
      "by commas or spaces";
    box.placeholder = "0.1, 0.5, 0.9, 0.4, -0.2\n1.2 1.1 0.7 0.3 0.0";
    return;
  }
  $("texts-hint").textContent = `One series per line: steps separated by ";", each step ${F} ` +
    `numbers${featureList(input)} separated by commas or spaces`;
  const step = (k) => Array.from({ length: F }, (_, j) =>
    ((j % 2 ? -1 : 1) * (0.1 * (j + 1) + 0.1 * k)).toFixed(1)).join(",");
  box.placeholder = `${step(0)}; ${step(1)}; ${step(2)}\n${step(2)}; ${step(1)}; ${step(0)}`;
}

// The CSV box of a series classifier: its columns in the hint, a few rows as the placeholder.
function setupClassifyCsv(input) {
  const c = input.csv;
  const features = c.features || ["(its numeric columns)"];
  const columns = [c.id, ...(c.time ? [c.time] : []), ...features];
  $("classify-csv-hint").textContent = "Or a CSV, header first, one row per step of each " +
    `series: ${columns.join(", ")}` + (c.label ? ` (and ${c.label}, optional: adds the ` +
    "accuracy)" : "");
  const row = (t) => [`s${t < 2 ? 1 : 2}`, ...(c.time ? [t % 2] : []),
                      ...features.map((_, j) => (0.1 * (j + 1 + t)).toFixed(1))].join(",");
  $("classify-csv").placeholder = c.features
    ? [columns.join(","), row(0), row(1), row(2), "..."].join("\n") : "";
}

// One line of numbers -> [x, ...] (one feature per step) or [[x1, ..., xF], ...]; throws an
// Error whose message says what is wrong.
function parseSeries(line, input) {
  const F = input.features || 1;
  const numbers = (part, where) => part.split(/[\s,]+/).filter((t) => t !== "").map((t) => {
    const v = NUMBER.test(t) ? Number(t) : NaN;
    if (!Number.isFinite(v)) throw new Error(`${where}"${t.slice(0, 24)}" is not a number`);
    return v;
  });
  const steps = line.split(";").map((part) => part.trim());
  if (steps.length > 1 && steps[steps.length - 1] === "") steps.pop();  // a trailing ";"
  if (F === 1 && steps.length === 1) {
    const values = numbers(steps[0], "");
    if (!values.length) throw new Error("no numbers");
    return values;
  }
  return steps.map((part, k) => {
    const where = steps.length > 1 ? `step ${k + 1}: ` : "";
    const values = numbers(part, where);
    if (values.length !== F) {
      throw new Error(`${where}${values.length} number${values.length === 1 ? "" : "s"}, ` +
        `expected ${F}${featureList(input)}` + (F > 1 && steps.length === 1
          ? `; separate the steps with ";"` : ""));
    }
    return F === 1 ? values[0] : values;
  });
}

function preview(line) {
  const s = line.replace(/\s+/g, " ");
  return s.length > 60 ? s.slice(0, 60) + "…" : s;
}

function seriesChart(container, series, input) {
  const F = input.features || 1;
  const names = input.feature_names || [];
  const lines = F === 1 ? [{ values: series, start: 0, color: PALETTE[0], cls: "feature" }]
    : Array.from({ length: F }, (_, j) => ({ values: series.map((step) => step[j]), start: 0,
                                             color: PALETTE[j % PALETTE.length],
                                             cls: "feature" }));
  const box = document.createElement("div");
  box.className = "chart mini";
  const title = `${series.length} step${series.length === 1 ? "" : "s"}` +
    (F > 1 ? ` · ${names.length ? names.join(", ") : F + " features"}` : "");
  lineChart(box, title, lines);
  container.appendChild(box);
}

function legend(container, input) {
  if ((input.features || 1) < 2) return;
  const p = document.createElement("p");
  p.className = "legend";
  for (let j = 0; j < input.features; j++) {
    const i = document.createElement("i");
    i.style.background = PALETTE[j % PALETTE.length];
    p.appendChild(i);
    p.appendChild(document.createTextNode((input.feature_names || [])[j] || `feature ${j + 1}`));
  }
  container.appendChild(p);
}

async function classify() {
  showError("");
  clearClassified();
  const input = inputOf(current);
  const numeric = input.kind === "numeric";
  const lines = [];  // [line number, its text]
  $("texts").value.split("\n").forEach((s, i) => {
    if (s.trim()) lines.push([i + 1, s.trim()]);
  });
  if (!lines.length) {
    showError(numeric ? "type at least one series" : "type at least one line");
    return;
  }
  let inputs = lines.map(([, s]) => s);
  if (numeric) {
    const bad = [];
    inputs = lines.map(([n, s]) => {
      try { return parseSeries(s, input); } catch (e) {
        bad.push(`line ${n}: ${e.message}`);
        return null;
      }
    });
    if (bad.length) {
      showError(bad[0] + (bad.length > 1 ? ` (and ${bad.length - 1} more line` +
        `${bad.length > 2 ? "s" : ""} with errors)` : ""));
      return;
    }
  }
  try {
    const data = await api(`/v1/models/${encodeURIComponent(current.name)}/predict`, { inputs });
    showNote(data);
    showPredictions(data.predictions, (p, i) => (numeric ? preview(lines[i][1])
      : inputs[i].slice(0, 80)) + ` → ${p.label}`, numeric ? inputs : null, input);
  } catch (e) { showError(e.message); }
}

// The server's note on series of lengths the classifier never saw, under the accuracy.
function showNote(data) {
  if (!data.note) return;
  const line = $("accuracy").textContent;
  $("accuracy").textContent = (line ? line + ". " : "") + "Note: " + data.note;
}

function clearClassified() {
  $("classes").textContent = "";
  $("accuracy").textContent = "";
}

// Each answer under its title (title(p, i)): the class probabilities as bars and, where the
// series' numbers are known here (typed ones), a chart of the series.
function showPredictions(predictions, title, series, input) {
  const box = $("classes");
  if (series) legend(box, input);
  predictions.forEach((p, i) => {
    const head = document.createElement("p");
    head.className = "label";
    head.textContent = title(p, i);
    box.appendChild(head);
    const probs = Object.entries(p.probs || {}).sort((a, b) => b[1] - a[1]).slice(0, 10);
    for (const [name, prob] of probs) {
      const row = document.createElement("div");
      row.className = "class-row";
      row.innerHTML = "<span></span><div><div class='bar'></div></div><span></span>";
      row.children[0].textContent = name;
      row.querySelector(".bar").style.width = `${(prob * 100).toFixed(1)}%`;
      row.children[2].textContent = `${(prob * 100).toFixed(1)}%`;
      box.appendChild(row);
    }
    if (series && i < MAX_CHARTS) seriesChart(box, series[i], input);
  });
}

// A series classifier's CSV: each series under its id; with labels, the accuracy over them.
async function classifyCsv() {
  showError("");
  clearClassified();
  const csv = $("classify-csv").value;
  if (!csv.trim()) {
    showError("paste a CSV or choose a file");
    return;
  }
  try {
    const data = await api(`/v1/models/${encodeURIComponent(current.name)}/predict`, { csv });
    const n = data.predictions.length;
    if (data.accuracy !== undefined) {
      $("accuracy").textContent = `accuracy ${(data.accuracy * 100).toFixed(1)}% over ${n} ` +
        `labelled series`;
    }
    showNote(data);
    showPredictions(data.predictions, (p) => `${p.id} → ${p.label}` +
      (p.actual !== undefined ? ` (labelled ${p.actual})` : ""), null, inputOf(current));
  } catch (e) { showError(e.message); }
}

// ----------------------------------------------------------------------------- translate
function heatmap(container, tokensIn, tokensOut, matrix) {
  const cell = 28, L = 90, T = 80;
  const W = L + cell * tokensIn.length + 10, H = T + cell * tokensOut.length + 10;
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "attention",
                          style: `max-width:${W * 1.4}px` });
  tokensIn.forEach((t, j) => text(svg, L + j * cell + cell / 2, T - 6, t,
    { transform: `rotate(-50 ${L + j * cell + cell / 2} ${T - 6})` }));
  tokensOut.forEach((t, i) => text(svg, L - 6, T + i * cell + cell * 0.65, t,
    { "text-anchor": "end" }));
  matrix.forEach((row, i) => row.forEach((w, j) => {
    const r = el("rect", { x: L + j * cell, y: T + i * cell, width: cell - 1, height: cell - 1,
                           fill: "var(--accent)", "fill-opacity": Math.max(0.03, w) }, svg);
    el("title", {}, r).textContent = `${tokensOut[i]} ← ${tokensIn[j]}: ${fmt(w)}`;
  }));
  container.appendChild(svg);
}

async function translate() {
  showError("");
  $("translation").textContent = "";
  $("heatmap").textContent = "";
  const body = { inputs: [$("source").value], beam: numberOrNull("beam") || 5, attention: true };
  try {
    const data = await api(`/v1/models/${encodeURIComponent(current.name)}/predict`, body);
    $("translation").textContent = data.translations[0];
    const a = data.attention && data.attention[0];
    if (a) heatmap($("heatmap"), a.tokens_in, a.tokens_out, a.matrix);
  } catch (e) { showError(e.message); }
}

// ------------------------------------------------------------------ regression, anomalies
async function score() {
  showError("");
  $("series-chart").textContent = "";
  $("series-table").textContent = "";
  try {
    const data = await api(`/v1/models/${encodeURIComponent(current.name)}/predict`,
                           { csv: $("series-csv").value });
    const result = data.scores || data.predictions;
    if (Array.isArray(result)) {
      lineChart($("series-chart"), "predictions",
                [{ values: result.flat(), start: 0, color: "var(--accent)" }]);
      return;
    }
    if (result.score) {
      const flags = result.flag || [];
      lineChart($("series-chart"), "anomaly score (flagged in red)",
                [{ values: result.score, start: 0, color: "var(--accent)", marks: flags }]);
    }
    table($("series-table"), result, 200);
  } catch (e) { showError(e.message); }
}

// ------------------------------------------------------------- bare models (task "model")
function setupModel() {
  const input = current.input || {};
  const ids = input.kind === "ids";
  $("bare-hint").textContent = `inputs (JSON): ${input.description || "nested lists"}, ` +
    `a batch ${input.shape || ""} or one sequence ${input.one_sequence || ""}; ` +
    `POST /v1/models/${current.name}/predict with {"inputs": ...}`;
  const example = ids ? [1, 2, 3]
    : [1, 2, 3].map((t) => Array.from({ length: input.features || 1 }, () => t));
  $("bare-inputs").value = JSON.stringify(example);
  $("bare-output").textContent = "";
}

async function runModel() {
  showError("");
  $("bare-output").textContent = "";
  let inputs;
  try { inputs = JSON.parse($("bare-inputs").value); } catch (e) {
    showError(`inputs: not valid JSON: ${e.message}`);
    return;
  }
  try {
    const data = await api(`/v1/models/${encodeURIComponent(current.name)}/predict`,
                           { inputs });
    $("bare-output").textContent = JSON.stringify(data.outputs);
  } catch (e) { showError(e.message); }
}

// ---------------------------------------------------------------------------------- wiring
$("model").addEventListener("change", choose);
$("api-key").addEventListener("change", () => {
  sessionStorage.setItem("rnnkit-key", $("api-key").value);
  loadModels();
});
$("generate").addEventListener("click", generate);
$("stop").addEventListener("click", () => controller && controller.abort());
$("forecast").addEventListener("click", forecast);
$("csv-file").addEventListener("change", () => readFile($("csv-file"), "csv"));
$("series-file").addEventListener("change", () => readFile($("series-file"), "series-csv"));
$("classify").addEventListener("click", classify);
$("classify-csv-file").addEventListener("change",
  () => readFile($("classify-csv-file"), "classify-csv"));
$("classify-csv-run").addEventListener("click", classifyCsv);
$("translate").addEventListener("click", translate);
$("score").addEventListener("click", score);
$("bare-run").addEventListener("click", runModel);
$("api-key").value = sessionStorage.getItem("rnnkit-key") || "";
loadModels();
