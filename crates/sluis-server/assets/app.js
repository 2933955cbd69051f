// sluis workstation: login, worklist, a 16-bit WebGL2 viewer with overlays, annotations and a
// side-by-side comparison, decisions with referral and review, exports, the auditor's and the
// administrator's pages. No framework, no third-party code, no inline script (the
// Content-Security-Policy forbids it).
"use strict";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const state = {
  me: null, csrf: null, scans: [], selected: -1, current: null,
  wl: { center: 32768, width: 65535 }, view: { scale: 1, ox: 0, oy: 0 },
  reports: [], annotations: [], timing: {},
};
window.sluisTiming = state.timing; // read by the browser tests and the benchmark

async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && state.csrf) headers["x-csrf-token"] = state.csrf;
  return fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
}
const json = async (r) => r.json().catch(() => ({}));
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
const row = (cells) => { const tr = el("tr"); for (const c of cells) { const td = el("td"); if (c instanceof Node) td.append(c); else td.textContent = c ?? ""; tr.append(td); } return tr; };
const when = (secs) => new Date(secs * 1000).toISOString().slice(0, 16).replace("T", " ");

async function login(ev) {
  ev.preventDefault();
  const r = await api("POST", "/api/login", { name: $("name").value, password: $("password").value });
  const body = await json(r);
  if (!r.ok) { $("login-error").textContent = body.error || `login failed (${r.status})`; return; }
  $("password").value = "";
  enter(body);
}

function enter(me) {
  state.me = me;
  state.csrf = me.csrf;
  $("who").textContent = `${me.name} (${me.role})`;
  $("login").hidden = true;
  $("logout").hidden = false;
  // Each role sees its own pages: analysts the desk, auditors the log, administrators accounts.
  if (me.role === "auditor") { $("audit-page").hidden = false; loadAudit(); searchAudit(); return; }
  if (me.role === "administrator") { $("admin-page").hidden = false; loadUsers(); loadScanners(); return; }
  $("desk").hidden = false;
  loadPurposes();
  const supervisor = me.role === "supervisor";
  // A supervisor starts with the referred scans; only a supervisor exports.
  if (supervisor) $("filter").value = "refer";
  $("export").hidden = !supervisor;
  $("refer").hidden = supervisor;
  loadWorklist();
}

// ---- auditor ----------------------------------------------------------------------------------

async function loadAudit() {
  const r = await api("GET", "/api/audit");
  const body = await json(r);
  if (!r.ok) { $("audit-status").textContent = body.error || `audit: ${r.status}`; return; }
  const v = body.verification;
  $("audit-status").className = v.verified ? "ok" : "bad";
  $("audit-status").textContent = v.verified
    ? `verified: all ${v.entries} entries and ${v.tiles} tiles recomputed against the signed checkpoint (signature ${body.checkpoint_signature}); ${body.witness_cosignatures} witness cosignature(s)`
    : `VERIFICATION FAILED: ${v.error}`;
  $("checkpoint").textContent = body.checkpoint;
  const tbody = $("witnesses").querySelector("tbody");
  tbody.replaceChildren(...(body.witnesses.length ? body.witnesses.map((w) => row([w.name, w.url, !w.key_valid ? "key unreadable" : w.cosigned_latest ? "cosigned the latest checkpoint" : "not on the latest checkpoint"]))
    : [row(["no witness configured (vault.toml [[witnesses]])", "", ""])]));
}

async function searchAudit(ev, before) {
  if (ev) ev.preventDefault();
  const q = new URLSearchParams();
  for (const k of ["object", "actor", "action"]) { const v = $(`audit-${k}`).value.trim(); if (v) q.set(k, v); }
  if (before !== undefined) q.set("before", before);
  q.set("limit", "50");
  const r = await api("GET", `/api/audit/records?${q}`);
  const body = await json(r);
  const tbody = $("audit-records").querySelector("tbody");
  if (!r.ok) { $("audit-more").hidden = true; tbody.replaceChildren(row([body.error || r.status])); return; }
  const rows = body.records.map((x) => row([x.index, x.time.slice(0, 19).replace("T", " "), x.action, x.account ? `${x.account} (${x.actor})` : x.actor, x.object, x.outcome, x.purpose || x.detail || ""]));
  if (before === undefined) tbody.replaceChildren(...rows); else tbody.append(...rows);
  $("audit-more").hidden = !body.next_before;
  $("audit-more").onclick = () => searchAudit(null, body.next_before);
}

// ---- administrator ----------------------------------------------------------------------------

