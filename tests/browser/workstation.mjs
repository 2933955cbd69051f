// The workstation in real Chromium (Debian's, driven by playwright-core): log in, open a scan,
// change the window, switch to material colouring, decide, and see the decision kept and logged.
// Usage: node workstation.mjs BASE_URL NAME PASSWORD ARTIFACT_DIR [AUDITOR AUDITOR_PASSWORD]
// Prints one JSON line with the timings; exits non-zero on any failure.
import { chromium } from "playwright-core";

const [base, name, password, artifacts] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"],
});
const fail = async (page, what) => {
  await page.screenshot({ path: `${artifacts}/failure.png` }).catch(() => {});
  console.error(what);
  await browser.close();
  process.exit(1);
};
const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
// A 401 before login and after a wrong password is the API answering, not an error of the page.
page.on("console", (m) => { if (m.type() === "error" && !/status of 401/.test(m.text())) errors.push(m.text()); });

await page.goto(base);
// A wrong password first: refused, no desk.
await page.fill("#name", name);
await page.fill("#password", "not the password at all");
await page.click("#login button[type=submit]");
await page.waitForFunction(() => document.getElementById("login-error").textContent.length > 0);
if (await page.isVisible("#desk")) await fail(page, "desk shown after a wrong password");

await page.fill("#password", password);
await page.click("#login button[type=submit]");
await page.waitForSelector("#worklist li", { timeout: 15000 }).catch(() => fail(page, "no worklist"));
await page.screenshot({ path: `${artifacts}/1-worklist.png` });

// Open the first scan with the keyboard, as an analyst would.
await page.keyboard.press("Enter");
await page.waitForFunction(() => document.getElementById("view").dataset.loaded, null, { timeout: 30000 })
  .catch(() => fail(page, "the scan did not open"));
const opened = await page.evaluate(() => ({ ...window.sluisTiming }));
// Pixels on screen: the canvas holds the image at full resolution and is not blank.
const pixels = await page.evaluate(() => {
  const c = document.getElementById("view");
  const gl = c.getContext("webgl2");
  const w = c.width, h = c.height;
  const px = new Uint8Array(4 * 64);
  let distinct = new Set();
  for (let i = 0; i < 64; i++) {
    gl.readPixels(Math.floor(w * (i % 8 + 0.5) / 8), Math.floor(h * (Math.floor(i / 8) + 0.5) / 8), 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px.subarray(4 * i));
    distinct.add(px[4 * i]);
  }
  return { w, h, distinct: distinct.size };
});
if (pixels.distinct < 3) await fail(page, `the image looks blank: ${JSON.stringify(pixels)}`);
await page.screenshot({ path: `${artifacts}/2-scan.png` });

// Window/level by dragging: the readout changes and the redraw is timed.
const box = await page.locator("#view").boundingBox();
const before = await page.textContent("#wl");
await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
await page.mouse.down();
await page.mouse.move(box.x + box.width / 2 + 120, box.y + box.height / 2 - 80, { steps: 8 });
await page.mouse.up();
const after = await page.textContent("#wl");
if (before === after) await fail(page, "window/level did not change");
const redraws = [];
for (let i = 0; i < 20; i++) {
  await page.selectOption("#preset", ["full", "dense", "light"][i % 3]);
  redraws.push(await page.evaluate(() => window.sluisTiming.lastRedrawMs));
}
redraws.sort((a, b) => a - b);
await page.screenshot({ path: `${artifacts}/3-window.png` });

// Material colouring, and the readout under the cursor names the class.
await page.check("#material");
await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
const readout = await page.textContent("#readout");
if (!/organic|inorganic|metal|unknown/.test(readout)) await fail(page, `readout without a class: ${readout}`);
await page.screenshot({ path: `${artifacts}/4-material.png` });

// Edge enhancement changes the picture; zooming on a point keeps that point under the cursor.
await page.uncheck("#material");
const sample = () => page.evaluate(() => {
  const c = document.getElementById("view"); const gl = c.getContext("webgl2");
  const px = new Uint8Array(4 * 200 * 20);
  gl.readPixels(Math.floor(c.width / 2) - 100, Math.floor(c.height / 2) - 10, 200, 20, gl.RGBA, gl.UNSIGNED_BYTE, px);
  let sum = 0; for (let i = 0; i < px.length; i += 4) sum += Math.abs(px[i] - px[(i + 4) % px.length]);
  return sum;
});
const plain = await sample();
await page.check("#edges");
const sharp = await sample();
if (!(sharp > plain)) await fail(page, `edge enhancement did not sharpen: ${plain} -> ${sharp}`);
await page.uncheck("#edges");
const at = { x: box.x + box.width * 0.3, y: box.y + box.height * 0.5 };
await page.mouse.move(at.x, at.y);
const pointBefore = (await page.textContent("#readout")).split(":")[0];
for (let i = 0; i < 6; i++) await page.mouse.wheel(0, -120);
await page.mouse.move(at.x + 1, at.y);
await page.mouse.move(at.x, at.y);
const pointAfter = (await page.textContent("#readout")).split(":")[0];
const zoom = await page.textContent("#zoom");
if (!/zoom 3\.8/.test(zoom)) await fail(page, `zoom not applied: ${zoom}`);
const coords = (t) => t.match(/x (\d+) y (\d+)/).slice(1).map(Number);
const [bx, by] = coords(pointBefore), [ax, ay] = coords(pointAfter);
if (Math.abs(ax - bx) > 2 || Math.abs(ay - by) > 2) await fail(page, `zoom moved the point under the cursor: ${pointBefore} -> ${pointAfter}`);
await page.screenshot({ path: `${artifacts}/5-zoomed.png` });

// Decide: the scan leaves the waiting worklist; the page says it was logged.
const before_count = await page.locator("#worklist li").count();
await page.click("#decide button[data-decision=inspect]");
await page.waitForFunction(() => /kept and logged/.test(document.getElementById("decision-status").textContent), null, { timeout: 10000 })
  .catch(() => fail(page, "the decision was not confirmed"));
await page.waitForFunction((n) => document.querySelectorAll("#worklist li").length === n - 1, before_count, { timeout: 10000 })
  .catch(() => fail(page, "the decided scan is still waiting"));
const audit = await page.textContent("#audit");
await page.screenshot({ path: `${artifacts}/6-decided.png` });
// The auditor (if given) logs in after the analyst and sees the log verified, the analyst's
// reads and decision included.
const [auditor, auditorPassword] = process.argv.slice(6);
let auditStatus = null;
if (auditor) {
  await page.click("#logout");
  await page.waitForSelector("#login:not([hidden])");
  await page.fill("#name", auditor);
  await page.fill("#password", auditorPassword);
  await page.click("#login button[type=submit]");
  await page.waitForFunction(() => /verified|FAILED/.test(document.getElementById("audit-status").textContent), null, { timeout: 30000 })
    .catch(() => fail(page, "no audit status"));
  auditStatus = await page.textContent("#audit-status");
  if (!auditStatus.startsWith("verified")) await fail(page, `audit: ${auditStatus}`);
  if (await page.isVisible("#desk")) await fail(page, "the auditor sees the scan desk");
  await page.screenshot({ path: `${artifacts}/7-auditor.png` });
}
if (errors.length) await fail(page, `console errors: ${errors.join(" | ")}`);
console.log(JSON.stringify({ open_ms: opened.openMs, redraw_ms_median: redraws[10], redraw_ms_max: redraws[19], pixels, audit, audit_status: auditStatus }));
await browser.close();
