// The workstation in real Chromium (Debian's, driven by playwright-core): log in, open a scan,
// check tiling beyond the texture limit, change the window, switch to material colouring, see
// the threat overlay, draw an annotation, compare with the container's earlier scan, refer the
// scan; a supervisor reviews, decides and exports it; an auditor sees the log verified and finds
// the records.
// Usage: node workstation.mjs BASE_URL NAME PASSWORD ARTIFACT_DIR
//                             [AUDITOR AUDITOR_PASSWORD SUPERVISOR SUPERVISOR_PASSWORD
//                              ADMINISTRATOR ADMINISTRATOR_PASSWORD]
// With only the analyst (the benchmark), it opens and times, and changes nothing. Prints one JSON line with
// the timings; exits non-zero on any failure.
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
const context = await browser.newContext({ viewport: { width: 1600, height: 900 }, acceptDownloads: true });
const page = await context.newPage();
const [auditor, auditorPassword, supervisor, supervisorPassword, admin, adminPassword] = process.argv.slice(6);
const full = Boolean(auditor);
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
// A 401 before login and after a wrong password, and the 400 of a referral without a comment,
// are the API answering, not errors of the page.
page.on("console", (m) => { if (m.type() === "error" && !/status of 40[01]/.test(m.text())) errors.push(m.text()); });

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
// The date filter: nothing was stored in 2099; cleared, the worklist is back.
const listed = await page.locator("#worklist li").count();
await page.fill("#from", "2099-01-01");
await page.waitForFunction(() => document.querySelectorAll("#worklist li").length === 0, null, { timeout: 10000 })
  .catch(() => fail(page, "the date filter kept scans stored before 2099"));
await page.fill("#from", "");
await page.waitForFunction((n) => document.querySelectorAll("#worklist li").length === n, listed, { timeout: 10000 })
  .catch(() => fail(page, "the worklist did not come back"));
await page.evaluate(() => document.activeElement.blur());

// Open the first scan with the keyboard, as an analyst would.
await page.keyboard.press("Enter");
await page.waitForFunction(() => document.getElementById("view").dataset.loaded, null, { timeout: 30000 })
  .catch(() => fail(page, "the scan did not open"));
const opened = await page.evaluate(() => ({ ...window.sluisTiming }));
// From here each redraw waits for the GPU, so its time is the redraw's.
await page.evaluate(() => { window.sluisTiming.measure = true; });
// Pixels on screen: the canvas is as large as it is shown and is not blank; the image behind it
// is the scan at full resolution (the texture), which zoom brings to the screen pixel by pixel.
const pixels = await page.evaluate(() => {
  const c = document.getElementById("view");
  const w = c.width, h = c.height;
  const px = window.sluisRead(0, 0, w, h);
  let distinct = new Set();
  for (let i = 0; i < 64; i++) {
    const x = Math.floor(w * (i % 8 + 0.5) / 8), y = Math.floor(h * (Math.floor(i / 8) + 0.5) / 8);
    distinct.add(px[4 * (y * w + x)]);
  }
  return { w, h, css: c.clientWidth * devicePixelRatio, distinct: distinct.size, tiles: Number(c.dataset.tiles) };
});
if (pixels.distinct < 3) await fail(page, `the image looks blank: ${JSON.stringify(pixels)}`);
if (Math.abs(pixels.w - pixels.css) > 1) await fail(page, `the canvas is not drawn at its size on screen: ${JSON.stringify(pixels)}`);
const size = (await page.textContent("#audit")).match(/(\d+) x (\d+), 16-bit/);
if (!size) await fail(page, `no image size in ${await page.textContent("#audit")}`);
pixels.image = { columns: Number(size[1]), rows: Number(size[2]) };

