// semlab map page, no dependencies.  Data: the JSON in #semlab-data (see semlab.maps.page_payload).
// Points are drawn by a small WebGL renderer (#map-gl; one draw call for all points, so panning and
// zooming cost the same for 100 000 points as for 100); thumbnails, highlights and selection shapes
// by a 2-D canvas on top (#map).  Without WebGL the 2-D canvas draws the points too.
(function () {
  "use strict";

  const D = JSON.parse(document.getElementById("semlab-data").textContent);
  const n = D.n | 0;
  // Exported maps list each full image once (imageSources) and give every point an index into it.
  if (D.imageSources) D.images = D.imageIndex.map((k) => (k < 0 ? null : D.imageSources[k]));
  const atlas = D.atlas || null;  // {tile, cols, sheets: [url], slot: [k], w: [px], h: [px]}: thumbnails in sprite sheets
  const hasThumbs = (D.thumbs || []).some((t) => t) || !!(atlas && atlas.slot.some((k) => k >= 0));
  const $ = (id) => document.getElementById(id);
  const canvas = $("map"), ctx = canvas.getContext("2d");
  const BACKGROUND = "#f5f6f8";
  const stage = $("stage");

  // ---------------------------------------------------------------- coordinates: centred, unit span
  const X = new Float32Array(n), Y = new Float32Array(n);
  (function normalise() {
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let i = 0; i < n; i++) {
      const x = D.x[i], y = D.y[i];
      if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y;
    }
    const span = Math.max(x1 - x0, y1 - y0) || 1, mx = (x0 + x1) / 2, my = (y0 + y1) / 2;
    for (let i = 0; i < n; i++) { X[i] = (D.x[i] - mx) / span; Y[i] = -(D.y[i] - my) / span; }
  })();

  // ---------------------------------------------------------------- spatial grid for visibility and hit tests
  const G = Math.max(1, Math.ceil(Math.sqrt(n / 8)));
  const cellOf = (v) => Math.min(G - 1, Math.max(0, Math.floor((v + 0.5) * G)));
  const cellStart = new Int32Array(G * G + 1), cellItems = new Int32Array(n);
  (function buildGrid() {
    const cell = new Int32Array(n);
    for (let i = 0; i < n; i++) { cell[i] = cellOf(Y[i]) * G + cellOf(X[i]); cellStart[cell[i] + 1]++; }
    for (let c = 0; c < G * G; c++) cellStart[c + 1] += cellStart[c];
    const fill = cellStart.slice(0, G * G);
    for (let i = 0; i < n; i++) cellItems[fill[cell[i]]++] = i;
  })();
  function forEachInRect(wx0, wy0, wx1, wy1, fn) {
    const c0 = cellOf(wx0), c1 = cellOf(wx1), r0 = cellOf(wy0), r1 = cellOf(wy1);
    for (let r = r0; r <= r1; r++) {
      for (let c = c0; c <= c1; c++) {
        const cell = r * G + c;
        for (let k = cellStart[cell]; k < cellStart[cell + 1]; k++) fn(cellItems[k]);
      }
    }
  }

  // ---------------------------------------------------------------- columns and colours
  const columns = D.columns || [];
  const byName = {};
  columns.forEach((c) => { byName[c.name] = c; });
  const TAB = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  const VIRIDIS = [[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142], [31, 158, 137],
    [53, 183, 121], [110, 206, 88], [181, 222, 43], [253, 231, 37]];
  const MISSING = "#b8bcc4";
  const NBINS = 64;
  function viridis(t) {
    t = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
    const k = Math.min(VIRIDIS.length - 2, Math.floor(t)), f = t - k, a = VIRIDIS[k], b = VIRIDIS[k + 1];
    return "rgb(" + [0, 1, 2].map((j) => Math.round(a[j] + f * (b[j] - a[j]))).join(",") + ")";
  }
  function categoricalColour(k, m) {
    if (m <= TAB.length) return TAB[k];
    return "hsl(" + Math.round((k * 137.508) % 360) + ",62%," + (k % 2 ? 42 : 56) + "%)";
  }
  const CATS = "::categories";  // suffix of a colour choice that shows a numeric column's levels as categories
  const isCat = (col) => col.kind === "categorical" || (state.asCategories && !!col.levels);
  const state = {
    asCategories: false, colorBy: null, palette: [MISSING], colour: new Int32Array(n), hiddenLevels: new Set(),
    pass: new Uint8Array(n).fill(1), nPass: n, selected: new Uint8Array(n), nSelected: 0,
    view: { cx: 0, cy: 0, scale: 1 }, mode: "pan", showThumbs: true, hover: -1,
    stats: { visible: 0, dots: 0, thumbs: 0, ms: 0, frames: 0 }, firstRenderMs: null, frameTimes: [],
  };
  function setColorBy(name) {
    const asCats = typeof name === "string" && name.endsWith(CATS);
    if (asCats) name = name.slice(0, -CATS.length);
    const col = name == null || name === "" ? null : byName[name];
    if (name && !col) throw new Error("no column " + name + "; columns: " + columns.map((c) => c.name).join(", "));
    state.colorBy = col ? col.name : null;
    state.asCategories = !!(asCats && col && col.levels);
    state.hiddenLevels.clear();
    const colour = state.colour;
    if (!col) { state.palette = ["#1f6feb"]; colour.fill(0); }
    else if (isCat(col)) {
      const m = col.levels.length;
      state.palette = col.levels.map((_, k) => categoricalColour(k, m)).concat([MISSING]);
      for (let i = 0; i < n; i++) colour[i] = col.codes[i] < 0 ? m : col.codes[i];
    } else {
      state.palette = [];
      for (let b = 0; b < NBINS; b++) state.palette.push(viridis(b / (NBINS - 1)));
      state.palette.push(MISSING);
      const lo = col.min, span = (col.max - col.min) || 1;
      for (let i = 0; i < n; i++) {
        const v = col.values[i];
        colour[i] = v == null ? NBINS : Math.min(NBINS - 1, Math.max(0, Math.round(((v - lo) / span) * (NBINS - 1))));
      }
    }
    $("color-by").value = state.colorBy ? state.colorBy + (state.asCategories ? CATS : "") : "";
    applyFilter();
    drawLegend();
    requestRender();
  }
  function fmt(v) {
    if (v == null) return "–";
    if (typeof v === "number") {
      if (Number.isInteger(v)) return String(v);
      const a = Math.abs(v);
      return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : String(+v.toPrecision(4));
    }
    return String(v);
  }
  function valueOf(col, i) {
    if (col.numeric) return col.values[i];
    const k = col.codes[i];
    return k < 0 ? null : col.levels[k];
  }
  function drawLegend() {
    const box = $("legend");
    box.textContent = "";
    const col = state.colorBy ? byName[state.colorBy] : null;
    if (!col) { box.hidden = true; return; }
    box.hidden = false;
    const title = document.createElement("div");
    title.className = "title"; title.textContent = col.label || col.name; box.appendChild(title);
    if (isCat(col)) {
      const counts = new Array(col.levels.length + 1).fill(0);
      for (let i = 0; i < n; i++) counts[col.codes[i] < 0 ? col.levels.length : col.codes[i]]++;
      const labels = col.levels.concat(counts[col.levels.length] ? ["missing"] : []);
      labels.forEach((label, k) => {
        const item = document.createElement("div");
        item.className = "item" + (state.hiddenLevels.has(k) ? " off" : "");
        item.dataset.level = String(k);
        item.title = "click to hide or show";
        const sw = document.createElement("span");
        sw.className = "swatch"; sw.style.background = state.palette[k];
        item.appendChild(sw);
        item.appendChild(document.createTextNode(label + " (" + counts[k] + ")"));
        item.addEventListener("click", () => {
          if (state.hiddenLevels.has(k)) state.hiddenLevels.delete(k); else state.hiddenLevels.add(k);
          applyFilter(); drawLegend(); requestRender();
        });
        box.appendChild(item);
      });
    } else {
      const bar = document.createElement("canvas");
      bar.width = 200; bar.height = 12; bar.className = "colour-bar";
      const g = bar.getContext("2d");
      for (let x = 0; x < 200; x++) { g.fillStyle = viridis(x / 199); g.fillRect(x, 0, 1, 12); }
      box.appendChild(bar);
      const labels = document.createElement("div");
      labels.className = "bar-labels";
      if (col.levels && col.levels.length <= 8 && col.max > col.min) {
        // Few levels (e.g. 5 temperatures): a tick label at each, where its colour is.
        labels.classList.add("levels");
        col.levels.forEach((v) => {
          const s = document.createElement("span"); s.textContent = fmt(+v);
          s.style.left = (100 * (+v - col.min)) / (col.max - col.min) + "%"; labels.appendChild(s);
        });
      } else {
        [col.min, (col.min + col.max) / 2, col.max].forEach((v) => {
          const s = document.createElement("span"); s.textContent = fmt(v); labels.appendChild(s);
        });
      }
      box.appendChild(labels);
      if (col.unit) {
        const unit = document.createElement("div");
        unit.className = "bar-unit"; unit.textContent = "unit: " + col.unit; box.appendChild(unit);
      }
      let missing = 0;
      for (let i = 0; i < n; i++) if (col.values[i] == null) missing++;
      if (missing) {
        const item = document.createElement("div");
        item.className = "item";
        const sw = document.createElement("span");
        sw.className = "swatch"; sw.style.background = MISSING;
        item.appendChild(sw); item.appendChild(document.createTextNode("missing (" + missing + ")"));
        box.appendChild(item);
      }
    }
  }

  // ---------------------------------------------------------------- filters
  const searchable = [];
  for (let i = 0; i < n; i++) searchable.push(((D.sample[i] || "") + "\u0001" + (D.name[i] || "")).toLowerCase());
  const filter = { text: "", column: null, min: null, max: null };
  function applyFilter() {
    const text = filter.text.trim().toLowerCase();
    const rc = filter.column ? byName[filter.column] : null;
    const lo = filter.min, hi = filter.max;
    const cc = state.colorBy ? byName[state.colorBy] : null;
    const hideLevels = cc && isCat(cc) && state.hiddenLevels.size > 0;
    let count = 0;
    for (let i = 0; i < n; i++) {
      let ok = !text || searchable[i].indexOf(text) >= 0;
      if (ok && rc && (lo != null || hi != null)) {
        const v = rc.values[i];
        ok = v != null && (lo == null || v >= lo) && (hi == null || v <= hi);
      }
      if (ok && hideLevels && state.hiddenLevels.has(state.colour[i])) ok = false;
      state.pass[i] = ok ? 1 : 0;
      count += ok;
      if (!ok && state.selected[i]) { state.selected[i] = 0; state.nSelected--; }
    }
    state.nPass = count;
    glColoursStale = true;
    dotsVersion++;
    updateCounts();
  }
  function setFilter(f) {
    Object.assign(filter, f || {});
    if (filter.column && !(byName[filter.column] && byName[filter.column].numeric)) {
      throw new Error("no numeric column " + filter.column);
    }
    $("search").value = filter.text;
    $("range-column").value = filter.column || "";
    $("range-min").value = filter.min == null ? "" : filter.min;
    $("range-max").value = filter.max == null ? "" : filter.max;
    applyFilter(); requestRender();
  }

  // ---------------------------------------------------------------- view
  let W = 1, H = 1, dpr = 1;
  function resize() {
    const r = stage.getBoundingClientRect();
    dpr = window.devicePixelRatio || 1;
    W = Math.max(1, r.width); H = Math.max(1, r.height);
    canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr);
    requestRender();
  }
  let bx0 = -0.5, bx1 = 0.5, by0 = -0.5, by1 = 0.5;  // bounds of the points in map units
  if (n) {
    bx0 = by0 = Infinity; bx1 = by1 = -Infinity;
    for (let i = 0; i < n; i++) {
      bx0 = Math.min(bx0, X[i]); bx1 = Math.max(bx1, X[i]); by0 = Math.min(by0, Y[i]); by1 = Math.max(by1, Y[i]);
    }
  }
  function fit() {
    // Pixels kept free around the points: half a thumbnail (whose size follows the scale) and some air.
    let pad = 40;
    for (let k = 0; k < 3; k++) {
      const sxFit = (W - 2 * pad) / Math.max(bx1 - bx0, 1e-9), syFit = (H - 2 * pad) / Math.max(by1 - by0, 1e-9);
      state.view = { cx: (bx0 + bx1) / 2, cy: (by0 + by1) / 2, scale: Math.max(20, Math.min(sxFit, syFit, 50 * Math.min(W, H))) };
      pad = Math.min(0.3 * Math.min(W, H), (n <= MAX_THUMBS ? thumbSize() / 2 : 0) + 60);
    }
    requestRender();
  }
  const sx = (i) => (X[i] - state.view.cx) * state.view.scale + W / 2;
  const sy = (i) => (Y[i] - state.view.cy) * state.view.scale + H / 2;
  const toWorld = (px, py) => [(px - W / 2) / state.view.scale + state.view.cx, (py - H / 2) / state.view.scale + state.view.cy];
  const dotRadius = () => Math.min(7, Math.max(1.6, (state.view.scale * 0.12) / Math.sqrt(Math.max(n, 1))));
  const thumbPx = () => Math.min(D.thumbsLarge ? 512 : 192, Math.max(28, (state.view.scale * 0.5) / Math.sqrt(Math.max(n, 1))));
  const MAX_THUMBS = 400;
  let thumbNatural = atlas ? atlas.tile : 0;  // largest thumbnail side seen, px: thumbnails are never drawn larger
  const thumbSize = () => (D.thumbsLarge ? thumbPx() : thumbNatural ? Math.min(thumbPx(), thumbNatural) : thumbPx());

  // ---------------------------------------------------------------- thumbnails
  const images = new Map();
  let pending = 0;
  // Above the small thumbnail's own size, the large one (when there is one) is fetched and drawn;
  // the small one stands in until it has arrived.
  // Returns {im, sx, sy, sw, sh, large}: the picture and the part of it that is point i's thumbnail
  // (a tile of a sprite sheet for atlas maps), or null while it is loading.
  const whole = (im, large) => ({ im, sx: 0, sy: 0, sw: im.naturalWidth || im.width, sh: im.naturalHeight || im.height, large });
  function atlasTile(i) {
    const k = atlas.slot[i];
    if (k == null || k < 0) return null;
    const per = atlas.cols * atlas.cols, sheet = Math.floor(k / per), j = k % per;
    return { url: atlas.sheets[sheet], sx: (j % atlas.cols) * atlas.tile, sy: Math.floor(j / atlas.cols) * atlas.tile, sw: atlas.w[i], sh: atlas.h[i] };
  }
  function thumb(i, drawnPx) {
    if (atlas && !(D.thumbs && D.thumbs[i])) {
      const t = atlasTile(i), im = t && thumbBitmap(t.url);
      return im ? { im, sx: t.sx, sy: t.sy, sw: t.sw, sh: t.sh, large: false } : null;
    }
    const small = thumbBitmap(D.thumbs[i]);
    const big = D.thumbsLarge && D.thumbsLarge[i];
    if (big && small && drawnPx * dpr > 1.1 * Math.max(small.naturalWidth || small.width, small.naturalHeight || small.height)) {
      const b = thumbBitmap(big);
      if (b) return whole(b, true);
    }
    return small ? whole(small, false) : null;
  }
  // A DOM element showing point i's thumbnail at most `side` px (an <img>, or a CSS sprite of its atlas tile).
  function pictureElement(i, side) {
    if (D.thumbs && D.thumbs[i]) { const im = document.createElement("img"); im.src = D.thumbs[i]; im.alt = "thumbnail"; return im; }
    const t = atlas && atlasTile(i);
    if (!t) return null;
    const el = document.createElement("div"), k = side / Math.max(t.sw, t.sh, 1);
    spriteStyle(el, t, k);
    return el;
  }
  function spriteStyle(el, t, k) {
    el.className = "sprite";
    el.style.width = Math.round(t.sw * k) + "px"; el.style.height = Math.round(t.sh * k) + "px";
    el.style.backgroundImage = "url(" + JSON.stringify(t.url) + ")";
    el.style.backgroundSize = atlas.cols * atlas.tile * k + "px auto";
    el.style.backgroundPosition = -t.sx * k + "px " + -t.sy * k + "px";
  }
  function thumbBitmap(url) {
    if (!url) return null;
    let entry = images.get(url);
    if (!entry) {
      entry = { bitmap: null, failed: false };
      images.set(url, entry);
      pending++;
      const im = new Image();
      const done = () => { pending--; dotsVersion++; requestRender(); };
      im.onload = () => {
        // Decode once into a bitmap: drawing decoded bitmaps keeps panning smooth on software canvases.
        if (typeof createImageBitmap === "function") {
          createImageBitmap(im).then((b) => { entry.bitmap = b; done(); }, () => { entry.bitmap = im; done(); });
        } else { entry.bitmap = im; done(); }
        thumbNatural = atlas ? atlas.tile : Math.max(thumbNatural, im.naturalWidth, im.naturalHeight);
      };
      im.onerror = () => { entry.failed = true; done(); };
      im.src = url;
    }
    return entry.bitmap;
  }

  // ---------------------------------------------------------------- WebGL points
  // One vertex per point (map x, y) and one RGBA colour per point (alpha 0: filtered out); the view
  // is two uniforms, so a pan or zoom frame uploads nothing.  ?renderer=canvas forces the 2-D path.
  const glCanvas = $("map-gl");
  // Measured (benchmarks/results/maps.json): on a software GL (SwiftShader, llvmpipe) 100 000 points
  // drew 4-10x slower than the 2-D canvas path below, so WebGL is used only on a real GPU
  // (?renderer=webgl forces it, ?renderer=canvas forbids it).
  const SOFTWARE_GL = /swiftshader|llvmpipe|softpipe|software|basic render/i;
  const wanted = (location.search.match(/[?&]renderer=(webgl|canvas)\b/) || [])[1] || D.renderer || "auto";
  let glProbe = null;  // the WebGL renderer's name, also when it is not used
  const GL = (function initGL() {
    if (!n || wanted === "canvas") return null;
    let gl = null;
    try {
      gl = glCanvas.getContext("webgl", { antialias: false, alpha: false, depth: false, preserveDrawingBuffer: false });
    } catch (e) { gl = null; }
    if (!gl) return null;
    const shader = (type, src) => {
      const sh = gl.createShader(type);
      gl.shaderSource(sh, src); gl.compileShader(sh);
      if (!gl.getShaderParameter(sh, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(sh));
      return sh;
    };
    try {
      const prog = gl.createProgram();
      gl.attachShader(prog, shader(gl.VERTEX_SHADER,
        "attribute vec2 p; attribute vec4 c; uniform vec2 u_c; uniform vec2 u_s; uniform float u_d; varying vec4 v;" +
        "void main() { vec2 q = (p - u_c) * u_s; gl_Position = vec4(q.x, -q.y, 0.0, 1.0);" +
        " gl_PointSize = c.a > 0.5 ? u_d : 0.0; v = c; }"));
      gl.attachShader(prog, shader(gl.FRAGMENT_SHADER,
        "precision highp float; varying vec4 v; uniform float u_d;" +
        "void main() { if (v.a < 0.5) discard; vec2 d = gl_PointCoord - 0.5;" +
        " if (u_d > 3.5 && dot(d, d) > 0.25) discard; gl_FragColor = vec4(v.rgb, 1.0); }"));
      gl.linkProgram(prog);
      if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(prog));
      gl.useProgram(prog);
      const xy = new Float32Array(2 * n);
      for (let i = 0; i < n; i++) { xy[2 * i] = X[i]; xy[2 * i + 1] = Y[i]; }
      const pos = gl.createBuffer();
      gl.bindBuffer(gl.ARRAY_BUFFER, pos); gl.bufferData(gl.ARRAY_BUFFER, xy, gl.STATIC_DRAW);
      const lp = gl.getAttribLocation(prog, "p");
      gl.enableVertexAttribArray(lp); gl.vertexAttribPointer(lp, 2, gl.FLOAT, false, 0, 0);
      const colours = new Uint8Array(4 * n), col = gl.createBuffer();
      gl.bindBuffer(gl.ARRAY_BUFFER, col); gl.bufferData(gl.ARRAY_BUFFER, colours, gl.DYNAMIC_DRAW);
      const lc = gl.getAttribLocation(prog, "c");
      gl.enableVertexAttribArray(lc); gl.vertexAttribPointer(lc, 4, gl.UNSIGNED_BYTE, true, 0, 0);
      const info = gl.getExtension("WEBGL_debug_renderer_info");
      const renderer = String(info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
      glProbe = renderer;
      if (wanted !== "webgl" && SOFTWARE_GL.test(renderer)) {
        const lose = gl.getExtension("WEBGL_lose_context");
        if (lose) lose.loseContext();
        return null;
      }
      gl.clearColor(0xf5 / 255, 0xf6 / 255, 0xf8 / 255, 1);
      return {
        gl, col, colours, renderer, uc: gl.getUniformLocation(prog, "u_c"), us: gl.getUniformLocation(prog, "u_s"),
        ud: gl.getUniformLocation(prog, "u_d"), maxPoint: gl.getParameter(gl.ALIASED_POINT_SIZE_RANGE)[1] || 64,
      };
    } catch (e) {
      console.warn("WebGL unavailable, drawing with canvas 2D: " + e.message);
      return null;
    }
  })();
  if (!GL) glCanvas.hidden = true;
  let glColoursStale = true, dotsVersion = 0;
  function uploadColours() {
    const rgba = paletteRGBA(), out = new Uint32Array(GL.colours.buffer), colour = state.colour, pass = state.pass;
    for (let i = 0; i < n; i++) out[i] = pass[i] ? rgba[colour[i]] : 0;
    GL.gl.bindBuffer(GL.gl.ARRAY_BUFFER, GL.col);
    GL.gl.bufferSubData(GL.gl.ARRAY_BUFFER, 0, GL.colours);
    glColoursStale = false;
  }
  function drawGL(points) {
    const gl = GL.gl;
    if (glCanvas.width !== canvas.width || glCanvas.height !== canvas.height) {
      glCanvas.width = canvas.width; glCanvas.height = canvas.height;
    }
    gl.viewport(0, 0, glCanvas.width, glCanvas.height);
    gl.clear(gl.COLOR_BUFFER_BIT);
    if (!points) return;
    if (glColoursStale) uploadColours();
    gl.uniform2f(GL.uc, state.view.cx, state.view.cy);
    gl.uniform2f(GL.us, (2 * state.view.scale) / W, (2 * state.view.scale) / H);
    gl.uniform1f(GL.ud, Math.min(GL.maxPoint, 2 * dotRadius() * dpr));
    gl.drawArrays(gl.POINTS, 0, n);
  }
  // Visible points (after filters) up to `limit`: cheap when zoomed out (stops at the limit).
  function countVisible(limit) {
    const m = Math.max(thumbPx(), 12) / state.view.scale;
    const [wx0, wy0] = toWorld(0, 0), [wx1, wy1] = toWorld(W, H);
    const ax = wx0 - m, bx = wx1 + m, ay = wy0 - m, by = wy1 + m;
    const c0 = cellOf(ax), c1 = cellOf(bx), r0 = cellOf(ay), r1 = cellOf(by);
    let count = 0;
    for (let r = r0; r <= r1; r++) {
      for (let c = c0; c <= c1; c++) {
        const cell = r * G + c;
        for (let k = cellStart[cell]; k < cellStart[cell + 1]; k++) {
          const i = cellItems[k];
          if (state.pass[i] && X[i] >= ax && X[i] <= bx && Y[i] >= ay && Y[i] <= by && ++count >= limit) return count;
        }
      }
    }
    return count;
  }

  // ---------------------------------------------------------------- drawing
  let queued = false;
  function requestRender() {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; render(); });
  }
  let drag = null;  // {kind: "pan"|"box"|"lasso", x0, y0, moved, path}
  function visibleIndices(extraPx) {
    const m = (Math.max(thumbPx(), 12) + (extraPx || 0)) / state.view.scale;
    const [wx0, wy0] = toWorld(0, 0), [wx1, wy1] = toWorld(W, H);
    const out = [];
    const ax = wx0 - m, bx = wx1 + m, ay = wy0 - m, by = wy1 + m;
    forEachInRect(ax, ay, bx, by, (i) => {
      if (state.pass[i] && X[i] >= ax && X[i] <= bx && Y[i] >= ay && Y[i] <= by) out.push(i);
    });
    return out;
  }
  // Many dots: write them straight into an ImageData (no path rasterisation; fast on software canvases).
  const PIXEL_DOTS = 3000;
  let pixelBuffer = null, rgbaCache = { key: null, values: null };
  function paletteRGBA() {
    const key = state.palette.join("|");
    if (rgbaCache.key === key) return rgbaCache.values;
    const c = document.createElement("canvas"); c.width = c.height = 1;
    const g = c.getContext("2d", { willReadFrequently: true });
    const values = new Uint32Array(state.palette.length);
    state.palette.forEach((colour, k) => {
      g.clearRect(0, 0, 1, 1); g.fillStyle = colour; g.fillRect(0, 0, 1, 1);
      const d = g.getImageData(0, 0, 1, 1).data;
      values[k] = (255 << 24) | (d[2] << 16) | (d[1] << 8) | d[0];  // little-endian RGBA
    });
    rgbaCache = { key, values };
    return values;
  }
  // Zoomed out without WebGL: the dots are drawn once into a layer a margin larger than the view;
  // a pan only moves that layer (one drawImage), a zoom scales it until the view settles, then the
  // layer is drawn again at the new scale.
  let layer = null, settle = 0;
  const LAYER_MARGIN = 0.2;  // of the larger view side, on each side
  /** The layer canvas for the view plus its margin (made again only when the view's size changes). */
  function ensureLayer() {
    const M = Math.round(LAYER_MARGIN * Math.max(W, H));
    const lw = Math.round((W + 2 * M) * dpr), lh = Math.round((H + 2 * M) * dpr);
    if (!layer || layer.canvas.width !== lw || layer.canvas.height !== lh) {
      const c = document.createElement("canvas"); c.width = lw; c.height = lh;
      const g = c.getContext("2d");
      layer = { canvas: c, g, img: g.createImageData(lw, lh) };
    }
    return { M, lw, lh };
  }
  function drawLayer() {
    const { M, lw, lh } = ensureLayer();
    const buf = new Uint32Array(layer.img.data.buffer);
    buf.fill(0xfff8f6f5);  // the background, #f5f6f8
    const rgba = paletteRGBA(), colour = state.colour, pass = state.pass;
    const R = Math.max(1, dotRadius() * dpr), R2 = R * R, ir = Math.ceil(R);
    const offs = [];
    for (let dy = -ir; dy <= ir; dy++) for (let dx = -ir; dx <= ir; dx++) if (dx * dx + dy * dy <= R2 + 0.5) offs.push(dy * lw + dx);
    const k = state.view.scale * dpr, ox = (W / 2 + M) * dpr - state.view.cx * k, oy = (H / 2 + M) * dpr - state.view.cy * k;
    const no = offs.length;
    for (let i = 0; i < n; i++) {
      if (!pass[i]) continue;
      const cx = Math.round(X[i] * k + ox), cy = Math.round(Y[i] * k + oy);
      if (cx <= ir || cy <= ir || cx >= lw - ir - 1 || cy >= lh - ir - 1) continue;
      const base = cy * lw + cx, v = rgba[colour[i]];
      for (let j = 0; j < no; j++) buf[base + offs[j]] = v;
    }
    layer.g.putImageData(layer.img, 0, 0);
    Object.assign(layer, { cx: state.view.cx, cy: state.view.cy, scale: state.view.scale, M, version: dotsVersion, dpr, kind: "dots" });
  }
  // Zoomed in: the thumbnails of the view and its margin drawn into the layer (loaded ones; a small
  // square in the point's colour until its picture has arrived); counts are of the view itself.
  function drawThumbLayer() {
    const { M, lw, lh } = ensureLayer();
    const g = layer.g;
    g.setTransform(dpr, 0, 0, dpr, M * dpr, M * dpr);
    g.fillStyle = BACKGROUND; g.fillRect(-M, -M, W + 2 * M, H + 2 * M);
    const m = Math.max(thumbPx(), 12);
    const counts = paintThumbs(g, visibleIndices(M), (x, y) => x >= -m && x <= W + m && y >= -m && y <= H + m);
    Object.assign(layer, { cx: state.view.cx, cy: state.view.cy, scale: state.view.scale, M, version: dotsVersion, dpr, kind: "thumbs", counts });
  }
  function paintThumbs(g, list, inView) {
    const s = thumbSize(), half = s / 2, sel = state.selected, colour = state.colour, pal = state.palette;
    let thumbs = 0, dots = 0, large = 0;
    for (const i of list) {
      const x = sx(i), y = sy(i), t = thumb(i, s), counted = inView(x, y);
      g.fillStyle = pal[colour[i]];
      if (t) {
        const k = Math.min(1, s / t.sw, s / t.sh), w = t.sw * k, h = t.sh * k;  // never enlarged
        g.fillRect(x - w / 2 - 3, y - h / 2 - 3, w + 6, h + 6);
        g.drawImage(t.im, t.sx, t.sy, t.sw, t.sh, x - w / 2, y - h / 2, w, h);
        if (sel[i]) { g.strokeStyle = "#ff2d95"; g.lineWidth = 3; g.strokeRect(x - w / 2 - 5, y - h / 2 - 5, w + 10, h + 10); }
        if (counted) { thumbs++; if (t.large) large++; }
      } else {
        g.fillRect(x - half / 3, y - half / 3, (2 * half) / 3, (2 * half) / 3);
        if (counted) dots++;
      }
    }
    return { thumbs, dots, large };
  }
  function drawLayered(kind) {
    const v = state.view;
    const fresh = layer && layer.kind === kind && layer.version === dotsVersion && layer.dpr === dpr &&
      layer.canvas.width === Math.round((W + 2 * layer.M) * dpr) && layer.canvas.height === Math.round((H + 2 * layer.M) * dpr);
    const ratio = fresh ? v.scale / layer.scale : 0;
    // Where the layer's top-left corner lands on screen (css px) at the current view.
    const place = () => {
      const r = v.scale / layer.scale;
      return [(layer.cx - v.cx) * v.scale + W / 2 - (W / 2 + layer.M) * r, (layer.cy - v.cy) * v.scale + H / 2 - (H / 2 + layer.M) * r, r];
    };
    // A pan needs the layer to cover the view; while zooming (scaled preview, at most 2x either way)
    // an uncovered edge stays empty until the zoom pauses for 150 ms and the layer is drawn anew.
    let redraw = !fresh || ratio < 0.5 || ratio > 2;
    if (!redraw && ratio === 1) {
      const [x, y] = place();
      redraw = x > 0 || y > 0 || x + W + 2 * layer.M < W || y + H + 2 * layer.M < H;
    }
    if (redraw) { if (kind === "dots") drawLayer(); else drawThumbLayer(); }
    else if (ratio !== 1) {  // scaled preview while zooming; drawn sharp once the zoom pauses
      clearTimeout(settle);
      settle = setTimeout(() => { if (layer && layer.scale !== state.view.scale) { layer.version = -1; requestRender(); } }, 150);
    }
    const [x, y, r] = place();
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.imageSmoothingEnabled = r !== 1;
    ctx.drawImage(layer.canvas, Math.round(x * dpr), Math.round(y * dpr), layer.canvas.width * r, layer.canvas.height * r);
    ctx.restore();
  }
  function drawDotsInPixels(vis) {
    const w = canvas.width, h = canvas.height;
    if (!pixelBuffer || pixelBuffer.width !== w || pixelBuffer.height !== h) pixelBuffer = ctx.createImageData(w, h);
    const buf = new Uint32Array(pixelBuffer.data.buffer);
    buf.fill(0xfff8f6f5);  // the background, #f5f6f8
    const rgba = paletteRGBA(), colour = state.colour;
    const R = Math.max(1, dotRadius() * dpr), R2 = R * R, ir = Math.ceil(R);
    const offs = [];
    for (let dy = -ir; dy <= ir; dy++) for (let dx = -ir; dx <= ir; dx++) if (dx * dx + dy * dy <= R2 + 0.5) offs.push(dx, dy);
    let count = 0;
    for (const i of vis) {
      const cx = Math.round(sx(i) * dpr), cy = Math.round(sy(i) * dpr), v = rgba[colour[i]];
      if (cx > ir && cy > ir && cx < w - ir - 1 && cy < h - ir - 1) {
        const base = cy * w + cx;
        for (let k = 0; k < offs.length; k += 2) buf[base + offs[k + 1] * w + offs[k]] = v;
      } else {
        for (let k = 0; k < offs.length; k += 2) {
          const x = cx + offs[k], y = cy + offs[k + 1];
          if (x >= 0 && y >= 0 && x < w && y < h) buf[y * w + x] = v;
        }
      }
      count++;
    }
    ctx.putImageData(pixelBuffer, 0, 0);
    return count;
  }
  function render() {
    const t0 = performance.now();
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    if (GL) ctx.clearRect(0, 0, W, H);
    else { ctx.fillStyle = BACKGROUND; ctx.fillRect(0, 0, W, H); }
    // Thumbnails when few points are in view; otherwise dots (WebGL: all points in one draw call).
    const useThumbs = state.showThumbs && hasThumbs && countVisible(MAX_THUMBS + 1) <= MAX_THUMBS;
    const layered = !GL && !useThumbs && countVisible(PIXEL_DOTS + 1) > PIXEL_DOTS;
    let vis = (GL && !useThumbs) || layered ? null : visibleIndices();
    let dots = 0, thumbs = 0, large = 0;
    const sel = state.selected, colour = state.colour, pal = state.palette;
    if (GL) drawGL(!useThumbs);
    if (useThumbs) {
      drawLayered("thumbs");
      ({ thumbs, dots, large } = layer.counts);
    } else if (GL) {
      dots = -1;  // all passing points went to the GPU; how many are in view is counted when asked (state())
    } else if (layered) {
      drawLayered("dots");
      dots = -1;  // counted when asked (state())
    } else if (vis.length > PIXEL_DOTS) {
      dots = drawDotsInPixels(vis);
    } else {
      const r = dotRadius();
      const buckets = new Array(pal.length);
      for (const i of vis) (buckets[colour[i]] || (buckets[colour[i]] = [])).push(i);
      for (let b = 0; b < pal.length; b++) {
        const list = buckets[b];
        if (!list) continue;
        ctx.fillStyle = pal[b];
        ctx.beginPath();
        for (const i of list) { const x = sx(i), y = sy(i); ctx.moveTo(x + r, y); ctx.arc(x, y, r, 0, 6.2832); }
        ctx.fill();
        dots += list.length;
      }
    }
    if (!useThumbs && state.nSelected) {
      const r = dotRadius();
      vis = vis || visibleIndices();
      ctx.strokeStyle = "#ff2d95"; ctx.lineWidth = 1.5; ctx.beginPath();
      for (const i of vis) if (sel[i]) { const x = sx(i), y = sy(i); ctx.moveTo(x + r + 2, y); ctx.arc(x, y, r + 2, 0, 6.2832); }
      ctx.stroke();
    }
    if (state.hover >= 0 && state.pass[state.hover]) {
      const i = state.hover, x = sx(i), y = sy(i), rr = useThumbs ? thumbSize() / 2 + 6 : dotRadius() + 4;
      ctx.strokeStyle = "#111"; ctx.lineWidth = 2; ctx.beginPath(); ctx.arc(x, y, rr, 0, 6.2832); ctx.stroke();
    }
    if (drag && drag.kind === "box" && drag.moved) {
      ctx.fillStyle = "rgba(31,111,235,.12)"; ctx.strokeStyle = "#1f6feb"; ctx.lineWidth = 1;
      ctx.fillRect(drag.x0, drag.y0, drag.x1 - drag.x0, drag.y1 - drag.y0);
      ctx.strokeRect(drag.x0, drag.y0, drag.x1 - drag.x0, drag.y1 - drag.y0);
    } else if (drag && drag.kind === "lasso" && drag.path.length > 1) {
      ctx.fillStyle = "rgba(31,111,235,.12)"; ctx.strokeStyle = "#1f6feb"; ctx.lineWidth = 1.5;
      ctx.beginPath(); ctx.moveTo(drag.path[0][0], drag.path[0][1]);
      for (const p of drag.path) ctx.lineTo(p[0], p[1]);
      ctx.closePath(); ctx.fill(); ctx.stroke();
    }
    const ms = performance.now() - t0;
    state.stats = { visible: vis && dots >= 0 ? vis.length : -1, dots, thumbs, large, ms, frames: state.stats.frames + 1, useThumbs };
    state.frameTimes.push(ms);
    if (state.frameTimes.length > 600) state.frameTimes.shift();
    if (state.firstRenderMs === null && n > 0 && W > 1) state.firstRenderMs = performance.now();
    updateCounts();
    return ms;
  }
  function updateCounts() {
    const el = $("counts");
    if (!el) return;
    el.textContent = n + " points" + (state.nPass < n ? ", " + state.nPass + " shown" : "") +
      (state.nSelected ? ", " + state.nSelected + " selected" : "");
    $("export-csv").disabled = state.nSelected === 0;
    $("clear-selection").disabled = state.nSelected === 0;
  }

  // ---------------------------------------------------------------- picking, tooltip, detail
  function pick(px, py) {
    const useThumbs = state.stats.useThumbs;
    const rad = useThumbs ? thumbSize() / 2 + 3 : dotRadius() + 4;
    const [wx, wy] = toWorld(px, py), wr = rad / state.view.scale;
    let best = -1, bestD = Infinity;
    forEachInRect(wx - wr, wy - wr, wx + wr, wy + wr, (i) => {
      if (!state.pass[i]) return;
      const dx = Math.abs(sx(i) - px), dy = Math.abs(sy(i) - py);
      const inside = useThumbs ? dx <= rad && dy <= rad : dx * dx + dy * dy <= rad * rad;
      const d = dx * dx + dy * dy;
      if (inside && d < bestD) { bestD = d; best = i; }
    });
    return best;
  }
  function rowsFor(i, all) {
    const rows = [];
    if (D.sample[i] != null) rows.push(["sample", D.sample[i]]);
    if (D.name[i] != null) rows.push(["image", D.name[i]]);
    if (D.patch && D.patch[i] != null) rows.push(["patch", D.patch[i]]);
    rows.push(["pixel size", D.pixel_size_um[i] == null ? "unknown" : fmt(D.pixel_size_um[i]) + " µm/px"]);
    const cc = state.colorBy ? byName[state.colorBy] : null;
    if (cc && cc.name !== "sample" && cc.name !== "pixel_size_um") rows.push([cc.name, fmt(valueOf(cc, i))]);
    for (const col of columns) {
      if (col.name === "sample" || col.name === "pixel_size_um" || col.name === "patch" || (cc && col.name === cc.name)) continue;
      if (!all && rows.length >= 8) break;
      rows.push([col.name, fmt(valueOf(col, i))]);
    }
    if (all && D.hash[i]) rows.push(["hash", D.hash[i]]);
    return rows;
  }
  function fillTable(table, rows) {
    table.textContent = "";
    for (const [k, v] of rows) {
      const tr = document.createElement("tr");
      const a = document.createElement("td"), b = document.createElement("td");
      a.textContent = k; b.textContent = v; b.dataset.key = k;
      tr.appendChild(a); tr.appendChild(b); table.appendChild(tr);
    }
  }
  function showTooltip(i, px, py) {
    const tip = $("tooltip");
    if (i < 0) { tip.hidden = true; return; }
    tip.textContent = "";
    const pic = pictureElement(i, 128);
    if (pic) tip.appendChild(pic);
    const t = document.createElement("table"); fillTable(t, rowsFor(i, false)); tip.appendChild(t);
    tip.hidden = false;
    const w = tip.offsetWidth, h = tip.offsetHeight;
    tip.style.left = Math.min(px + 14, W - w - 4) + "px";
    tip.style.top = Math.min(py + 14, H - h - 4) + "px";
  }
  function openDetail(i) {
    const panel = $("detail");
    $("detail-title").textContent = D.name[i] || D.hash[i] || "point " + i;
    const img = $("detail-image");
    // A per-patch point: the whole image with its patch outlined (or the patch itself without the image).
    const box = D.boxes && D.boxes[i];
    const patchPic = box && !D.images[i] ? (D.thumbsLarge && D.thumbsLarge[i]) || D.thumbs[i] : null;
    const src = patchPic || D.images[i] || D.thumbs[i];
    const outline = $("detail-box");
    if (box && !patchPic) {
      outline.hidden = false;
      outline.style.top = 100 * box[0] + "%"; outline.style.left = 100 * box[1] + "%";
      outline.style.height = 100 * box[2] + "%"; outline.style.width = 100 * box[3] + "%";
    } else outline.hidden = true;
    const sprite = $("detail-sprite"), tile = !src && atlas ? atlasTile(i) : null;
    if (src) { img.hidden = false; img.src = src; } else { img.hidden = true; img.removeAttribute("src"); }
    sprite.hidden = !tile;
    if (tile) spriteStyle(sprite, tile, Math.min(4, 256 / Math.max(tile.sw, tile.sh, 1)));
    if (tile) sprite.className = "sprite";
    fillTable($("detail-table"), rowsFor(i, true));
    panel.hidden = false;
    panel.dataset.index = String(i);
  }
  function closeDetail() { $("detail").hidden = true; }

  // ---------------------------------------------------------------- selection and CSV
  function insidePolygon(px, py, poly) {
    let inside = false;
    for (let a = 0, b = poly.length - 1; a < poly.length; b = a++) {
      const [xa, ya] = poly[a], [xb, yb] = poly[b];
      if ((ya > py) !== (yb > py) && px < ((xb - xa) * (py - ya)) / (yb - ya) + xa) inside = !inside;
    }
    return inside;
  }
  function setSelection(indices) {
    state.selected.fill(0);
    let k = 0;
    for (const i of indices) if (i >= 0 && i < n && state.pass[i] && !state.selected[i]) { state.selected[i] = 1; k++; }
    state.nSelected = k;
    dotsVersion++;
    updateCounts(); requestRender();
  }
  function selectBox(x0, y0, x1, y1) {
    const [ax, ay] = toWorld(Math.min(x0, x1), Math.min(y0, y1)), [bx, by] = toWorld(Math.max(x0, x1), Math.max(y0, y1));
    const out = [];
    forEachInRect(ax, ay, bx, by, (i) => { if (X[i] >= ax && X[i] <= bx && Y[i] >= ay && Y[i] <= by) out.push(i); });
    setSelection(out);
  }
  function selectLasso(path) {
    if (path.length < 3) return;
    let ax = Infinity, ay = Infinity, bx = -Infinity, by = -Infinity;
    const poly = path.map(([px, py]) => { const w = toWorld(px, py); ax = Math.min(ax, w[0]); bx = Math.max(bx, w[0]); ay = Math.min(ay, w[1]); by = Math.max(by, w[1]); return w; });
    const out = [];
    forEachInRect(ax, ay, bx, by, (i) => { if (insidePolygon(X[i], Y[i], poly)) out.push(i); });
    setSelection(out);
  }
  function selectedIndices() { const out = []; for (let i = 0; i < n; i++) if (state.selected[i]) out.push(i); return out; }
  function csvCell(v) {
    if (v == null) return "";
    const s = String(v);
    return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }
  function selectionCSV() {
    const extra = columns.filter((c) => c.name !== "sample" && c.name !== "pixel_size_um" && c.name !== "patch");
    const head = ["hash", "image", "sample", "pixel_size_um"].concat(D.patch ? ["patch"] : [], ["map_x", "map_y"], extra.map((c) => c.name));
    const lines = [head.map(csvCell).join(",")];
    for (const i of selectedIndices()) {
      const row = [D.hash[i], D.name[i], D.sample[i], D.pixel_size_um[i]].concat(D.patch ? [D.patch[i]] : [], [D.x[i], D.y[i]], extra.map((c) => valueOf(c, i)));
      lines.push(row.map(csvCell).join(","));
    }
    return lines.join("\n") + "\n";
  }
  function downloadSelection() {
    const blob = new Blob([selectionCSV()], { type: "text/csv" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = "semlab-map-selection.csv";
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }

  // ---------------------------------------------------------------- events
  function pos(ev) { const r = canvas.getBoundingClientRect(); return [ev.clientX - r.left, ev.clientY - r.top]; }
  function setMode(mode) {
    state.mode = mode;
    document.querySelectorAll("button.mode").forEach((b) => b.classList.toggle("active", b.dataset.mode === mode));
    canvas.classList.toggle("select", mode !== "pan");
  }
  canvas.addEventListener("pointerdown", (ev) => {
    if (ev.button !== 0) return;
    const [x, y] = pos(ev);
    const kind = state.mode === "pan" && ev.shiftKey ? "box" : state.mode;
    drag = { kind, x0: x, y0: y, x1: x, y1: y, lx: x, ly: y, moved: false, path: [[x, y]] };
    canvas.setPointerCapture(ev.pointerId);
  });
  canvas.addEventListener("pointermove", (ev) => {
    const [x, y] = pos(ev);
    if (!drag) {
      const i = pick(x, y);
      if (i !== state.hover) { state.hover = i; requestRender(); }
      showTooltip(i, x, y);
      return;
    }
    if (Math.abs(x - drag.x0) + Math.abs(y - drag.y0) > 3) drag.moved = true;
    if (drag.kind === "pan") {
      state.view.cx -= (x - drag.lx) / state.view.scale; state.view.cy -= (y - drag.ly) / state.view.scale;
      drag.lx = x; drag.ly = y;
      $("tooltip").hidden = true;
    } else if (drag.kind === "box") { drag.x1 = x; drag.y1 = y; } else drag.path.push([x, y]);
    requestRender();
  });
  canvas.addEventListener("pointerup", (ev) => {
    if (!drag) return;
    const [x, y] = pos(ev), d = drag;
    drag = null;
    if (!d.moved) {
      const i = pick(x, y);
      if (i >= 0) openDetail(i); else if (d.kind !== "pan") setSelection([]);
    } else if (d.kind === "box") selectBox(d.x0, d.y0, x, y);
    else if (d.kind === "lasso") { d.path.push([x, y]); selectLasso(d.path); }
    requestRender();
  });
  canvas.addEventListener("pointerleave", () => { if (!drag) { state.hover = -1; $("tooltip").hidden = true; requestRender(); } });
  canvas.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const [x, y] = pos(ev), [wx, wy] = toWorld(x, y);
    const f = Math.exp(-ev.deltaY * 0.0015);
    state.view.scale = Math.min(1e7, Math.max(20, state.view.scale * f));
    state.view.cx = wx - (x - W / 2) / state.view.scale; state.view.cy = wy - (y - H / 2) / state.view.scale;
    requestRender();
  }, { passive: false });
  document.querySelectorAll("button.mode").forEach((b) => b.addEventListener("click", () => setMode(b.dataset.mode)));
  $("reset-view").addEventListener("click", fit);
  $("show-thumbs").addEventListener("change", (ev) => { state.showThumbs = ev.target.checked; requestRender(); });
  $("export-csv").addEventListener("click", downloadSelection);
  $("clear-selection").addEventListener("click", () => setSelection([]));
  $("detail-close").addEventListener("click", closeDetail);
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") { closeDetail(); drag = null; requestRender(); } });
  const select = $("color-by");
  select.appendChild(new Option("(none)", ""));
  columns.forEach((c) => {
    select.appendChild(new Option((c.label || c.name) + (c.kind === "continuous" ? " ▮" : ""), c.name));
    if (c.numeric && c.levels) select.appendChild(new Option((c.label || c.name) + " (as categories)", c.name + CATS));
  });
  $("coordinates").textContent = D.coordinates || "";
  // Axis titles: the map's two coordinates have no unit; only distances between points mean something.
  const AXIS = { umap: "UMAP", pca: "PC", tsne: "t-SNE" }[String(D.method || "").toLowerCase()] || "map";
  $("axis-x").textContent = AXIS + " 1 (unitless) →";
  $("axis-y").textContent = AXIS + " 2 (unitless) →";
  select.addEventListener("change", () => setColorBy(select.value || null));
  const rangeCol = $("range-column");
  rangeCol.appendChild(new Option("(none)", ""));
  columns.filter((c) => c.numeric).forEach((c) => rangeCol.appendChild(new Option(c.label || c.name, c.name)));
  const num = (s) => (s === "" || s == null || isNaN(+s) ? null : +s);
  function readFilterInputs() {
    filter.text = $("search").value;
    filter.column = rangeCol.value || null;
    filter.min = num($("range-min").value); filter.max = num($("range-max").value);
    const c = filter.column ? byName[filter.column] : null;
    $("range-min").placeholder = c ? "min " + fmt(c.min) : "min";
    $("range-max").placeholder = c ? "max " + fmt(c.max) : "max";
    applyFilter(); requestRender();
  }
  ["search", "range-min", "range-max"].forEach((id) => $(id).addEventListener("input", readFilterInputs));
  rangeCol.addEventListener("change", readFilterInputs);
  if (typeof ResizeObserver !== "undefined") new ResizeObserver(resize).observe(stage);
  window.addEventListener("resize", resize);

  // ---------------------------------------------------------------- start, and a small API for tests and benchmarks
  resize();
  fit();
  const initial = D.colorBy && byName[D.colorBy] ? D.colorBy : null;
  setColorBy(initial);

  window.semlabMap = {
    /** Counts of the last frame: points visible (after filters), drawn as dots and as thumbnails. */
    state: () => {
      // With WebGL the points in view are counted here, not in every frame.
      const lazy = state.stats.dots < 0 ? countVisible(Infinity) : -1;
      const visible = lazy >= 0 ? lazy : state.stats.visible, dots = lazy >= 0 ? lazy : state.stats.dots;
      return {
      n, visible, drawnDots: dots, drawnThumbs: state.stats.thumbs, renderer: GL ? "webgl" : "canvas2d",
      glRenderer: glProbe, atlas: !!atlas,
      drawn: dots + state.stats.thumbs, drawnLarge: state.stats.large || 0, thumbnailsPending: pending, mode: state.mode,
      colorBy: state.colorBy, asCategories: state.asCategories, coordinates: $("coordinates").textContent, legend: $("legend").textContent, shown: state.nPass, selected: state.nSelected,
      frames: state.stats.frames, lastFrameMs: state.stats.ms, firstRenderMs: state.firstRenderMs,
      view: Object.assign({}, state.view), width: W, height: H, detailOpen: !$("detail").hidden,
      detailIndex: $("detail").hidden ? -1 : +$("detail").dataset.index, hover: state.hover,
      };
    },
    columns: () => columns.map((c) => ({ name: c.name, kind: c.kind, numeric: c.numeric })),
    setColorBy, setFilter, setMode, fit,
    /** Page (client) coordinates of point i. */
    screenPosition: (i) => { const r = canvas.getBoundingClientRect(); return { x: r.left + sx(i), y: r.top + sy(i) }; },
    setView: (cx, cy, scale) => { state.view = { cx, cy, scale }; requestRender(); },
    /** Centre the view on point i (optionally at a new scale, pixels per map width). */
    centerOn: (i, scale) => { state.view = { cx: X[i], cy: Y[i], scale: scale || state.view.scale }; requestRender(); },
    panBy: (dx, dy) => { state.view.cx -= dx / state.view.scale; state.view.cy -= dy / state.view.scale; },
    zoomBy: (f) => { state.view.scale *= f; requestRender(); },
    render,
    /** Render and wait until the pixels are there (WebGL: gl.finish and a 1-pixel read), for timing. */
    renderSync: () => {
      const ms = render();
      if (GL) { GL.gl.readPixels(0, 0, 1, 1, GL.gl.RGBA, GL.gl.UNSIGNED_BYTE, new Uint8Array(4)); }
      try { ctx.getImageData(0, 0, 1, 1); } catch (e) { /* a file:// page's canvas with pictures cannot be read */ }
      return ms;
    },
    /** Index of the point under page position (x, y) relative to the canvas, or -1. */
    pick,
    select: setSelection,
    selected: selectedIndices,
    selectionCSV,
    downloadSelection,
    openDetail,
    frameTimes: () => state.frameTimes.slice(),
  };
})();
