// The upload page: drag and drop / file picker, per-file progress, polled results and history.
"use strict";

const MAX_PARALLEL = 3;
let info = null;
let lastHistory = "";
let timer = null;
const waiting = [];
let active = 0;

async function init() {
  try {
    info = await getJSON("/api/info");
  } catch (err) {
    document.getElementById("history").innerHTML = `<p class="error">${esc(err.message)}</p>`;
    return;
  }
  document.getElementById("workspace").textContent = info.workspace;
  const mb = (info.limits.max_file_bytes / 1048576).toFixed(0);
  const mp = (info.limits.max_pixels / 1e6).toFixed(0);
  document.getElementById("limits").textContent = `Up to ${mb} MB and ${mp} megapixels per file; many files at once.`;
  const notes = [];
  for (const box of document.querySelectorAll("input[name=task]")) {
    const cap = info.capabilities[box.value];
    if (cap && !cap.available) {
      box.checked = false;
      box.disabled = true;
      box.parentElement.title = cap.reason;
      notes.push(`${box.value}: ${cap.reason}`);
    } else if (box.value === "predict" || box.value === "map") {
      box.checked = true;
    }
  }
  document.getElementById("task-notes").innerHTML = notes.map(n => `<div>${esc(n)}</div>`).join("");
  const seg = info.capabilities.segment || {};
  document.getElementById("opt-method").innerHTML = (seg.methods || [seg.method]).map(m =>
    `<option value="${esc(m)}"${m === seg.method ? " selected" : ""}>${esc(m)}${m === seg.method ? " (default)" : ""}</option>`).join("");
  const pred = info.capabilities.predict || {};
  const models = pred.models || [];
  const select = document.getElementById("opt-model");
  select.innerHTML = models.map(m => `<option value="${esc(m.name)}"${m.name === pred.default ? " selected" : ""}>` +
    `${esc(m.name)}${m.name === pred.default ? " (newest, default)" : ""}</option>`).join("");
  select.disabled = !models.length;
  select.addEventListener("change", showModel);
  showModel();
  refresh();
}

function showModel() {
  const models = (info.capabilities.predict || {}).models || [];
  const m = models.find(x => x.name === document.getElementById("opt-model").value);
  document.getElementById("model-info").innerHTML = m ? modelLine(m) :
    "no trained run in this workspace (run <code>semlab train</code>)";
}

function chosenOptions() {
  return {
    method: document.getElementById("opt-method").value,
    foreground: document.getElementById("opt-foreground").value,
    phase: document.getElementById("opt-phase").value.trim(),
    model: document.getElementById("opt-model").value,
  };
}

function chosenTasks() {
  return [...document.querySelectorAll("input[name=task]:checked")].map(b => b.value).join(",");
}

function addFiles(files) {
  const tasks = chosenTasks();
  const options = chosenOptions();
  for (const file of files) {
    const li = document.createElement("li");
    li.innerHTML = `<span class="name">${esc(file.name)}</span><progress max="100" value="0"></progress>` +
      `<span class="state muted">waiting</span>`;
    document.getElementById("queue").prepend(li);
    waiting.push({file, tasks, options, li});
  }
  pump();
}

function pump() {
  while (active < MAX_PARALLEL && waiting.length) {
    active += 1;
    send(waiting.shift()).finally(() => { active -= 1; pump(); });
  }
}

function send(item) {
  return new Promise((resolve) => {
    const {file, tasks, options, li} = item;
    const bar = li.querySelector("progress");
    const state = li.querySelector(".state");
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/uploads");
    xhr.withCredentials = true;
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) bar.value = Math.round(100 * e.loaded / e.total);
      state.textContent = `uploading ${bar.value} %`;
    };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = {detail: xhr.statusText}; }
      if (xhr.status === 201) {
        bar.value = 100;
        state.className = "state ok";
        state.textContent = body.duplicate ? "stored (same file was uploaded before)" : "stored; analysing…";
        li.dataset.upload = body.id;
        refresh();
      } else {
        state.className = "state error";
        state.textContent = `${xhr.status}: ${body.detail || "upload failed"}`;
      }
      resolve();
    };
    xhr.onerror = () => {
      state.className = "state error";
      state.textContent = "network error: is the server still running?";
      resolve();
    };
    const form = new FormData();
    form.append("file", file, file.name);
    form.append("tasks", tasks);
    for (const [key, value] of Object.entries(options || {})) if (value) form.append(key, value);
    state.textContent = "uploading";
    xhr.send(form);
  });
}

