// sluis workstation: login, worklist, a 16-bit WebGL2 viewer, decisions. No framework, no
// third-party code, no inline script (the Content-Security-Policy forbids it).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { csrf: null, scans: [], selected: -1, image: null, wl: { center: 32768, width: 65535 }, view: { scale: 1, ox: 0, oy: 0 }, timing: {} };
window.sluisTiming = state.timing; // read by the browser tests and the benchmark

async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && state.csrf) headers["x-csrf-token"] = state.csrf;
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
  return r;
}

async function login(ev) {
  ev.preventDefault();
  const r = await api("POST", "/api/login", { name: $("name").value, password: $("password").value });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) { $("login-error").textContent = body.error || `login failed (${r.status})`; return; }
  $("password").value = "";
  enter(body);
}

function enter(me) {
  state.csrf = me.csrf;
  $("who").textContent = `${me.name} (${me.role})`;
  $("login").hidden = true;
  $("logout").hidden = false;
  // Each role sees its own pages: analysts the desk, auditors the log, administrators accounts.
  if (me.role === "auditor") { $("audit-page").hidden = false; loadAudit(); return; }
  if (me.role === "administrator") { $("admin-page").hidden = false; loadUsers(); return; }
  $("desk").hidden = false;
  loadWorklist();
}

async function loadAudit() {
  const r = await api("GET", "/api/audit");
  const body = await r.json().catch(() => ({}));
  if (!r.ok) { $("audit-status").textContent = body.error || `audit: ${r.status}`; return; }
  const v = body.verification;
  $("audit-status").className = v.verified ? "ok" : "bad";
  $("audit-status").textContent = v.verified
    ? `verified: all ${v.entries} entries and ${v.tiles} tiles recomputed against the signed checkpoint; ${body.witness_cosignatures} witness cosignature(s)`
    : `VERIFICATION FAILED: ${v.error}`;
  $("checkpoint").textContent = body.checkpoint;
}

async function loadUsers() {
  const r = await api("GET", "/api/users");
  const body = await r.json().catch(() => ({ users: [] }));
  const tbody = $("users").querySelector("tbody");
  tbody.replaceChildren(...(body.users || []).map((u) => {
    const tr = document.createElement("tr");
    for (const t of [u.name, u.role, u.disabled ? "disabled" : "active"]) { const td = document.createElement("td"); td.textContent = t; tr.append(td); }
    const td = document.createElement("td");
    if (!u.disabled) {
      const b = document.createElement("button");
      b.textContent = "Disable";
      b.addEventListener("click", async () => { await api("POST", `/api/users/${encodeURIComponent(u.name)}/disable`); loadUsers(); });
      td.append(b);
    }
    tr.append(td);
    return tr;
  }));
}

async function loadWorklist() {
  const r = await api("GET", `/api/scans?decision=${encodeURIComponent($("filter").value)}`);
  if (!r.ok) { $("worklist").textContent = `worklist: ${r.status}`; return; }
  const body = await r.json();
  state.scans = body.scans;
  const ol = $("worklist");
  ol.replaceChildren(...state.scans.map((s, i) => {
    const li = document.createElement("li");
    const what = (s.containers && s.containers.length ? s.containers.join(",") : s.conveyance) || s.id.slice(0, 12);
    li.textContent = `${s.stored_at.slice(0, 16).replace("T", " ")}  ${what}  ${s.station || ""}`;
    li.dataset.id = s.id;
    li.setAttribute("aria-selected", "false");
    li.addEventListener("click", () => { select(i); open(); });
    return li;
  }));
  select(state.scans.length ? 0 : -1);
}

function select(i) {
  state.selected = i;
  [...$("worklist").children].forEach((li, j) => li.setAttribute("aria-selected", String(i === j)));
}

document.addEventListener("keydown", (e) => {
  if ($("desk").hidden || e.target instanceof HTMLInputElement) return;
  if (e.key === "j") select(Math.min(state.selected + 1, state.scans.length - 1));
  else if (e.key === "k") select(Math.max(state.selected - 1, 0));
  else if (e.key === "Enter") open();
});

// ---- WebGL2 viewer ----------------------------------------------------------------------------

