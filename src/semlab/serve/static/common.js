// Shared helpers of the semlab pages (no libraries: everything here is served by semlab itself).
"use strict";

function esc(value) {
  return String(value === null || value === undefined ? "" : value)
    .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function fmt(value, digits) {
  if (value === null || value === undefined || value === "") return "–";
  if (typeof value === "number") {
    if (Number.isInteger(value)) return String(value);
    return value.toPrecision(digits || 4);
  }
  return String(value);
}

async function getJSON(url) {
  const response = await fetch(url, {credentials: "same-origin", cache: "no-store"});
  const body = await response.json().catch(() => ({detail: response.statusText}));
  if (!response.ok) throw new Error(body.detail || response.statusText);
  return body;
}

// One line describing a trained run: target, task, date, CV score, feature set.
function modelLine(m) {
  if (!m) return "";
  const ci = m.cv && m.cv.interval_95 ? ` (95 % ${fmt(m.cv.interval_95[0], 2)}–${fmt(m.cv.interval_95[1], 2)})` : "";
  const cv = m.cv ? `${esc(m.cv.label)} ${fmt(m.cv.value, 3)}${ci}` : "no CV score recorded";
  const date = m.created ? esc(String(m.created).replace("T", " ").slice(0, 16)) + " UTC" : "date unknown";
  return `<span class="model" data-model="${esc(m.name)}"><b>${esc(m.name)}</b>: predicts ${esc(m.target || "?")} ` +
    `(${esc(m.task || "?")}, ${esc(m.model || "?")}${m.feature_set ? ", features " + esc(m.feature_set) : ""}) · ` +
    `trained ${date} · ${cv}</span>` +
    (m.shortcut_warning ? `<div class="warn shortcut">⚠ ${esc(m.shortcut_warning)}</div>` : "");
}

// Warnings of the arrival checks of an image (blank, saturated, out of focus …).
function qualityHTML(q) {
  if (!q || !q.flags || !q.flags.length) return "";
  return `<div class="quality warn" data-flags="${esc(q.flags.join(" "))}">⚠ image check: ` +
    (q.messages && q.messages.length ? q.messages : q.flags).map(esc).join("; ") + `</div>`;
}

function warningsHTML(list) {
  return (list || []).map(w => `<div class="warn">⚠ ${esc(w)}</div>`).join("");
}

// The colour key of a segmentation overlay: a swatch per class, the measured phase marked.
function legendHTML(r) {
  const measured = new Set((r.measured_labels || []).map(v => (r.classes || {})[String(v)]));
  return `<div class="legend">` + (r.legend || []).map(e =>
    `<span class="key${measured.has(e.name) ? " measured" : ""}"><i style="background:rgb(${e.rgb.join(",")})"></i>` +
    `${esc(e.name)}${measured.has(e.name) ? " (measured)" : ""}</span>`).join("") + `</div>`;
}

function phaseLine(r) {
  const f = r.foreground || {};
  const chosen = f.chosen === "model" ? "the model's classes" : `${f.chosen} phase`;
  const how = f.requested === "auto" ? `auto → ${esc(chosen)}: ${esc(f.rule || "")}${f.detail ? " (" + esc(f.detail) + ")" : ""}` :
    `${esc(chosen)} (chosen on upload)`;
  const frac = r.phase_fraction === null || r.phase_fraction === undefined ? "" : ` ${(100 * r.phase_fraction).toFixed(1)} %`;
  return `<div class="phase">measured phase: <b class="phase-name">${esc(r.phase)}</b>${frac}</div>` +
    `<div class="muted choice">${how}</div>`;
}

function predictHTML(job, r) {
  const d = r.domain || {};
  const outside = d.available && d.in_domain === false;
  // Outside the training domain a softmax confidence means nothing: say so beside it.
  const conf = r.confidence === null || r.confidence === undefined ? "" : outside ?
    ` <span class="muted confidence">(model confidence ${(100 * r.confidence).toFixed(0)} %, not meaningful outside the training domain)</span>` :
    ` <span class="muted confidence">confidence ${(100 * r.confidence).toFixed(0)} %</span>`;
  let dom = "";
  if (outside) {
    dom = `<div class="warn domain out">⚠ outside the training domain (score ${fmt(d.score, 3)} &gt; threshold ${fmt(d.threshold, 3)}): ` +
      `this image is unlike the training images; the prediction is an extrapolation</div>`;
  } else if (d.available && d.in_domain === true) {
    dom = `<div class="ok domain in">in the training domain (score ${fmt(d.score, 3)} ≤ threshold ${fmt(d.threshold, 3)})</div>`;
  } else {
    dom = `<div class="muted domain unknown">in-domain check not available for this model</div>`;
  }
  return `<div>${esc(r.target || "")}: <span class="prediction">${esc(fmt(r.prediction))}</span>${conf}</div>` + dom +
    qualityHTML(r.quality) + `<div class="muted model-used">model: ${modelLine(r.model_info) || esc(r.model)}</div>`;
}

// Where a running job is: its stage (step k of n, items done where the library counts them) and a bar.
function progressHTML(p) {
  if (!p) return `<div class="muted job-progress">starting…</div>`;
  const pct = Math.round(100 * (p.fraction || 0));
  const items = p.total > 1 ? ` (${p.done} of ${p.total})` : "";
  return `<div class="job-progress" data-stage="${esc(p.stage)}" data-fraction="${esc(p.fraction)}">` +
    `<progress max="100" value="${pct}"></progress> <span class="stage">${esc(p.stage)}${items}</span>` +
    ` <span class="muted">step ${p.step} of ${p.steps} · ${pct} %</span></div>`;
}

// The HTML of one job's result (used by the history and the image page).
function jobHTML(job) {
  const badge = `<span class="badge ${esc(job.status)}">${esc(job.status)}</span>`;
  let body = "";
  const r = job.result;
  if (job.status === "failed") {
    // Retry only where running again may succeed (out of memory, I/O, time-out, interrupted server).
    body = `<div class="error">${esc(job.error)}</div>` + (job.transient ?
      `<button class="retry" data-job="${job.id}">retry</button>` :
      `<div class="muted no-retry">running it again would fail the same way: change the image or the options and upload again</div>`);
  } else if (job.status === "done" && r) {
    if (job.task === "predict") {
      body = predictHTML(job, r);
    } else if (job.task === "segment") {
      const fr = Object.entries(r.fractions || {}).map(([k, v]) => `${esc(k)} ${(100 * v).toFixed(1)} %`).join(", ");
      body = (r.phase ? phaseLine(r) : "") + warningsHTML(r.warnings) + `<div class="muted">${esc(r.method)}: ${fr}</div>` +
        `<div class="downloads"><a href="/api/jobs/${job.id}/overlay.png?download=true" download>overlay PNG</a>` +
        (r.labels_file ? ` · <a class="dl-labels" href="/api/jobs/${job.id}/labels.tif" download>labels TIFF</a>` : "") + `</div>` +
        `<img class="overlay" src="/api/jobs/${job.id}/overlay.png" alt="segmentation overlay">` + legendHTML(r);
    } else if (job.task === "quantify") {
      const d = r.descriptors || {};
      const p = r.particles || {};
      const keys = Object.keys(d).filter(k => !["phase", "length_unit", "shape"].includes(k));
      body = (r.phase ? `<div class="phase">of the <b class="phase-name">${esc(r.phase)}</b></div>` : "") +
        (p.n_particles !== undefined ? `<div>particle table: ${p.n_particles} particles (${esc(p.separation)})` +
          (p.median_equivalent_diameter !== null && p.median_equivalent_diameter !== undefined ?
            `, median equivalent diameter ${fmt(p.median_equivalent_diameter, 3)} ${esc(p.unit)}` : "") +
          ` · <a class="dl-particles" href="/api/jobs/${job.id}/particles.csv" download>particles CSV</a></div>` : "") +
        `<table class="kv descriptors">` +
        keys.map(k => `<tr><td>${esc(k)}</td><td>${esc(fmt(d[k]))}</td></tr>`).join("") + `</table>`;
    } else if (job.task === "map") {
      body = `<div>at (${fmt(r.x, 3)}, ${fmt(r.y, 3)}); ${(r.neighbours || []).length} neighbours</div>`;
    }
  } else if (job.status === "running") {
    body = progressHTML(job.progress);
  } else {
    body = `<div class="muted">waiting for a free worker…</div>`;
  }
  return `<div class="job" data-task="${esc(job.task)}" data-status="${esc(job.status)}">` +
    `<span class="task">${esc(job.task)}</span>${badge}${body}</div>`;
}

// Retry buttons anywhere on the page.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.retry");
  if (!button) return;
  button.disabled = true;
  await fetch(`/api/jobs/${button.dataset.job}/retry`, {method: "POST", credentials: "same-origin"});
  if (typeof refresh === "function") refresh();
});