function filters() {
  const p = new URLSearchParams();
  const q = document.getElementById("filter").value.trim();
  const task = document.getElementById("filter-task").value;
  const status = document.getElementById("filter-status").value;
  if (q) p.set("q", q);
  if (task) p.set("task", task);
  if (status) p.set("status", status);
  return p.toString();
}

async function refresh() {
  clearTimeout(timer);
  const query = filters();
  document.getElementById("dl-csv").href = "/api/history.csv" + (query ? "?" + query : "");
  document.getElementById("dl-json").href = "/api/history.json" + (query ? "?" + query : "");
  let data;
  try {
    data = await getJSON("/api/uploads" + (query ? "?" + query : ""));
  } catch (err) {
    document.getElementById("history").innerHTML = `<p class="error">${esc(err.message)}</p>`;
    timer = setTimeout(refresh, 5000);
    return;
  }
  // Counts of what the filter keeps; the whole history beside them when a filter is on.
  const c = data.counts;
  const t = data.total || c;
  const of = query ? ` of ${t.uploads}` : "";
  const n = (k, word) => `${k} ${word}${k === 1 ? "" : "s"}`;
  document.getElementById("counts").textContent =
    `${c.uploads}${of} ${c.uploads === 1 && !query ? "upload" : "uploads"}${query ? (c.uploads === 1 ? " matches" : " match") + " the filter" : ""}, ` +
    `${n(c.images, "image")}; ` +
    `their jobs: ${c.done} done, ${c.queued + c.running} pending, ${c.failed} failed`;
  for (const li of document.querySelectorAll("#queue li[data-upload]")) {
    const u = data.uploads.find(x => String(x.id) === li.dataset.upload);
    if (!u) continue;
    const open = u.jobs.filter(j => j.status === "queued" || j.status === "running").length;
    const failed = u.jobs.filter(j => j.status === "failed").length;
    const state = li.querySelector(".state");
    state.textContent = open ? `stored; ${open} analyses pending…` :
      `done${failed ? `, ${failed} of ${u.jobs.length} analyses failed (see below)` : ""}`;
    state.className = "state " + (failed ? "error" : "ok");
  }
  const text = JSON.stringify(data.uploads);
  if (text !== lastHistory) {
    lastHistory = text;
    render(data.uploads);
  }
  const pending = t.queued + t.running > 0 || active > 0 || waiting.length > 0;
  timer = setTimeout(refresh, pending ? 1000 : 10000);
}

function render(uploads) {
  const el = document.getElementById("history");
  if (!uploads.length) {
    el.innerHTML = `<p class="muted">No uploads yet${filters() ? " matching the filter" : ""}.</p>`;
    return;
  }
  el.innerHTML = uploads.map(u => `
    <div class="upload" data-upload="${u.id}" data-hash="${esc(u.image_hash)}">
      <a href="/image/${esc(u.image_hash)}"><img class="thumb" loading="lazy" src="/api/images/${esc(u.image_hash)}/preview.png" alt="${esc(u.original_name)}"></a>
      <div>
        <h3><a href="/image/${esc(u.image_hash)}">${esc(u.original_name)}</a>
          <span class="muted">#${u.id} · ${esc(u.uploaded_at.replace("T", " ").slice(0, 19))} UTC · ${esc(u.image_hash.slice(0, 12))}${u.duplicate ? " · already stored" : ""}</span></h3>
        ${qualityHTML(u.quality)}
        <div class="jobs">${u.jobs.map(jobHTML).join("") || '<span class="muted">no analyses requested</span>'}</div>
      </div>
    </div>`).join("");
}

const drop = document.getElementById("drop");
const picker = document.getElementById("picker");
drop.addEventListener("click", (e) => { if (e.target.tagName !== "LABEL") picker.click(); });
drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") picker.click(); });
picker.addEventListener("change", () => { addFiles([...picker.files]); picker.value = ""; });
for (const name of ["dragenter", "dragover"]) {
  drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("over"); });
}
for (const name of ["dragleave", "drop"]) {
  drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.remove("over"); });
}
drop.addEventListener("drop", (e) => addFiles([...e.dataTransfer.files]));
let debounce = null;
document.getElementById("filter").addEventListener("input", () => { clearTimeout(debounce); debounce = setTimeout(refresh, 250); });
document.getElementById("filter-task").addEventListener("change", refresh);
document.getElementById("filter-status").addEventListener("change", refresh);
init();