let tiling = null;
if (full) {
  // Beyond the texture limit: the same scan with the limit lowered to 1024 is cut into tiles and
  // must render exactly as the whole texture does.
  const whole = await page.evaluate(() => window.sluisPixels());
  const tiled = await context.newPage();
  await tiled.goto(`${base}?maxTexture=1024`);
  await tiled.waitForSelector("#worklist li");
  await tiled.keyboard.press("Enter");
  await tiled.waitForFunction(() => document.getElementById("view").dataset.loaded, null, { timeout: 30000 }).catch(() => fail(tiled, "the tiled view did not open"));
  const cut = await tiled.evaluate(() => ({ ...window.sluisPixels(), tiles: Number(document.getElementById("view").dataset.tiles) }));
  await tiled.close();
  const expected = Math.ceil(pixels.image.columns / 1024) * Math.ceil(pixels.image.rows / 1024);
  if (cut.tiles !== expected) await fail(page, `expected ${expected} tiles, got ${cut.tiles}`);
  if (cut.hash !== whole.hash || cut.w !== whole.w) await fail(page, `tiled rendering differs: ${JSON.stringify({ whole, cut })}`);
  tiling = { tiles: cut.tiles, identical: true };
}
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
// Twenty window changes, each timed from the change to the pixels done (read back), two ways:
// with the page settled first (two animation frames: the redraw alone), and back to back, as in
// a drag, where the redraw competes with the compositing of the frame before it.
const redraws = [], backToBack = [];
for (let i = 0; i < 20; i++) {
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  await page.selectOption("#preset", ["full", "dense", "light"][i % 3]);
  redraws.push(await page.evaluate(() => window.sluisTiming.lastRedrawMs));
}
for (let i = 0; i < 20; i++) {
  await page.selectOption("#preset", ["full", "dense", "light"][i % 3]);
  backToBack.push(await page.evaluate(() => window.sluisTiming.lastRedrawMs));
}
redraws.sort((a, b) => a - b);
backToBack.sort((a, b) => a - b);
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
  const c = document.getElementById("view");
  const px = window.sluisRead(Math.floor(c.width / 2) - 100, Math.floor(c.height / 2) - 10, 200, 20);
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
await page.waitForFunction(() => /zoom 3\.8/.test(document.getElementById("zoom").textContent), null, { timeout: 5000 })
  .catch(async () => fail(page, `zoom not applied: ${await page.textContent("#zoom")}`));
const coords = (t) => t.match(/x (\d+) y (\d+)/).slice(1).map(Number);
const [bx, by] = coords(pointBefore), [ax, ay] = coords(pointAfter);
if (Math.abs(ax - bx) > 2 || Math.abs(ay - by) > 2) await fail(page, `zoom moved the point under the cursor: ${pointBefore} -> ${pointAfter}`);
await page.screenshot({ path: `${artifacts}/5-zoomed.png` });

const overlayInk = () => page.evaluate(() => {
  const c = document.getElementById("overlay"); const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n;
});
const results = { open_parts_ms: { fetch: opened.fetchMs, upload: opened.uploadMs, first_draw: opened.firstDrawMs }, open_ms: opened.openMs, redraw_ms_median: redraws[10], redraw_ms_max: redraws[19],
  back_to_back_ms_median: backToBack[10], back_to_back_ms_max: backToBack[19], pixels, tiling };