async function loadUsers() {
  const r = await api("GET", "/api/users");
  const body = await json(r);
  const roles = ["analyst", "supervisor", "auditor", "administrator"];
  const act = async (method, path, payload) => {
    const r = await api(method, path, payload);
    const b = await json(r);
    $("users-status").textContent = r.ok ? `${b.name}: ${b.change}${b.audit_record != null ? ` (logged as audit record ${b.audit_record})` : ""}` : `refused: ${b.error || r.status}`;
    loadUsers();
  };
  $("users").querySelector("tbody").replaceChildren(...(body.users || []).map((u) => {
    const role = el("select");
    role.setAttribute("aria-label", `role of ${u.name}`);
    role.append(...roles.map((x) => { const o = el("option", x); o.selected = x === u.role; return o; }));
    role.addEventListener("change", () => act("POST", `/api/users/${encodeURIComponent(u.name)}/role`, { role: role.value }));
    const toggle = el("button", u.disabled || u.locked_until ? "Enable" : "Disable");
    toggle.addEventListener("click", () => act("POST", `/api/users/${encodeURIComponent(u.name)}/${u.disabled || u.locked_until ? "enable" : "disable"}`));
    return row([u.name, role, u.disabled ? "disabled" : u.locked_until ? `locked until ${when(u.locked_until)}` : "active", u.last_login ? when(u.last_login) : "never", toggle]);
  }));
}

$("user-add").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const r = await api("POST", "/api/users", { name: $("new-name").value.trim(), role: $("new-role").value, password: $("new-password").value });
  const b = await json(r);
  $("users-status").textContent = r.ok ? `${b.name}: ${b.change} (logged as audit record ${b.audit_record})` : `refused: ${b.error || r.status}`;
  if (r.ok) { $("new-name").value = ""; $("new-password").value = ""; loadUsers(); }
});

async function loadScanners() {
  const r = await api("GET", "/api/scanners");
  const body = await json(r);
  $("scanners").querySelector("tbody").replaceChildren(...(body.scanners || []).map((s) =>
    row([s.station, [s.manufacturer, s.model].filter(Boolean).join(" "), s.serial, s.scans, s.waiting, s.last.slice(0, 16).replace("T", " ")])));
}

// ---- worklist ---------------------------------------------------------------------------------

async function loadWorklist() {
  const q = new URLSearchParams({ decision: $("filter").value });
  if ($("search").value.trim()) q.set("identifier", $("search").value.trim());
  if ($("scanner").value.trim()) q.set("scanner", $("scanner").value.trim());
  // Stored on or after the first day, before the day after the last (UTC days).
  if ($("from").value) q.set("from", $("from").value);
  if ($("until").value) { const d = new Date(`${$("until").value}T00:00:00Z`); d.setUTCDate(d.getUTCDate() + 1); q.set("until", d.toISOString().slice(0, 10)); }
  const r = await api("GET", `/api/scans?${q}`);
  if (!r.ok) { $("worklist").textContent = `worklist: ${r.status}`; return; }
  const body = await r.json();
  state.scans = body.scans;
  $("worklist").replaceChildren(...state.scans.map((s, i) => {
    const what = (s.containers && s.containers.length ? s.containers.join(",") : s.conveyance) || s.id.slice(0, 12);
    const li = el("li", `${s.stored_at.slice(0, 16).replace("T", " ")}  ${what}  ${s.station || ""}`);
    li.dataset.id = s.id;
    li.setAttribute("aria-selected", "false");
    li.addEventListener("click", () => { select(i); open(); });
    return li;
  }));
  $("worklist-count").textContent = `${state.scans.length}${state.scans.length >= 100 ? "+" : ""}`;
  select(state.scans.length ? 0 : -1);
}

function select(i) {
  state.selected = i;
  [...$("worklist").children].forEach((li, j) => li.setAttribute("aria-selected", String(i === j)));
  const li = $("worklist").children[i];
  if (li) li.scrollIntoView({ block: "nearest" });
}

document.addEventListener("keydown", (e) => {
  // Typing into a field is not a shortcut; a focused checkbox or button does not take the keys.
  const t = e.target;
  if ($("desk").hidden || (t instanceof HTMLInputElement && !["checkbox", "button"].includes(t.type)) || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement) return;
  if (e.key === "j" || e.key === "ArrowDown") select(Math.min(state.selected + 1, state.scans.length - 1));
  else if (e.key === "k" || e.key === "ArrowUp") select(Math.max(state.selected - 1, 0));
  else if (e.key === "Enter") open();
  else if (e.key === "i") { $("invert").checked = !$("invert").checked; drawAll(); }
  else if (e.key === "m" && !$("material").disabled) { $("material").checked = !$("material").checked; drawAll(); }
  else if (e.key === "e") { $("edges").checked = !$("edges").checked; drawAll(); }
  else if (e.key === "a") { $("annotate").checked = !$("annotate").checked; }
  else if (e.key === "0") { state.view = { scale: 1, ox: 0, oy: 0 }; drawAll(); }
});

