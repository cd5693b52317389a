// The page of one image: preview, pixel size and metadata, results, neighbours on the map.
"use strict";

const hash = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
let timer = null;

async function refresh() {
  clearTimeout(timer);
  let d;
  try {
    d = await getJSON(`/api/images/${encodeURIComponent(hash)}`);
  } catch (err) {
    document.getElementById("results").innerHTML = `<p class="error">${esc(err.message)}</p>`;
    return;
  }
  document.title = `semlab · ${d.original_name}`;
  document.getElementById("title").textContent = d.original_name;
  const img = document.getElementById("preview");
  if (!img.src) img.src = `/api/images/${d.hash}/preview.png`;
  const px = d.pixel_size_um;
  const [rows, cols] = d.shape;
  document.getElementById("caption").textContent = px ?
    `${cols} × ${rows} px · ${px.toPrecision(4)} µm/px · field of view ${(cols * px).toPrecision(4)} × ${(rows * px).toPrecision(4)} µm` :
    `${cols} × ${rows} px · pixel size unknown (no scale bar drawn)`;
  document.getElementById("quality").innerHTML = qualityHTML((d.uploads[0] || {}).quality);
  const meta = {
    "hash": d.hash, "file": d.original_name, "pixel size (µm)": px, "pixel size from": d.pixel_size_source,
    "size (px)": `${cols} × ${rows}`, "dtype": d.dtype, "data bar row": d.databar_row, "sample": d.sample,
    "added": d.added_at, ...Object.fromEntries(Object.entries(d.metadata || {}).filter(([k, v]) => v !== null && typeof v !== "object")),
  };
  document.getElementById("meta").innerHTML = Object.entries(meta)
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(fmt(v))}</td></tr>`).join("");
  document.getElementById("raw").innerHTML = Object.entries(d.raw_metadata || {})
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(fmt(v))}</td></tr>`).join("");
  const jobs = Object.values(d.latest).filter(Boolean);
  const pendingJobs = d.uploads.flatMap(u => u.jobs).filter(j => j.status === "queued" || j.status === "running");
  document.getElementById("results").innerHTML = (jobs.concat(pendingJobs).map(jobHTML).join("")) ||
    `<p class="muted">No results yet; upload the file on the <a href="/">main page</a> to analyse it.</p>`;
  const m = d.latest.map;
  const nb = document.getElementById("neighbours");
  if (m && m.result) {
    const rowsHTML = m.result.neighbours.map(n => {
      const extra = Object.entries(n).filter(([k, v]) => !["image_hash", "distance", "x", "y", "original_name"].includes(k) && v !== null && typeof v !== "object")
        .slice(0, 6).map(([k, v]) => `${esc(k)}=${esc(fmt(v))}`).join(", ");
      return `<tr><td><a href="/image/${esc(n.image_hash)}"><img class="thumb" style="width:64px" loading="lazy" src="/api/images/${esc(n.image_hash)}/preview.png" alt=""></a></td>` +
        `<td><a href="/image/${esc(n.image_hash)}">${esc(n.original_name || n.image_hash.slice(0, 12))}</a></td><td>${fmt(n.distance, 3)}</td><td class="muted">${extra}</td></tr>`;
    }).join("");
    nb.innerHTML = `<p>Map position (${fmt(m.result.x, 3)}, ${fmt(m.result.y, 3)}), backbone ${esc(m.result.backbone)}.</p>` +
      `<table class="kv"><tr><th></th><th>image</th><th>distance</th><th>descriptors</th></tr>${rowsHTML}</table>`;
  } else {
    nb.innerHTML = `<p class="muted">Not placed on the map yet (choose “place on the map” when uploading).</p>`;
  }
  if (pendingJobs.length) timer = setTimeout(refresh, 1000);
}

refresh();