if (full) {
  // Back to the whole image. The ground-truth report is listed and drawn over the image.
  await page.keyboard.press("0");
  await page.waitForFunction(() => document.getElementById("view").dataset.side, null, { timeout: 15000 }).catch(() => fail(page, "the side panel did not load"));
  if ((await page.textContent("#zoom")) !== "zoom 1.00x") await fail(page, "the 0 key did not fit the image");
  // On to the scan whose ground truth lists a hidden object (j moves down, Enter opens).
  for (let i = 0; i < 4 && (await page.locator("#reports li.sub").count()) === 0; i++) {
    await page.keyboard.press("j");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => {
      const sel = document.querySelector("#worklist li[aria-selected=true]");
      return sel && document.getElementById("view").dataset.side === sel.dataset.id;
    }, null, { timeout: 30000 }).catch(() => fail(page, "the next scan did not open"));
  }
  const declared = await page.textContent("#declarations");
  if (!/frozen fish fillets \(HS 0304\), 1200 pkg, 21000\.5 kg/.test(declared)) await fail(page, `the declaration is not shown: ${declared}`);
  const reports = await page.textContent("#reports");
  if (!/Ground truth report/.test(reports)) await fail(page, `no ground-truth report: ${reports}`);
  const ink = await overlayInk();
  const objects = await page.locator("#reports li.sub").count();
  if (objects === 0) await fail(page, `no scan with a hidden object in the worklist: ${reports}`);
  if (ink === 0) await fail(page, "the threat overlay draws nothing");
  results.threat_objects = objects;
  await page.uncheck("#overlays");
  if ((await overlayInk()) !== 0) await fail(page, "the overlay stays when switched off");
  // An annotation: a box dragged over the image, kept with its label.
  await page.fill("#note-label", "void in the floor");
  await page.check("#annotate");
  await page.mouse.move(box.x + box.width * 0.2, box.y + box.height * 0.3);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.35, box.y + box.height * 0.6, { steps: 6 });
  await page.mouse.up();
  await page.waitForFunction(() => /void in the floor/.test(document.getElementById("annotations").textContent), null, { timeout: 10000 })
    .catch(() => fail(page, "the annotation was not kept"));
  await page.uncheck("#annotate");
  if ((await overlayInk()) === 0) await fail(page, "the annotation is not drawn");
  await page.check("#overlays");
  await page.screenshot({ path: `${artifacts}/6-overlay-annotation.png` });
  // Side by side with the same container's earlier scan.
  if (await page.isHidden("#compare")) await fail(page, "no earlier scan of this container offered");
  await page.click("#compare");
  await page.waitForFunction(() => document.getElementById("compare-view").dataset.loaded, null, { timeout: 30000 })
    .catch(() => fail(page, "the earlier scan did not open"));
  await page.screenshot({ path: `${artifacts}/7-side-by-side.png` });
  await page.click("#compare-close");
  // A referral needs a comment; with one, the scan leaves the analyst's waiting list.
  const waiting = await page.locator("#worklist li").count();
  await page.click("#decide button[data-decision=refer]");
  await page.waitForFunction(() => /refused/.test(document.getElementById("decision-status").textContent), null, { timeout: 10000 })
    .catch(() => fail(page, "a referral without a comment was not refused"));
  await page.fill("#comment", "dense block behind the doors, not on the manifest");
  await page.click("#decide button[data-decision=refer]");
  await page.waitForFunction(() => /refer: kept and logged/.test(document.getElementById("decision-status").textContent), null, { timeout: 10000 })
    .catch(() => fail(page, "the referral was not confirmed"));
  await page.waitForFunction((n) => document.querySelectorAll("#worklist li").length === n - 1, waiting, { timeout: 10000 })
    .catch(() => fail(page, "the referred scan is still waiting"));
  results.audit = await page.textContent("#audit");
  await page.screenshot({ path: `${artifacts}/8-referred.png` });

  // The supervisor: the referred scan with the analyst's comment; decides; exports.
  await page.click("#logout");
  await page.waitForSelector("#login:not([hidden])");
  await page.fill("#name", supervisor);
  await page.fill("#password", supervisorPassword);
  await page.click("#login button[type=submit]");
  await page.waitForSelector("#worklist li", { timeout: 15000 }).catch(() => fail(page, "no referred scan for the supervisor"));
  if ((await page.inputValue("#filter")) !== "refer") await fail(page, "the supervisor does not start with referrals");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.getElementById("view").dataset.side, null, { timeout: 30000 }).catch(() => fail(page, "the referred scan did not open"));
  const comments = await page.textContent("#comments");
  if (!/refer: dense block behind the doors/.test(comments)) await fail(page, `the referral comment is not shown: ${comments}`);
  const mine = await page.textContent("#annotations");
  if (/void in the floor/.test(mine)) await fail(page, "the analyst's private annotation is shown to the supervisor");
  await page.fill("#comment", "agreed: open it");
  await page.click("#decide button[data-decision=inspect]");
  await page.waitForFunction(() => /inspect: kept and logged/.test(document.getElementById("decision-status").textContent), null, { timeout: 10000 })
    .catch(() => fail(page, "the supervisor's decision was not confirmed"));
  await page.waitForFunction(() => /supervisor\) inspect: agreed: open it/.test(document.getElementById("comments").textContent)
    && /inspect/.test(document.getElementById("meta").textContent), null, { timeout: 10000 })
    .catch(async () => fail(page, `the review is not shown: ${await page.textContent("#comments")}`));
  await page.selectOption("#export-purpose", "evidence");
  await page.fill("#export-note", "case 2026-0042");
  const [download] = await Promise.all([page.waitForEvent("download", { timeout: 30000 }), page.click("#export-go")]);
  const saved = `${artifacts}/${download.suggestedFilename()}`;
  await download.saveAs(saved);
  results.export = saved;
  results.export_status = await page.textContent("#export-status");
  await page.screenshot({ path: `${artifacts}/9-supervisor.png` });

  // The auditor sees the log verified and finds the decisions on that scan.
  await page.click("#logout");
  await page.waitForSelector("#login:not([hidden])");
  await page.fill("#name", auditor);
  await page.fill("#password", auditorPassword);
  await page.click("#login button[type=submit]");
  await page.waitForFunction(() => /verified|FAILED/.test(document.getElementById("audit-status").textContent), null, { timeout: 30000 })
    .catch(() => fail(page, "no audit status"));
  results.audit_status = await page.textContent("#audit-status");
  if (!results.audit_status.startsWith("verified")) await fail(page, `audit: ${results.audit_status}`);
  if (await page.isVisible("#desk")) await fail(page, "the auditor sees the scan desk");
  await page.selectOption("#audit-action", "decide");
  await page.fill("#audit-actor", name);
  await page.click("#audit-search button[type=submit]");
  await page.waitForFunction((n) => [...document.querySelectorAll("#audit-records tbody tr")].some((r) => r.textContent.includes(`${n} (p-`) && r.textContent.includes("decision=refer")), name, { timeout: 10000 })
    .catch(() => fail(page, "the analyst's referral is not found in the audit records"));
  await page.screenshot({ path: `${artifacts}/10-auditor.png` });

  // The administrator adds an account and gives it another role; each change is logged.
  await page.click("#logout");
  await page.waitForSelector("#login:not([hidden])");
  await page.fill("#name", admin);
  await page.fill("#password", adminPassword);
  await page.click("#login button[type=submit]");
  await page.waitForSelector("#admin-page:not([hidden])");
  await page.fill("#new-name", "new.analyst");
  await page.selectOption("#new-role", "analyst");
  await page.fill("#new-password", "a fresh long passphrase");
  await page.click("#user-add button[type=submit]");
  await page.waitForFunction(() => /new.analyst: account added role=analyst \(logged as audit record \d+\)/.test(document.getElementById("users-status").textContent), null, { timeout: 15000 })
    .catch(async () => fail(page, `the account was not added: ${await page.textContent("#users-status")}`));
  await page.selectOption('select[aria-label="role of new.analyst"]', "supervisor");
  await page.waitForFunction(() => /new.analyst: role=supervisor \(logged/.test(document.getElementById("users-status").textContent), null, { timeout: 15000 })
    .catch(async () => fail(page, `the role was not changed: ${await page.textContent("#users-status")}`));
  const scanners = await page.textContent("#scanners");
  if (!/SYNTH-LANE-1/.test(scanners)) await fail(page, `no scanner listed: ${scanners}`);
  await page.screenshot({ path: `${artifacts}/11-administrator.png` });
} else {
  // The benchmark: opening and redrawing only, so it can run again on the same vault.
  results.audit = await page.textContent("#audit");
}
if (errors.length) await fail(page, `console errors: ${errors.join(" | ")}`);
console.log(JSON.stringify(results));
await browser.close();