// ---- WebGL2 viewer ----------------------------------------------------------------------------
//
// The image is uploaded once as 16-bit integer textures (R16UI: the samples as stored, no 8-bit
// reduction), cut into tiles when it is larger than the GPU's texture limit; every redraw maps
// each canvas pixel to an image pixel (zoom and pan), applies the window, and colours by material.
// The canvas is as large as it is on screen (times the device pixel ratio), so a redraw costs
// what the screen shows, not what the image holds; zoom brings every image pixel to the screen.

const VERT = `#version 300 es
in vec2 pos;
void main() { gl_Position = vec4(pos, 0.0, 1.0); }`;
const FRAG = `#version 300 es
precision highp float; precision highp int; precision highp usampler2D;
uniform usampler2D grey; uniform usampler2D zeff;
uniform float center; uniform float width; uniform bool invert;
uniform vec2 zrescale; uniform float full;
uniform vec2 origin;    // the tile's top-left, image pixels
uniform vec2 offset;    // the image pixel at the canvas's top-left
uniform float pxScale;  // canvas pixels per image pixel
uniform float canvasH;
out vec4 color;
void main() {
  vec2 c = vec2(gl_FragCoord.x, canvasH - gl_FragCoord.y);
  ivec2 size = textureSize(grey, 0);
  ivec2 p = ivec2(floor(offset + c / pxScale - origin));
  if (p.x < 0 || p.y < 0 || p.x >= size.x || p.y >= size.y) discard;
  float v = float(texelFetch(grey, p, 0).r);
#ifdef EDGES
  {
    // Unsharp mask over the four neighbours: edges of thin objects stand out.
    float n = float(texelFetch(grey, clamp(p + ivec2(1, 0), ivec2(0), size - 1), 0).r)
            + float(texelFetch(grey, clamp(p - ivec2(1, 0), ivec2(0), size - 1), 0).r)
            + float(texelFetch(grey, clamp(p + ivec2(0, 1), ivec2(0), size - 1), 0).r)
            + float(texelFetch(grey, clamp(p - ivec2(0, 1), ivec2(0), size - 1), 0).r);
    v = clamp(v + 2.0 * (v - n * 0.25), 0.0, full);
  }
#endif
  float g = clamp((v - (center - width * 0.5)) / max(width, 1.0), 0.0, 1.0);
  if (invert) g = 1.0 - g;
  vec3 col = vec3(g);
#ifdef MATERIAL
  {
    // As sluis-scan's renderer: no colour where too little is absorbed to tell (air) or too
    // much to see through; otherwise the class hue (orange organic, green inorganic, blue
    // metal), shaded by transmission and whitened near air.
    float t = v / full;
    float z = float(texelFetch(zeff, p, 0).r) * zrescale.x + zrescale.y;
    if (t > 0.951 || z <= 0.0) { col = vec3(g); }
    else if (t < 0.000335) { col = vec3(0.0); }
    else {
      vec3 hue = z < 10.0 ? vec3(0.93, 0.55, 0.13) : (z < 20.0 ? vec3(0.25, 0.70, 0.25) : vec3(0.20, 0.40, 0.90));
      float white = pow(g, 4.0);
      col = hue * (0.15 + 0.85 * g) * (1.0 - white) + vec3(white);
    }
  }
#endif
  color = vec4(col, 1.0);
}`;

