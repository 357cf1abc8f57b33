#!/usr/bin/env node
// tests/viewer/test_browser.js — the browser viewer in a real browser (ctest viewer/browser): Debian's chromium,
// driven by puppeteer-core (npm, viewer/node_modules; scripts/setup.sh installs both), loads the page served by
// build/ffview (apps/ffview.cpp) and
//   * lists the model's identities; its render of identity 1 for a given camera matches the native runtime's render of
//     the same camera (tests/python/render_reference.c through libfacefield) to mean |Δ| ≤ 2/255 (RGB over black);
//   * the interpolation slider at t = 1 toward identity 1 shows identity 1; at t = 0.5 something between;
//   * a face.ply and a .splat dropped on the page (a DragEvent with the files) replace the model's Gaussians, and the
//     dropped face.ply renders as the identity it was exported from (≤ 2/255); a fit.json dropped with its face.ply
//     joins the picker (the model stays); the screenshot path gives a PNG.
// A tiny model is made without training it (build/train --toy true --steps 1, then build/export), as in
// tests/python/test_facefield.py. Exit 77 (ctest: skipped) with the reason printed when chromium or puppeteer-core is
// missing.
//
//   node tests/viewer/test_browser.js --build build --work /tmp/w [--screens DIR]
//   node tests/viewer/test_browser.js --build build --work /tmp/w --bench MODEL [--size 512] [--screens DIR]
//        [--fit FIT.json]
//       (fps of orbit renders at size² for MODEL in headless chromium, JSON on stdout; screenshots into DIR)
"use strict";
const fs = require("fs");
const path = require("path");
const { spawn, execFileSync } = require("child_process");

const arg = (name, def) => {
  const i = process.argv.indexOf("--" + name);
  return i > 0 ? process.argv[i + 1] : def;
};
const build = path.resolve(arg("build", "build"));
const work = path.resolve(arg("work", "/tmp/ff_viewer_test"));
const screens = arg("screens", "");
const benchModel = arg("bench", "");
const size = parseInt(arg("size", "512"), 10);
const benchFit = arg("fit", "");  // bench mode: a fit.json offered beside the identities (screenshots of the blend)

function skip(why) {
  console.log("SKIP: " + why);
  process.exit(77);
}
let puppeteer;
try {
  puppeteer = require("puppeteer-core");
} catch (e) {
  skip("puppeteer-core is missing (scripts/setup.sh installs it into viewer/node_modules; NODE_PATH=" +
       (process.env.NODE_PATH || "") + ")");
}
const chromium = process.env.CHROMIUM || ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find(fs.existsSync);
if (!chromium) skip("chromium is missing (apt-get install chromium; scripts/setup.sh)");
for (const f of ["ffview", "train", "export", "python_render_reference", "viewer/facefield.wasm"])
  if (!fs.existsSync(path.join(build, f))) {
    console.error("FAIL: " + path.join(build, f) + " is not built");
    process.exit(1);
  }

let failures = 0;
function check(cond, what) {
  console.log((cond ? "ok    " : "FAIL  ") + what);
  if (!cond) failures++;
}
const run = (prog, ...args) => execFileSync(path.join(build, prog), args.map(String), { stdio: ["ignore", "pipe", "pipe"] });

// ffview on a model: resolves with {url, proc} once it prints its URL
function serve(model, fit) {
  return new Promise((resolve, reject) => {
    const extra = fit ? ["--fit", fit] : [];
    const proc = spawn(path.join(build, "ffview"), [model, "--port", "0", "--threads", "2"].concat(extra));
    let out = "", err = "";
    proc.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/open (http:\/\/127\.0\.0\.1:\d+\/)/);
      if (m) resolve({ url: m[1], proc });
    });
    proc.stderr.on("data", (d) => (err += d));
    proc.on("exit", (code) => reject(new Error("ffview exited with " + code + ": " + err)));
  });
}

// mean |Δ| over RGB of two RGBA arrays, in units of 1/255
function meanDiff(a, b) {
  let s = 0, n = 0;
  for (let i = 0; i < a.length; i += 4) for (let c = 0; c < 3; ++c) s += Math.abs(a[i + c] - b[i + c]), n++;
  return s / n;
}