const VERT = `#version 300 es
in vec2 pos; out vec2 uv;
void main() { uv = vec2((pos.x + 1.0) * 0.5, (1.0 - pos.y) * 0.5); gl_Position = vec4(pos, 0.0, 1.0); }`;
const FRAG = `#version 300 es
precision highp float; precision highp usampler2D;
uniform usampler2D grey; uniform usampler2D zeff;
uniform float center; uniform float width; uniform bool invert; uniform bool material;
uniform vec2 zrescale; uniform float full;
uniform vec2 offset; uniform float scale; uniform bool edges;
in vec2 uv; out vec4 color;
void main() {
  ivec2 size = textureSize(grey, 0);
  // Zoom and pan: the canvas shows the image from \`offset\` at \`scale\` canvas pixels per pixel.
  ivec2 p = clamp(ivec2(offset + uv * vec2(size) / scale), ivec2(0), size - 1);
  float v = float(texelFetch(grey, p, 0).r);
  if (edges) {
    // Unsharp mask over the four neighbours: edges of thin objects stand out.
    float n = float(texelFetch(grey, clamp(p + ivec2(1, 0), ivec2(0), size - 1), 0).r)
            + float(texelFetch(grey, clamp(p - ivec2(1, 0), ivec2(0), size - 1), 0).r)
            + float(texelFetch(grey, clamp(p + ivec2(0, 1), ivec2(0), size - 1), 0).r)
            + float(texelFetch(grey, clamp(p - ivec2(0, 1), ivec2(0), size - 1), 0).r);
    v = clamp(v + 2.0 * (v - n * 0.25), 0.0, full);
  }
  float g = clamp((v - (center - width * 0.5)) / max(width, 1.0), 0.0, 1.0);
  if (invert) g = 1.0 - g;
  vec3 c = vec3(g);
  if (material) {
    // As sluis-scan's renderer: no colour where too little is absorbed to tell (air) or too
    // much to see through; otherwise the class hue, shaded by transmission and whitened near air.
    float t = v / full;
    float z = float(texelFetch(zeff, p, 0).r) * zrescale.x + zrescale.y;
    if (t > 0.951 || z <= 0.0) { c = vec3(g); }
    else if (t < 0.000335) { c = vec3(0.0); }
    else {
      vec3 hue = z < 10.0 ? vec3(0.93, 0.55, 0.13) : (z < 20.0 ? vec3(0.25, 0.70, 0.25) : vec3(0.20, 0.40, 0.90));
      float white = pow(g, 4.0);
      c = hue * (0.15 + 0.85 * g) * (1.0 - white) + vec3(white);
    }
  }
  color = vec4(c, 1.0);
}`;

const canvas = $("view");
const gl = canvas.getContext("webgl2", { preserveDrawingBuffer: true });
let program = null;

function setupGl() {
  const sh = (type, src) => { const s = gl.createShader(type); gl.shaderSource(s, src); gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s)); return s; };
  program = gl.createProgram();
  gl.attachShader(program, sh(gl.VERTEX_SHADER, VERT));
  gl.attachShader(program, sh(gl.FRAGMENT_SHADER, FRAG));
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(program));
  gl.useProgram(program);
  const buf = gl.createBuffer();
  gl.bindBuffer(gl.ARRAY_BUFFER, buf);
  gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
  const loc = gl.getAttribLocation(program, "pos");
  gl.enableVertexAttribArray(loc);
  gl.vertexAttribPointer(loc, 2, gl.FLOAT, false, 0, 0);
}

function texture(unit, data, cols, rows) {
  const t = gl.createTexture();
  gl.activeTexture(gl.TEXTURE0 + unit);
  gl.bindTexture(gl.TEXTURE_2D, t);
  gl.pixelStorei(gl.UNPACK_ALIGNMENT, 2);
  gl.texImage2D(gl.TEXTURE_2D, 0, gl.R16UI, cols, rows, 0, gl.RED_INTEGER, gl.UNSIGNED_SHORT, data);
  for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_2D, p, gl.NEAREST);
  for (const p of [gl.TEXTURE_WRAP_S, gl.TEXTURE_WRAP_T]) gl.texParameteri(gl.TEXTURE_2D, p, gl.CLAMP_TO_EDGE);
  return t;
}