class Viewer {
  constructor(canvas, overlay) {
    this.canvas = canvas;
    this.overlay = overlay;
    this.gl = canvas.getContext("webgl2", { preserveDrawingBuffer: false, antialias: false });
    this.image = null;
    if (!this.gl) return;
    const gl = this.gl;
    const sh = (type, src) => { const s = gl.createShader(type); gl.shaderSource(s, src); gl.compileShader(s);
      if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s)); return s; };
    // One program per combination of edge enhancement and material colour, made once: a
    // software rasteriser (no GPU) shades both sides of a branch, so each frame runs only the
    // code it needs.
    const vert = sh(gl.VERTEX_SHADER, VERT);
    this.programs = {};
    for (const key of ["", "E", "M", "EM"]) {
      const defs = (key.includes("E") ? "#define EDGES\n" : "") + (key.includes("M") ? "#define MATERIAL\n" : "");
      const p = gl.createProgram();
      gl.attachShader(p, vert);
      gl.attachShader(p, sh(gl.FRAGMENT_SHADER, FRAG.replace("\n", `\n${defs}`)));
      gl.bindAttribLocation(p, 0, "pos");
      gl.linkProgram(p);
      if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(p));
      const u = {};
      for (const n of ["grey", "zeff", "center", "width", "invert", "zrescale", "full", "origin", "offset", "pxScale", "canvasH"]) u[n] = gl.getUniformLocation(p, n);
      this.programs[key] = { p, u };
    }
    gl.bindBuffer(gl.ARRAY_BUFFER, gl.createBuffer());
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
    gl.enableVertexAttribArray(0);
    gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
    // The texture limit; a test may lower it to exercise tiling on any GPU.
    this.maxTexture = Math.min(gl.getParameter(gl.MAX_TEXTURE_SIZE), Number(params.get("maxTexture")) || Infinity);
  }

  texture(data, cols, x, y, w, h) {
    const gl = this.gl;
    const t = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, t);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 2);
    // A tile is a window of the whole image: no copy, the unpack parameters pick it out.
    gl.pixelStorei(gl.UNPACK_ROW_LENGTH, cols);
    gl.pixelStorei(gl.UNPACK_SKIP_PIXELS, x);
    gl.pixelStorei(gl.UNPACK_SKIP_ROWS, y);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.R16UI, w, h, 0, gl.RED_INTEGER, gl.UNSIGNED_SHORT, data);
    for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_2D, p, gl.NEAREST);
    for (const p of [gl.TEXTURE_WRAP_S, gl.TEXTURE_WRAP_T]) gl.texParameteri(gl.TEXTURE_2D, p, gl.CLAMP_TO_EDGE);
    return t;
  }

  load(img) {
    const gl = this.gl;
    for (const t of (this.image ? this.image.tiles : [])) { gl.deleteTexture(t.grey); gl.deleteTexture(t.zeff); }
    const m = this.maxTexture;
    const zero = img.zeff ? null : new Uint16Array(img.cols * img.rows);
    img.tiles = [];
    for (let y = 0; y < img.rows; y += m) {
      for (let x = 0; x < img.cols; x += m) {
        const w = Math.min(m, img.cols - x), h = Math.min(m, img.rows - y);
        img.tiles.push({ x, y, w, h, grey: this.texture(img.grey, img.cols, x, y, w, h), zeff: this.texture(img.zeff || zero, img.cols, x, y, w, h) });
      }
    }
    for (const p of [gl.UNPACK_ROW_LENGTH, gl.UNPACK_SKIP_PIXELS, gl.UNPACK_SKIP_ROWS]) gl.pixelStorei(p, 0);
    this.image = img;
    this.canvas.dataset.tiles = String(img.tiles.length);
    this.resize();
  }

  // The canvas's drawing buffer follows its size on screen, with the image's aspect.
  resize() {
    const img = this.image; if (!img) return;
    const css = this.canvas.clientWidth || 1200;
    const w = Math.max(1, Math.round(css * (window.devicePixelRatio || 1)));
    const h = Math.max(1, Math.round(w * img.rows / img.cols));
    for (const c of [this.canvas, this.overlay]) { if (c.width !== w) c.width = w; if (c.height !== h) c.height = h; }
  }

  pxScale() { return this.canvas.width / this.image.cols * state.view.scale; }

  draw(sync) {
    const img = this.image, gl = this.gl;
    if (!img) return;
    const t0 = performance.now();
    const W = this.canvas.width, H = this.canvas.height, k = this.pxScale();
    gl.viewport(0, 0, W, H);
    gl.disable(gl.SCISSOR_TEST);
    gl.clearColor(0, 0, 0, 1);
    gl.clear(gl.COLOR_BUFFER_BIT);
    const { p, u } = this.programs[($("edges").checked ? "E" : "") + ($("material").checked && img.zeff ? "M" : "")];
    gl.useProgram(p);
    gl.uniform1i(u.grey, 0); gl.uniform1i(u.zeff, 1);
    gl.uniform1f(u.center, state.wl.center); gl.uniform1f(u.width, state.wl.width);
    gl.uniform1i(u.invert, $("invert").checked ? 1 : 0);
    gl.uniform2f(u.zrescale, img.zSlope, img.zIntercept);
    gl.uniform1f(u.full, img.full);
    gl.uniform2f(u.offset, state.view.ox, state.view.oy);
    gl.uniform1f(u.pxScale, k);
    gl.uniform1f(u.canvasH, H);
    gl.enable(gl.SCISSOR_TEST);
    for (const t of img.tiles) {
      // Only the canvas pixels this tile covers are shaded.
      const x0 = Math.max(0, Math.floor((t.x - state.view.ox) * k)), x1 = Math.min(W, Math.ceil((t.x + t.w - state.view.ox) * k));
      const y0 = Math.max(0, Math.floor((t.y - state.view.oy) * k)), y1 = Math.min(H, Math.ceil((t.y + t.h - state.view.oy) * k));
      if (x1 <= x0 || y1 <= y0) continue;
      gl.scissor(x0, H - y1, x1 - x0, y1 - y0);
      gl.activeTexture(gl.TEXTURE0); gl.bindTexture(gl.TEXTURE_2D, t.grey);
      gl.activeTexture(gl.TEXTURE1); gl.bindTexture(gl.TEXTURE_2D, t.zeff);
      gl.uniform2f(u.origin, t.x, t.y);
      gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    }
    // When measuring, wait for the GPU so the figure is the redraw, not the queueing of it.
    // Otherwise not: a synchronous read would stall every frame of a drag.
    if (sync || state.timing.measure) gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4));
    this.redrawMs = performance.now() - t0;
    // The overlay depends on the view, not on the window: a window/level change leaves it be.
    const key = `${state.view.scale} ${state.view.ox} ${state.view.oy} ${W} ${H} ${img.id}`;
    if (key !== this.overlayKey) this.drawOverlay();
  }

  // Threat regions and annotations, drawn over the image in image coordinates.
  drawOverlay(pending) {
    const img = this.image; if (!img) return;
    this.overlayKey = `${state.view.scale} ${state.view.ox} ${state.view.oy} ${this.canvas.width} ${this.canvas.height} ${img.id}`;
    const c = this.overlay.getContext("2d");
    c.clearRect(0, 0, this.overlay.width, this.overlay.height);
    const k = this.pxScale();
    const box = (x, y, w, h, colour, label, dashed) => {
      const sx = (x - state.view.ox) * k, sy = (y - state.view.oy) * k;
      c.setLineDash(dashed ? [6, 4] : []);
      c.strokeStyle = colour; c.lineWidth = 2;
      c.strokeRect(sx, sy, w * k, h * k);
      if (label) { c.font = "12px system-ui, sans-serif"; c.fillStyle = colour; c.fillText(label, sx + 2, Math.max(12, sy - 4)); }
    };
    if (img === state.current && $("overlays").checked) {
      for (const r of state.reports) {
        const truth = r.tdr_type === "GROUND_TRUTH";
        for (const t of r.threats) {
          if (!t.box) continue;
          const what = [t.category, t.description].filter(Boolean).join(": ");
          box(t.box[0], t.box[1], t.box[2], t.box[3], truth ? "#7ee787" : "#ff6b6b", `${truth ? "truth" : "ATD"} ${what}`, truth);
        }
      }
    }
    if (img === state.current) {
      for (const a of state.annotations) box(a.x, a.y, a.w, a.h, "#ffd33d", `${a.label}${a.shared ? "" : " (private)"}${a.owner !== state.me.name ? ` · ${a.owner}` : ""}`, false);
      if (pending) box(pending.x, pending.y, pending.w, pending.h, "#ffd33d", "", true);
    }
  }

  // A mouse event -> the image pixel under it, through zoom and pan.
  imagePoint(e) {
    const rect = this.canvas.getBoundingClientRect();
    const k = this.pxScale();
    const cx = (e.clientX - rect.left) * this.canvas.width / rect.width, cy = (e.clientY - rect.top) * this.canvas.height / rect.height;
    return [state.view.ox + cx / k, state.view.oy + cy / k];
  }

  pixels() {
    const gl = this.gl, w = this.canvas.width, h = this.canvas.height;
    const px = new Uint8Array(4 * w * h);
    gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, px);
    return px;
  }
}

