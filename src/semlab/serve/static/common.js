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

// The HTML of one job's result (used by the history and the image page).
function jobHTML(job) {
  const badge = `<span class="badge ${esc(job.status)}">${esc(job.status)}</span>`;
  let body = "";
  const r = job.result;
  if (job.status === "failed") {
    body = `<div class="error">${esc(job.error)}</div>` +
      `<button class="retry" data-job="${job.id}">retry</button>`;
  } else if (job.status === "done" && r) {
    if (job.task === "predict") {
      const conf = r.confidence === null || r.confidence === undefined ? "" :
        ` <span class="muted">confidence ${(100 * r.confidence).toFixed(0)} %</span>`;
      body = `<div>${esc(r.target || "")}: <span class="prediction">${esc(fmt(r.prediction))}</span>${conf}</div>`;
    } else if (job.task === "segment") {
      const fr = Object.entries(r.fractions || {}).map(([k, v]) => `${esc(k)} ${(100 * v).toFixed(1)} %`).join(", ");
      body = `<div class="muted">${esc(r.method)}: ${fr}</div>` +
        `<a href="/api/jobs/${job.id}/overlay.png?download=true" download>overlay PNG</a>` +
        `<img class="overlay" src="/api/jobs/${job.id}/overlay.png" alt="segmentation overlay">`;
    } else if (job.task === "quantify") {
      const d = r.descriptors || {};
      const keys = Object.keys(d).filter(k => !["phase", "length_unit", "shape"].includes(k));
      body = `<table class="kv descriptors">` +
        keys.map(k => `<tr><td>${esc(k)}</td><td>${esc(fmt(d[k]))}</td></tr>`).join("") + `</table>`;
    } else if (job.task === "map") {
      body = `<div>at (${fmt(r.x, 3)}, ${fmt(r.y, 3)}); ${(r.neighbours || []).length} neighbours</div>`;
    }
  } else {
    body = `<div class="muted">${job.status === "running" ? "working…" : "waiting…"}</div>`;
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
