// The map page: the workspace's latest map (study images) with the uploads placed on it.
"use strict";

const W = 760, H = 560, M = {left: 60, right: 16, top: 12, bottom: 48};
// An ordered colour scale for numeric columns (viridis, 5 stops) and a categorical one for text.
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
const CATEGORIES = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939"];
const METHOD_NAMES = {umap: "UMAP", pca: "PCA", tsne: "t-SNE"};
let data = null;

function viridis(t) {
  const s = Math.min(Math.max(t, 0), 1) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(s), VIRIDIS.length - 2), f = s - i;
  const c = VIRIDIS[i].map((v, k) => Math.round(v + f * (VIRIDIS[i + 1][k] - v)));
  return `rgb(${c.join(",")})`;
}

function ticks(lo, hi, n) {
  const span = hi - lo || 1;
  const step0 = Math.pow(10, Math.floor(Math.log10(span / n)));
  const step = [1, 2, 5, 10].map(m => m * step0).find(s => span / s <= n) || 10 * step0;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * span; v += step) out.push(+v.toPrecision(12));
  return out;
}

function colourOf(column, i) {
  if (!column) return "#8aa1bd";
  if (column.numeric) {
    const v = column.values[i];
    return v === null ? null : viridis(column.max > column.min ? (v - column.min) / (column.max - column.min) : 0.5);
  }
  const c = column.codes[i];
  return c < 0 ? null : CATEGORIES[c % CATEGORIES.length];
}

function keyHTML(column) {
  const pts = data.points.x.length;
  let html = `<span class="key"><svg width="12" height="12"><circle cx="6" cy="6" r="4.5" fill="#8aa1bd" stroke="#333" stroke-width=".5"/></svg> study image (${pts} points)</span>` +
    `<span class="key"><svg width="14" height="14"><path d="M7 1 L13 7 L7 13 L1 7 Z" fill="#ff5a1f" stroke="#000"/></svg> upload placed on the map (${data.uploads.length})</span>`;
  if (column && column.numeric) {
    const stops = [0, .25, .5, .75, 1].map(t => viridis(t)).join(",");
    html += `<span class="key colourbar" data-column="${esc(column.name)}"><b>${esc(column.label)}</b> ` +
      `${esc(fmt(column.min, 3))} <i class="bar" style="background:linear-gradient(to right,${stops})"></i> ${esc(fmt(column.max, 3))}</span>`;
  } else if (column) {
    html += `<span class="key"><b>${esc(column.label)}</b>:</span>` + column.levels.map((l, k) =>
      `<span class="key"><i style="background:${CATEGORIES[k % CATEGORIES.length]}"></i>${esc(l)}</span>`).join("");
  }
  if (column && (column.numeric ? column.values : column.codes).some(v => v === null || v === -1)) {
    html += `<span class="key"><svg width="12" height="12"><circle cx="6" cy="6" r="4" fill="none" stroke="#888"/></svg> no value</span>`;
  }
  return html;
}