const main = new Viewer($("view"), $("overlay"));
const compare = new Viewer($("compare-view"), $("compare-overlay"));
const viewers = () => [main, compare].filter((v) => v.image && !v.canvas.closest("[hidden]"));

// Interaction redraws at most once per displayed frame.
let drawPending = false;
function requestDraw() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => { drawPending = false; drawAll(); });
}

function drawAll(sync) {
  for (const v of viewers()) v.draw(sync);
  state.timing.lastRedrawMs = main.redrawMs;
  $("wl").textContent = `W ${Math.round(state.wl.width)} / L ${Math.round(state.wl.center)}  (${(main.redrawMs || 0).toFixed(1)} ms)`;
  $("zoom").textContent = `zoom ${state.view.scale.toFixed(2)}x`;
}
// A hash of the main canvas's pixels, for the tests (tiled and whole renderings must agree).
// The drawing buffer is not kept after it is shown (that copy would cost every redraw), so the
// tests read pixels through these, which draw first in the same task.
window.sluisRead = (x, y, w, h) => { main.draw(); const gl = main.gl, px = new Uint8Array(4 * w * h); gl.readPixels(x, y, w, h, gl.RGBA, gl.UNSIGNED_BYTE, px); return Array.from(px); };
window.sluisPixels = () => { main.draw(); const px = main.pixels(); let h = 2166136261; for (let i = 0; i < px.length; i++) { h ^= px[i]; h = Math.imul(h, 16777619); } return { hash: h >>> 0, w: main.canvas.width, h: main.canvas.height }; };