async function main() {
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  let model = benchModel;
  if (!benchModel) {
    run("train", "--toy", "true", "--steps", "1", "--out_dir", path.join(work, "run"), "--toy_subjects", "2",
        "--toy_views", "2", "--model.tex_res", "16", "--model.channel_base", "256", "--model.channel_max", "32",
        "--model.K", "2", "--max_heldout_subjects", "0", "--threads", "2");
    const ck = fs.readdirSync(path.join(work, "run", "checkpoints")).sort().pop();
    model = path.join(work, "m.ffpk");
    run("export", "--model", path.join(work, "run", "checkpoints", ck), "--out", model, "--threads", "2");
    run("export", "--model", model, "--identity", "1", "--out", path.join(work, "face.ply"), "--threads", "2");
    run("export", "--model", model, "--identity", "1", "--out", path.join(work, "face.splat"), "--threads", "2");
  }
  const server = await serve(model, benchFit);
  const browser = await puppeteer.launch({
    executablePath: chromium, headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--user-data-dir=" + path.join(work, "chromium-profile")],
  });
  try {
    const page = await browser.newPage();
    const logs = [];
    page.on("console", (m) => logs.push(m.text()));
    page.on("pageerror", (e) => logs.push("pageerror: " + e.message));
    const S = benchModel ? size : 64;
    await page.setViewport({ width: S + 330, height: Math.max(S + 40, 560) });
    await page.goto(server.url + "?size=" + S, { waitUntil: "load" });
    await page.evaluate(() => window.ffviewer.ready);
    const state = await page.evaluate(() => window.ffviewer.state());
    console.log("page: " + JSON.stringify(state) + " at " + server.url);

    if (benchModel) {
      await page.evaluate(() => window.ffviewer.select(0, undefined, 0));
      await page.evaluate(() => window.ffviewer.benchmark(5));  // warm-up
      const r = await page.evaluate(() => window.ffviewer.benchmark(60));
      r.chromium = await browser.version();
      console.log(JSON.stringify(r));
      if (screens) {
        fs.mkdirSync(screens, { recursive: true });
        await page.evaluate(() => { window.ffviewer.select(0, undefined, 0); });
        await new Promise((res) => setTimeout(res, 300));
        await page.screenshot({ path: path.join(screens, "viewer_identity.png") });
        const n = state.names.length;
        await page.evaluate((b) => window.ffviewer.select(0, "i:" + b, 0.5), Math.min(1, n - 1));
        await new Promise((res) => setTimeout(res, 300));
        await page.screenshot({ path: path.join(screens, "viewer_blend.png") });
        if (state.fits.length) {
          for (const [t, name] of [[1, "viewer_fitted.png"], [0.5, "viewer_identity_to_fitted.png"]]) {
            await page.evaluate((tt) => window.ffviewer.select(0, "f:0", tt), t);
            await new Promise((res) => setTimeout(res, 300));
            await page.screenshot({ path: path.join(screens, name) });
          }
        }
      }
      return;
    }

    check(state.names.length === 2, "two identities listed: " + state.names.join(", "));
    check(/^1\.\d+ \(cpu\)$/.test(state.version), "runtime version " + state.version);
    // a camera in front of the face, a little to the side (floats exactly representable in float32 as printed)
    const cam = { viewmat: [0.9659258, 0, -0.2588190, 0.02, 0, -1, 0, 0.01, -0.2588190, 0, -0.9659258, 0.55, 0, 0, 0, 1],
                  fx: 150, fy: 150, cx: 32, cy: 30.5, width: 64, height: 60 };
    const f32 = (v) => String(Math.fround(v));
    const ref = path.join(work, "ref1.rgba");
    run("python_render_reference", model, 1, ref, cam.width, cam.height, f32(cam.fx), f32(cam.fy), f32(cam.cx),
        f32(cam.cy), ...cam.viewmat.map(f32));
    const native = fs.readFileSync(ref);
    const covered = native.filter((v, i) => i % 4 === 3 && v > 0).length;
    check(covered > 200, "the native render covers " + covered + " pixels");
    await page.evaluate(() => window.ffviewer.select(1, undefined, 0));
    const id1 = await page.evaluate((c) => window.ffviewer.renderCamera(c), cam);
    const d1 = meanDiff(id1, native);
    check(d1 <= 2, "page render of identity 1 vs the native runtime: mean |Δ| " + d1.toFixed(4) + "/255 (≤ 2)");
    // interpolation: t = 1 toward identity 1 is identity 1; t = 0.5 lies between identities 0 and 1
    await page.evaluate(() => window.ffviewer.select(0, "i:1", 1));
    const t1 = await page.evaluate((c) => window.ffviewer.renderCamera(c), cam);
    check(meanDiff(t1, id1) === 0, "slider at 1 toward identity 1 shows identity 1 exactly: mean |Δ| " +
          meanDiff(t1, id1).toFixed(4));
    await page.evaluate(() => window.ffviewer.select(0, undefined, 0));
    const id0 = await page.evaluate((c) => window.ffviewer.renderCamera(c), cam);
    await page.evaluate(() => window.ffviewer.select(0, "i:1", 0.5));
    const half = await page.evaluate((c) => window.ffviewer.renderCamera(c), cam);
    check(meanDiff(half, id0) > 0 && meanDiff(half, id1) > 0, "slider at 0.5 differs from both ends (" +
          meanDiff(half, id0).toFixed(3) + ", " + meanDiff(half, id1).toFixed(3) + ")");
    // screenshot: the canvas gives a PNG
    const png = await page.evaluate(() => document.getElementById("view").toDataURL("image/png").slice(0, 22));
    check(png === "data:image/png;base64,", "screenshot: the canvas encodes as PNG");
    if (screens) {
      fs.mkdirSync(screens, { recursive: true });
      await page.screenshot({ path: path.join(screens, "viewer_test_page.png") });
    }
    // drag-and-drop of a fitted face: fit.json + its face.ply together (here identity 1's code and Gaussians); the
    // fit joins picker B with the ply's positions, and at t = 1 shows identity 1
    const drop = (files) => page.evaluate((fs_) => {
      const dt = new DataTransfer();
      for (const [n, b] of fs_) dt.items.add(new File([Uint8Array.from(atob(b), (c) => c.charCodeAt(0))], n));
      document.getElementById("drop").dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true,
                                                                            cancelable: true }));
    }, files);
    const code1 = await page.evaluate(() => window.ffviewer.code(1));
    const fitJson = Buffer.from(JSON.stringify({ image: "photos/me.jpg", code: code1 })).toString("base64");
    await drop([["fit.json", fitJson], ["face.ply", fs.readFileSync(path.join(work, "face.ply")).toString("base64")]]);
    await page.waitForFunction(() => window.ffviewer.state().fits.length === 1, { timeout: 10000 });
    const st = await page.evaluate(() => window.ffviewer.state());
    const fitted = await page.evaluate((c) => window.ffviewer.renderCamera(c), cam);
    check(st.names.length === 2 && st.fits[0] === "me.jpg" && meanDiff(fitted, id1) === 0,
          "dropped fit.json + face.ply: the model stays, fit '" + st.fits[0] + "' at t = 1 shows identity 1 exactly " +
          "(mean |Δ| " + meanDiff(fitted, id1).toFixed(4) + ")");
    // drag-and-drop of a face.ply, then a .splat
    for (const [name, tol] of [["face.ply", 2], ["face.splat", 8]]) {
      await drop([[name, fs.readFileSync(path.join(work, name)).toString("base64")]]);
      try {
        await page.waitForFunction(() => window.ffviewer.state().names.length === 0, { timeout: 10000 });
      } catch (e) {
        throw new Error("the page did not take the dropped " + name + ": status '" +
                        (await page.evaluate(() => document.getElementById("status").textContent)) + "'");
      }
      const st = await page.evaluate(() => window.ffviewer.state());
      const got = await page.evaluate((c) => window.ffviewer.renderCamera(c), cam);
      const d = meanDiff(got, native);
      check(st.count > 0 && d <= tol, "dropped " + name + ": " + st.count + " Gaussians, vs identity 1 mean |Δ| " +
            d.toFixed(4) + "/255 (≤ " + tol + (name.endsWith(".splat") ? ", .splat quantises colour and rotation" : "") + ")");
      await page.goto(server.url + "?size=" + S, { waitUntil: "load" });
      await page.evaluate(() => window.ffviewer.ready);
    }
    const errors = logs.filter((l) => /error/i.test(l));
    check(errors.length === 0, "no errors on the page's console" + (errors.length ? ": " + errors.join(" | ") : ""));
    const fps = await page.evaluate(() => window.ffviewer.benchmark(20));
    console.log("info  " + fps.fps.toFixed(1) + " fps at " + fps.size + "² (" + fps.gaussians + " Gaussians)");
  } finally {
    await browser.close();
    server.proc.kill();
  }
  if (failures) {
    console.log(failures + " check(s) failed");
    process.exit(1);
  }
  if (!benchModel) fs.rmSync(work, { recursive: true, force: true });
  console.log(benchModel ? "bench done" : "all checks passed");
}
main().catch((e) => {
  console.error("FAIL: " + (e.stack || e));
  process.exit(1);
});