function draw() {
  const column = data.columns.find(c => c.name === document.getElementById("color-by").value) || null;
  const p = data.points;
  const xs = p.x.concat(data.uploads.map(u => u.x)), ys = p.y.concat(data.uploads.map(u => u.y));
  const pad = (a) => { const lo = Math.min(...a), hi = Math.max(...a), d = (hi - lo || 1) * 0.05; return [lo - d, hi + d]; };
  const [x0, x1] = pad(xs), [y0, y1] = pad(ys);
  const sx = v => M.left + (v - x0) / (x1 - x0) * (W - M.left - M.right);
  const sy = v => H - M.bottom - (v - y0) / (y1 - y0) * (H - M.top - M.bottom);
  let svg = `<svg id="map-svg" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${esc(data.title)}">` +
    `<rect x="${M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="#fff" stroke="#888"/>`;
  for (const t of ticks(x0, x1, 8)) svg += `<line x1="${sx(t)}" x2="${sx(t)}" y1="${H - M.bottom}" y2="${H - M.bottom + 5}" stroke="#333"/><text class="tick" x="${sx(t)}" y="${H - M.bottom + 18}" text-anchor="middle">${String(t)}</text>`;
  for (const t of ticks(y0, y1, 8)) svg += `<line x1="${M.left - 5}" x2="${M.left}" y1="${sy(t)}" y2="${sy(t)}" stroke="#333"/><text class="tick" x="${M.left - 8}" y="${sy(t) + 4}" text-anchor="end">${String(t)}</text>`;
  const method = esc(METHOD_NAMES[data.method] || data.method || "embedding");
  svg += `<text class="axis-title" x="${(M.left + W - M.right) / 2}" y="${H - 8}" text-anchor="middle">map x (${method} 1, no unit)</text>` +
    `<text class="axis-title" transform="translate(16 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">map y (${method} 2, no unit)</text>`;
  p.x.forEach((x, i) => {
    const c = colourOf(column, i);
    svg += `<circle class="pt" data-i="${i}" data-hash="${esc(p.image_hash[i])}" cx="${sx(x).toFixed(1)}" cy="${sy(p.y[i]).toFixed(1)}" r="5" ` +
      (c ? `fill="${c}" stroke="#333" stroke-width=".5"` : `fill="none" stroke="#888"`) + `><title>${esc(p.name[i])}</title></circle>`;
  });
  // Upload labels: moved down in 15 px steps until they overlap no label placed before (leader line when moved).
  const boxes = [];
  for (const u of data.uploads) {
    const cx = sx(u.x), cy = sy(u.y), w = 7.5 * u.original_name.length;
    let ly = cy + 4;
    while (boxes.some(b => Math.abs(b.y - ly) < 15 && cx + 11 < b.x + b.w && b.x < cx + 11 + w)) ly += 15;
    boxes.push({x: cx + 11, y: ly, w});
    const leader = ly !== cy + 4 ? `<line x1="${cx + 6}" y1="${cy + 3}" x2="${cx + 11}" y2="${ly - 4}" stroke="#8a2500"/>` : "";
    svg += `<a href="/image/${esc(u.image_hash)}"><path class="upload-pt" data-hash="${esc(u.image_hash)}" d="M${cx} ${cy - 9} L${cx + 9} ${cy} L${cx} ${cy + 9} L${cx - 9} ${cy} Z" fill="#ff5a1f" stroke="#000" stroke-width="1.2">` +
      `<title>upload #${u.upload_id}: ${esc(u.original_name)}</title></path>` + leader +
      `<text class="upload-label" x="${cx + 11}" y="${ly}">${esc(u.original_name)}</text></a>`;
  }
  document.getElementById("map-plot").innerHTML = svg + `</svg>`;
  document.getElementById("map-key").innerHTML = keyHTML(column);
}

function detail(hash, name, extra) {
  document.getElementById("map-detail").innerHTML = `<a href="/image/${esc(hash)}"><img class="detail-img" src="/api/images/${esc(hash)}/preview.png" alt=""></a>` +
    `<div><a href="/image/${esc(hash)}">${esc(name)}</a></div><div class="muted">${extra}</div>`;
}

async function init() {
  try {
    data = await getJSON("/api/map");
  } catch (err) {
    document.getElementById("map-plot").innerHTML = `<p class="error">${esc(err.message)}</p>`;
    return;
  }
  if (!data.available) {
    document.getElementById("map-title").textContent = "No map yet";
    document.getElementById("map-plot").innerHTML = `<p class="muted no-map">${esc(data.reason)}</p>`;
    return;
  }
  document.getElementById("map-title").textContent = data.title;
  document.getElementById("map-coords").textContent = data.coordinates;
  const select = document.getElementById("color-by");
  select.innerHTML += data.columns.map(c => `<option value="${esc(c.name)}">${esc(c.label)}${c.numeric ? "" : " (categories)"}</option>`).join("");
  select.addEventListener("change", draw);
  draw();
  const plot = document.getElementById("map-plot");
  plot.addEventListener("mouseover", (e) => {
    const pt = e.target.closest(".pt, .upload-pt");
    if (!pt) return;
    if (pt.classList.contains("upload-pt")) {
      const u = data.uploads.find(x => x.image_hash === pt.dataset.hash);
      detail(u.image_hash, u.original_name, `upload #${u.upload_id}, at (${fmt(u.x, 3)}, ${fmt(u.y, 3)})`);
    } else {
      const i = +pt.dataset.i;
      const column = data.columns.find(c => c.name === select.value);
      const v = column ? (column.numeric ? fmt(column.values[i], 4) : (column.levels[column.codes[i]] || "–")) : "";
      detail(data.points.image_hash[i], data.points.name[i], `study image${column ? ` · ${esc(column.label)}: ${esc(v)}` : ""}`);
    }
  });
  plot.addEventListener("click", (e) => {
    const pt = e.target.closest(".pt");
    if (pt) location.href = `/image/${pt.dataset.hash}`;
  });
}

init();