// One logged read brings every channel of a scan; the header describes them.
async function fetchImage(id) {
  // The channels the viewer shows: high energy (the grey image) and Z-effective (material);
  // the server sends the first channel when a scan has neither.
  const r = await api("GET", `/api/scans/${id}/image?kinds=HighEnergy,ZEffective`);
  if (!r.ok) throw new Error(`open: ${r.status} ${(await json(r)).error || ""}`);
  const meta = JSON.parse(r.headers.get("x-image"));
  const all = new Uint16Array(await r.arrayBuffer());
  const frame = meta.columns * meta.rows;
  const gc = meta.channels.find((c) => c.kind === "HighEnergy") || meta.channels[0];
  const zc = meta.channels.find((c) => c.kind === "ZEffective");
  const grey = all.subarray(gc.index * frame, (gc.index + 1) * frame);
  const zeff = zc ? all.subarray(zc.index * frame, (zc.index + 1) * frame) : null;
  let lo = 65535, hi = 0;
  for (let i = 0; i < grey.length; i += 7) { const v = grey[i]; if (v < lo) lo = v; if (v > hi) hi = v; }
  return { id, meta, cols: meta.columns, rows: meta.rows, grey, zeff, lo, hi,
    zSlope: zc && zc.rescale ? zc.rescale.slope : 1, zIntercept: zc && zc.rescale ? zc.rescale.intercept : 0,
    full: Math.pow(2, meta.bits_stored || 16) - 1 };
}

async function open() {
  const s = state.scans[state.selected];
  if (!s) return;
  const t0 = performance.now();
  let img;
  try { img = await fetchImage(s.id); } catch (e) { $("audit").textContent = String(e.message); return; }
  const t1 = performance.now();
  img.row = s;
  state.current = img;
  state.reports = []; state.annotations = [];
  state.wl = { center: (img.lo + img.hi) / 2, width: Math.max(img.hi - img.lo, 1) };
  state.view = { scale: 1, ox: 0, oy: 0 };
  $("compare-pane").hidden = true;
  main.load(img);
  const t2 = performance.now();
  $("material").disabled = !img.zeff;
  drawAll(true);
  state.timing.openMs = performance.now() - t0;
  // Where the time went: the logged read and transfer, the texture upload, the first draw.
  Object.assign(state.timing, { fetchMs: t1 - t0, uploadMs: t2 - t1, firstDrawMs: performance.now() - t2 });
  $("audit").textContent = `read logged as audit record ${img.meta.audit_record}; ${img.cols} x ${img.rows}, 16-bit${img.tiles.length > 1 ? `, ${img.tiles.length} texture tiles` : ""}, on screen in ${state.timing.openMs.toFixed(0)} ms`;
  $("decision-status").textContent = "";
  $("comment").value = "";
  showMeta(img);
  main.canvas.dataset.loaded = s.id;
  // What goes beside the image comes after it is on screen.
  loadSide(img);
}

function showMeta(img) {
  const s = img.row, sc = img.meta.scanner || {};
  const dl = $("meta");
  dl.replaceChildren();
  for (const [k, v] of [["Containers", (s.containers || []).join(", ")], ["Conveyance", s.conveyance], ["Scanned", s.scanned_at], ["Stored", s.stored_at],
    ["Scanner", [sc.manufacturer, sc.model].filter(Boolean).join(" ")], ["Station", sc.station || s.station], ["Decision", s.decision || "waiting"], ["Scan id", s.id]]) {
    dl.append(el("dt", k), el("dd", v || "—"));
  }
}

async function loadSide(img) {
  const id = img.id;
  const [reports, notes, comments, related, declared] = await Promise.all([
    api("GET", `/api/scans/${id}/reports`).then(json), api("GET", `/api/scans/${id}/annotations`).then(json),
    api("GET", `/api/scans/${id}/comments`).then(json), api("GET", `/api/scans/${id}/related`).then(json),
    api("GET", `/api/scans/${id}/declarations`).then(json)]);
  if (state.current !== img) return;
  // What was declared, to read the image against.
  const decls = declared.declarations || [];
  $("declarations").replaceChildren(...(decls.length ? decls.map((d) => {
    const box = el("div", undefined, "declaration");
    box.append(el("div", `${d.reference}${d.procedure ? ` · ${d.procedure}` : ""}`, "ref"));
    if (d.consignor || d.consignee) box.append(el("div", `${d.consignor || "?"} → ${d.consignee || "?"}`, "parties"));
    const ul = el("ul");
    ul.append(...d.goods.map((g) => el("li", `${g.description}${g.hs_code ? ` (HS ${g.hs_code})` : ""}${g.packages ? `, ${g.packages} pkg` : ""}${g.gross_kg ? `, ${g.gross_kg} kg` : ""}`)));
    box.append(ul);
    return box;
  }) : [el("p", "no declaration for these containers", "none")]));
  state.reports = reports.reports || [];
  state.annotations = notes.annotations || [];
  $("reports").replaceChildren(...(state.reports.length ? state.reports.flatMap((r) => [el("li", `${r.tdr_type === "GROUND_TRUTH" ? "Ground truth" : r.tdr_type} report: ${r.alarm || "no decision"}, ${r.threats.length} object(s) (audit record ${r.audit_record})`),
    ...r.threats.map((t) => el("li", `#${t.id} ${[t.category, t.description].filter(Boolean).join(": ")}${t.mass_g ? `, ${Math.round(t.mass_g / 1000)} kg` : ""}${t.z_effective ? `, Z ${t.z_effective.toFixed(1)}` : ""}`, "sub"))]) : [el("li", "no threat report")]));
  listAnnotations();
  $("comments").replaceChildren(...(comments.comments || []).map((c) => el("li", `${when(c.at)} ${c.author} (${c.role}) ${c.decision}: ${c.text}`)));
  // The container's previous scan, or (when this is the first) its next one.
  const all = related.related || [];
  const other = all.find((r) => r.earlier) || all[0];
  $("compare").hidden = !other;
  $("compare").textContent = other ? `Compare with the ${other.earlier ? "earlier" : "later"} scan (${other.stored_at.slice(0, 16).replace("T", " ")})` : "Compare";
  $("compare").dataset.id = other ? other.id : "";
  main.drawOverlay();
  img.sideLoaded = true;
  main.canvas.dataset.side = id;
}