function draw() {
  const img = state.image;
  if (!img) return;
  const t0 = performance.now();
  gl.viewport(0, 0, canvas.width, canvas.height);
  gl.uniform1i(gl.getUniformLocation(program, "grey"), 0);
  gl.uniform1i(gl.getUniformLocation(program, "zeff"), 1);
  gl.uniform1f(gl.getUniformLocation(program, "center"), state.wl.center);
  gl.uniform1f(gl.getUniformLocation(program, "width"), state.wl.width);
  gl.uniform1i(gl.getUniformLocation(program, "invert"), $("invert").checked ? 1 : 0);
  gl.uniform1i(gl.getUniformLocation(program, "material"), $("material").checked && img.zeff ? 1 : 0);
  gl.uniform2f(gl.getUniformLocation(program, "zrescale"), img.zSlope, img.zIntercept);
  gl.uniform1f(gl.getUniformLocation(program, "full"), img.full);
  gl.uniform2f(gl.getUniformLocation(program, "offset"), state.view.ox, state.view.oy);
  gl.uniform1f(gl.getUniformLocation(program, "scale"), state.view.scale);
  gl.uniform1i(gl.getUniformLocation(program, "edges"), $("edges").checked ? 1 : 0);
  gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
  // Wait for the GPU so the figure is the redraw, not the queueing of it.
  const px = new Uint8Array(4);
  gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
  state.timing.lastRedrawMs = performance.now() - t0;
  $("wl").textContent = `W ${Math.round(state.wl.width)} / L ${Math.round(state.wl.center)}  (${state.timing.lastRedrawMs.toFixed(1)} ms)`;
}

async function fetchChannel(id, n) {
  const r = await api("GET", `/api/scans/${id}/channels/${n}`);
  if (!r.ok) throw new Error(`channel ${n}: ${r.status}`);
  return { data: new Uint16Array(await r.arrayBuffer()), record: r.headers.get("x-audit-record") };
}

async function open() {
  const s = state.scans[state.selected];
  if (!s) return;
  const t0 = performance.now();
  // One logged read brings every channel; the header describes them.
  const r = await api("GET", `/api/scans/${s.id}/image`);
  if (!r.ok) { $("audit").textContent = `open: ${r.status}`; return; }
  const meta = JSON.parse(r.headers.get("x-image"));
  const all = new Uint16Array(await r.arrayBuffer());
  const frame = meta.columns * meta.rows;
  const channel = (c) => ({ data: all.subarray(c.index * frame, (c.index + 1) * frame), record: meta.audit_record });
  const max = gl.getParameter(gl.MAX_TEXTURE_SIZE);
  if (meta.columns > max || meta.rows > max) { $("audit").textContent = `image larger than this GPU's ${max}px texture limit`; return; }
  const gc = meta.channels.find((c) => c.kind === "HighEnergy") || meta.channels[0];
  const zc = meta.channels.find((c) => c.kind === "ZEffective");
  const grey = channel(gc);
  const zeff = zc ? channel(zc) : null;
  texture(0, grey.data, meta.columns, meta.rows);
  if (zeff) texture(1, zeff.data, meta.columns, meta.rows); else texture(1, new Uint16Array(meta.columns * meta.rows), meta.columns, meta.rows);
  let lo = 65535, hi = 0;
  for (let i = 0; i < grey.data.length; i += 7) { const v = grey.data[i]; if (v < lo) lo = v; if (v > hi) hi = v; }
  state.image = { id: s.id, cols: meta.columns, rows: meta.rows, grey: grey.data, zeff: zeff && zeff.data,
    zSlope: zc && zc.rescale ? zc.rescale.slope : 1, zIntercept: zc && zc.rescale ? zc.rescale.intercept : 0, lo, hi,
    full: Math.pow(2, meta.bits_stored || 16) - 1 };
  state.wl = { center: (lo + hi) / 2, width: Math.max(hi - lo, 1) };
  state.view = { scale: 1, ox: 0, oy: 0 };
  canvas.width = meta.columns;
  canvas.height = meta.rows;
  $("material").disabled = !zeff;
  draw();
  state.timing.openMs = performance.now() - t0;
  $("audit").textContent = `read logged as audit record ${meta.audit_record}; ${meta.columns} x ${meta.rows}, 16-bit, opened in ${state.timing.openMs.toFixed(0)} ms`;
  $("decision-status").textContent = "";
  canvas.dataset.loaded = s.id;
}