function listAnnotations() {
  $("annotations").replaceChildren(...state.annotations.map((a) => {
    const li = el("li", `${a.label || "(no label)"} ${a.shared ? "shared" : "private"}${a.owner !== state.me.name ? ` · ${a.owner}` : ""} `);
    if (a.owner === state.me.name) {
      const b = el("button", "Delete", "small");
      b.addEventListener("click", async () => {
        const r = await api("DELETE", `/api/annotations/${a.id}`);
        if (r.ok) { state.annotations = state.annotations.filter((x) => x.id !== a.id); listAnnotations(); main.drawOverlay(); }
      });
      li.append(b);
    }
    return li;
  }));
}

$("compare").addEventListener("click", async () => {
  const id = $("compare").dataset.id; if (!id) return;
  try {
    const img = await fetchImage(id);
    $("compare-pane").hidden = false;
    $("compare-label").textContent = `${$("compare").textContent.replace("Compare with the ", "")}: ${id.slice(0, 12)}… (read logged as audit record ${img.meta.audit_record})`;
    compare.load(img);
    drawAll();
    compare.canvas.dataset.loaded = id;
  } catch (e) { $("audit").textContent = String(e.message); }
});
$("compare-close").addEventListener("click", () => { $("compare-pane").hidden = true; });

const presets = () => {
  const img = state.current; if (!img) return null;
  const span = img.hi - img.lo;
  return { full: { center: (img.lo + img.hi) / 2, width: span }, dense: { center: img.lo + span * 0.2, width: span * 0.4 }, light: { center: img.lo + span * 0.75, width: span * 0.5 } };
};
$("preset").addEventListener("change", () => { const p = presets(); if (p) { state.wl = { ...p[$("preset").value] }; drawAll(); } });
for (const id of ["invert", "material", "edges"]) $(id).addEventListener("change", drawAll);
$("overlays").addEventListener("change", () => main.drawOverlay());
window.addEventListener("resize", () => { for (const v of viewers()) v.resize(); drawAll(); });

function clampOffset(o, n) { return Math.max(0, Math.min(o, n - n / state.view.scale)); }

let drag = null;
for (const v of [main, compare]) {
  v.overlay.addEventListener("mousedown", (e) => {
    if (!v.image) return;
    const annotate = v === main && $("annotate").checked;
    drag = { v, x: e.clientX, y: e.clientY, at: v.imagePoint(e), wl: { ...state.wl }, view: { ...state.view }, pan: e.shiftKey, annotate };
  });
  // The wheel zooms about the cursor, from the whole image to 32 screen pixels per image pixel.
  v.overlay.addEventListener("wheel", (e) => {
    const img = v.image; if (!img) return;
    e.preventDefault();
    const [px, py] = v.imagePoint(e);
    const before = v.pxScale();
    const scale = Math.max(1, Math.min(32, state.view.scale * (e.deltaY < 0 ? 1.25 : 0.8)));
    state.view.scale = scale;
    const k = v.pxScale();
    state.view.ox = clampOffset(px - (px - state.view.ox) * before / k, img.cols);
    state.view.oy = clampOffset(py - (py - state.view.oy) * before / k, img.rows);
    requestDraw();
  }, { passive: false });
  v.overlay.addEventListener("mousemove", (e) => {
    const img = v.image; if (!img) return;
    const [fx, fy] = v.imagePoint(e);
    const x = Math.floor(fx), y = Math.floor(fy);
    if (x >= 0 && y >= 0 && x < img.cols && y < img.rows) {
      const val = img.grey[y * img.cols + x];
      let cls = "";
      if (img.zeff) { const z = img.zeff[y * img.cols + x] * img.zSlope + img.zIntercept; cls = z <= 0 ? " unknown" : z < 10 ? " organic" : z < 20 ? " inorganic" : " metal"; cls += ` (Z ${z.toFixed(1)})`; }
      $("readout").textContent = `x ${x} y ${y}: ${val}${cls}`;
    }
    if (!drag || drag.v !== v) return;
    if (drag.annotate) {
      const [ax, ay] = drag.at;
      drag.rect = { x: Math.min(ax, fx), y: Math.min(ay, fy), w: Math.abs(fx - ax), h: Math.abs(fy - ay) };
      v.drawOverlay(drag.rect);
    } else if (drag.pan) {
      // Shift-drag pans, in image pixels.
      const rect = v.canvas.getBoundingClientRect();
      const k = v.pxScale() * rect.width / v.canvas.width;
      state.view.ox = clampOffset(drag.view.ox - (e.clientX - drag.x) / k, img.cols);
      state.view.oy = clampOffset(drag.view.oy - (e.clientY - drag.y) / k, img.rows);
      requestDraw();
    } else {
      const span = (state.current.hi - state.current.lo) || 1;
      state.wl = { center: drag.wl.center + (e.clientY - drag.y) * span / 500, width: Math.max(1, drag.wl.width + (e.clientX - drag.x) * span / 500) };
      requestDraw();
    }
  });
}
window.addEventListener("mouseup", async () => {
  const d = drag; drag = null;
  if (!d || !d.annotate || !d.rect) return;
  const img = state.current;
  const r0 = d.rect;
  // Clipped to the image, whole pixels.
  const x = Math.max(0, Math.floor(r0.x)), y = Math.max(0, Math.floor(r0.y));
  const w = Math.min(img.cols, Math.ceil(r0.x + r0.w)) - x, h = Math.min(img.rows, Math.ceil(r0.y + r0.h)) - y;
  if (w < 2 || h < 2) { main.drawOverlay(); return; }
  const r = await api("POST", `/api/scans/${img.id}/annotations`, { x, y, w, h, label: $("note-label").value.trim(), shared: $("note-shared").checked });
  const body = await json(r);
  if (r.ok && state.current === img) { state.annotations.push(body); listAnnotations(); }
  else if (!r.ok) $("decision-status").textContent = `annotation refused: ${body.error || r.status}`;
  main.drawOverlay();
});

$("decide").addEventListener("click", async (e) => {
  const d = e.target.dataset && e.target.dataset.decision;
  const img = state.current;
  if (!d || !img) return;
  const comment = $("comment").value.trim();
  const r = await api("POST", `/api/scans/${img.id}/decision`, comment ? { decision: d, comment } : { decision: d });
  const body = await json(r);
  $("decision-status").textContent = r.ok ? `${body.decision}: kept and logged` : `refused: ${body.error || r.status}`;
  if (r.ok) {
    $("comment").value = "";
    // The panel shows the decision as kept, and the comments with the new one.
    img.row = { ...img.row, decision: body.decision };
    showMeta(img);
    const c = await api("GET", `/api/scans/${img.id}/comments`).then(json);
    if (state.current === img) $("comments").replaceChildren(...(c.comments || []).map((x) => el("li", `${when(x.at)} ${x.author} (${x.role}) ${x.decision}: ${x.text}`)));
    loadWorklist();
  }
});

// The purposes an export may give: codes the vault accepts (the log carries only the code; a
// note, such as a case number, is kept on the desk and only its hash is logged).
async function loadPurposes() {
  const body = await api("GET", "/api/purposes").then(json);
  $("export-purpose").replaceChildren(...(body.purposes || []).map((p) => {
    const o = el("option", `${p.code}: ${p.description}`);
    o.value = p.code;
    return o;
  }));
}

$("export-go").addEventListener("click", async () => {
  const img = state.current; if (!img) return;
  const recipient = $("export-recipient").value.trim();
  const note = $("export-note").value.trim();
  const ask = { purpose: $("export-purpose").value };
  if (note) ask.note = note;
  if (recipient) ask.recipient = recipient;
  const r = await api("POST", `/api/scans/${img.id}/export`, ask);
  if (!r.ok) { $("export-status").textContent = `refused: ${(await json(r)).error || r.status}`; return; }
  const name = (r.headers.get("content-disposition") || "").match(/filename="([^"]+)"/);
  const blob = await r.blob();
  const a = el("a"); a.href = URL.createObjectURL(blob); a.download = name ? name[1] : `${img.id}.tar`;
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  $("export-status").textContent = `exported (${blob.size} bytes${recipient ? ", age-encrypted" : ""}); export logged as audit record ${r.headers.get("x-audit-record")}`;
});

for (const id of ["filter", "search", "scanner", "from", "until"]) $(id).addEventListener("change", loadWorklist);
$("audit-search").addEventListener("submit", searchAudit);
$("login").addEventListener("submit", login);
$("logout").addEventListener("click", async () => { await api("POST", "/api/logout"); location.reload(); });

(async () => {
  if (!main.gl) { $("login-error").textContent = "this browser has no WebGL2"; return; }
  const r = await api("GET", "/api/me");
  if (r.ok) enter(await r.json());
})();