const presets = () => {
  const img = state.image; if (!img) return null;
  const span = img.hi - img.lo;
  return { full: { center: (img.lo + img.hi) / 2, width: span }, dense: { center: img.lo + span * 0.2, width: span * 0.4 }, light: { center: img.lo + span * 0.75, width: span * 0.5 } };
};
$("preset").addEventListener("change", () => { const p = presets(); if (p) { state.wl = { ...p[$("preset").value] }; draw(); } });
$("invert").addEventListener("change", draw);
$("material").addEventListener("change", draw);

let drag = null;
canvas.addEventListener("mousedown", (e) => { drag = { x: e.clientX, y: e.clientY, wl: { ...state.wl }, view: { ...state.view }, pan: e.shiftKey }; });

// Canvas position -> image pixel, through zoom and pan.
function imagePoint(e, rect) {
  const img = state.image;
  const cx = (e.clientX - rect.left) / rect.width * img.cols, cy = (e.clientY - rect.top) / rect.height * img.rows;
  return [Math.floor(state.view.ox + cx / state.view.scale), Math.floor(state.view.oy + cy / state.view.scale)];
}
function clampOffset(o, n) { return Math.max(0, Math.min(o, n - n / state.view.scale)); }

// The wheel zooms about the cursor, from the whole image to 32 screen pixels per image pixel.
canvas.addEventListener("wheel", (e) => {
  const img = state.image; if (!img) return;
  e.preventDefault();
  const rect = canvas.getBoundingClientRect();
  const [px, py] = imagePoint(e, rect);
  const scale = Math.max(1, Math.min(32, state.view.scale * (e.deltaY < 0 ? 1.25 : 0.8)));
  const cx = (e.clientX - rect.left) / rect.width * img.cols, cy = (e.clientY - rect.top) / rect.height * img.rows;
  state.view.scale = scale;
  state.view.ox = clampOffset(px - cx / scale, img.cols);
  state.view.oy = clampOffset(py - cy / scale, img.rows);
  $("zoom").textContent = `zoom ${scale.toFixed(2)}x`;
  draw();
}, { passive: false });
$("edges").addEventListener("change", draw);
window.addEventListener("mouseup", () => { drag = null; });
canvas.addEventListener("mousemove", (e) => {
  const img = state.image; if (!img) return;
  const rect = canvas.getBoundingClientRect();
  const [x, y] = imagePoint(e, rect);
  if (x >= 0 && y >= 0 && x < img.cols && y < img.rows) {
    const v = img.grey[y * img.cols + x];
    let cls = "";
    if (img.zeff) { const z = img.zeff[y * img.cols + x] * img.zSlope + img.zIntercept; cls = z <= 0 ? " unknown" : z < 10 ? " organic" : z < 20 ? " inorganic" : " metal"; cls += ` (Z ${z.toFixed(1)})`; }
    $("readout").textContent = `x ${x} y ${y}: ${v}${cls}`;
  }
  if (drag && drag.pan) {
    // Shift-drag pans, in image pixels.
    const k = img.cols / rect.width / state.view.scale;
    state.view.ox = clampOffset(drag.view.ox - (e.clientX - drag.x) * k, img.cols);
    state.view.oy = clampOffset(drag.view.oy - (e.clientY - drag.y) * k * (img.rows / img.cols) * (rect.width / rect.height), img.rows);
    draw();
  } else if (drag) {
    const span = img.hi - img.lo || 1;
    state.wl = { center: drag.wl.center + (e.clientY - drag.y) * span / 500, width: Math.max(1, drag.wl.width + (e.clientX - drag.x) * span / 500) };
    draw();
  }
});

$("decide").addEventListener("click", async (e) => {
  const d = e.target.dataset && e.target.dataset.decision;
  if (!d || !state.image) return;
  const r = await api("POST", `/api/scans/${state.image.id}/decision`, { decision: d });
  const body = await r.json().catch(() => ({}));
  $("decision-status").textContent = r.ok ? `${body.decision}: kept and logged` : `refused: ${body.error || r.status}`;
  if (r.ok) loadWorklist();
});

$("filter").addEventListener("change", loadWorklist);
$("login").addEventListener("submit", login);
$("logout").addEventListener("click", async () => { await api("POST", "/api/logout"); location.reload(); });

(async () => {
  if (!gl) { $("login-error").textContent = "this browser has no WebGL2"; return; }
  setupGl();
  const r = await api("GET", "/api/me");
  if (r.ok) enter(await r.json());
})();
