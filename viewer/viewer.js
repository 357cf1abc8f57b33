// viewer/viewer.js — the browser viewer's logic over facefield's C API compiled to WebAssembly (facefield.js +
// facefield.wasm, built by the target `viewer`; runtime/include/facefield.h is the API).
//
// What it shows: a model (model.ffpk from the server, or a dropped .ffpk/.ffck) decoded for identity A, or the blend
// (1 − t)·A + t·B of codes and positions where B is another identity or a fitted face (fits.json from the server:
// [{name, code, positions|null}], or a dropped fit.json [+ face.ply]); or fixed Gaussians from a dropped face.ply /
// .splat / Gaussian pack. The camera orbits the Gaussians' centroid (world y up, docs/conventions.md): yaw/pitch by
// dragging, distance by the wheel, pan with shift-drag. Renders are RGBA8 over black from ff_render (single-threaded
// WebAssembly), shown opaque.
//
// URL parameters: size=PX (canvas, default 512), model=URL (default model.ffpk), fits=URL (default fits.json).
// Test hooks (tests/viewer/test_browser.js): window.ffviewer = {ready (Promise), renderCamera(cam) → canvas RGBA of
// that camera, loadFile(name, Uint8Array), code(i), select(a, b, t), state(), benchmark(frames) → fps}.
"use strict";
(function () {
  const params = new URLSearchParams(location.search);
  const size = Math.max(16, Math.min(4096, parseInt(params.get("size") || "512", 10)));
  const canvas = document.getElementById("view");
  canvas.width = canvas.height = size;
  const ctx2d = canvas.getContext("2d");
  const $ = (id) => document.getElementById(id);
  const statusEl = $("status");
  let M = null;           // the WebAssembly module
  let model = 0;          // ff_model*
  let info = null;        // ff_model_info
  let names = [];         // identity names
  let fits = [];          // {name, code: Float32Array, positions: Float32Array|null}
  let gauss = 0;          // ff_gaussians* shown
  let renderer = 0;       // ff_renderer*
  let imgPtr = 0, imgBytes = 0;
  let centre = [0, 0, 0], radius = 0.1;
  const view = { yaw: 0, pitch: 0, zoom: 1, pan: [0, 0] };
  let dirty = true, lastMs = 0;

  function status(msg, isError) {
    statusEl.textContent = msg;
    statusEl.className = isError ? "error" : "";
  }
  function check(s, call) {
    if (s !== 0) throw new Error(call + ": " + M.UTF8ToString(M._ff_status_name(s)) + ": " +
                                 M.UTF8ToString(M._ff_last_error()));
  }
  // a pointer out-parameter
  function out(fn) {
    const p = M._malloc(4);
    try { fn(p); return M.HEAP32[p >> 2]; } finally { M._free(p); }
  }
  function withFloats(arr, fn) {
    if (!arr) return fn(0);
    const p = M._malloc(arr.length * 4);
    M.HEAPF32.set(arr, p >> 2);
    try { return fn(p); } finally { M._free(p); }
  }

  // ---- model and Gaussians ------------------------------------------------------------------------------------
  function closeModel() {
    if (model) M._ff_model_close(model);
    model = 0, info = null, names = [];
  }
  function openModelBytes(bytes, what) {
    const p = M._malloc(bytes.length);
    M.HEAPU8.set(bytes, p);
    let m;
    try { m = out((o) => check(M._ff_model_open_memory(p, bytes.length, 1, o), "open " + what)); }
    finally { M._free(p); }
    closeModel();
    model = m;
    const ip = M._malloc(24);
    check(M._ff_model_get_info(model, ip), "ff_model_get_info");
    const v = M.HEAP32.subarray(ip >> 2, (ip >> 2) + 6);
    info = { num_identities: v[0], code_dim: v[1], num_gaussians: v[2], has_generator: v[3] };
    M._free(ip);
    const buf = M._malloc(256);
    for (let i = 0; i < info.num_identities; ++i) {
      check(M._ff_model_identity_name(model, i, buf, 256), "ff_model_identity_name");
      names.push(M.UTF8ToString(buf) || "identity " + i);
    }
    M._free(buf);
    fits = fits.filter((f) => f.code.length === info.code_dim);
    fillPickers();
    decode();
    resetView();
  }
  // n floats that fill(ptr) writes into wasm memory, copied out
  function readFloats(n, fill) {
    const p = M._malloc(n * 4);
    try {
      fill(p);
      return M.HEAPF32.slice(p >> 2, (p >> 2) + n);
    } finally { M._free(p); }
  }
  const getCode = (i) => readFloats(info.code_dim, (p) =>
    check(M._ff_model_get_code(model, i, p, info.code_dim), "ff_model_get_code"));
  const getPositions = (i) => readFloats(info.num_gaussians * 3, (p) =>
    check(M._ff_model_get_positions(model, i, p, info.num_gaussians * 3), "ff_model_get_positions"));
  function setGaussians(g) {
    if (gauss) M._ff_gaussians_free(gauss);
    gauss = g;
    dirty = true;
  }
  // the choice of B: "i:N" an identity, "f:N" a fitted face
  function codeOf(choice) {
    const [kind, n] = choice.split(":");
    if (kind === "i") return { code: getCode(+n), positions: getPositions(+n) };
    const f = fits[+n];
    return { code: f.code, positions: f.positions || getPositions(-1) };
  }
  function decode() {
    if (!model) return;
    const t0 = performance.now();
    if (!info.has_generator) {
      setGaussians(out((o) => check(M._ff_decode_identity(model, 0, o), "ff_decode_identity")));
    } else {
      const t = parseFloat($("mix").value);
      $("mixval").textContent = t.toFixed(2);
      const a = +$("idA").value;
      if (t === 0) {
        setGaussians(out((o) => check(M._ff_decode_identity(model, a, o), "ff_decode_identity")));
      } else {
        const A = codeOf("i:" + a), B = codeOf($("idB").value);
        const code = A.code.map((v, k) => (1 - t) * v + t * B.code[k]);
        const pos = A.positions.map((v, k) => (1 - t) * v + t * B.positions[k]);
        setGaussians(withFloats(code, (cp) => withFloats(pos, (pp) =>
          out((o) => check(M._ff_decode_code(model, cp, code.length, pp, pos.length, o), "ff_decode_code")))));
      }
    }
    status(describe() + "\ndecoded in " + (performance.now() - t0).toFixed(0) + " ms");
  }
  function describe() {
    const n = gauss ? M._ff_gaussians_count(gauss) : 0;
    if (!model) return n + " Gaussians";
    return names.length + " identities, " + n + " Gaussians" + (info.has_generator ? ", code " + info.code_dim : "");
  }
  function measure() {  // centroid and radius of the shown Gaussians (for the orbit)
    const n = M._ff_gaussians_count(gauss);
    const p = M._malloc(Math.max(1, n) * 12);
    check(M._ff_gaussians_read(gauss, p, 0, 0, 0, 0), "ff_gaussians_read");
    const xyz = M.HEAPF32.subarray(p >> 2, (p >> 2) + 3 * n);
    const c = [0, 0, 0];
    for (let i = 0; i < n; ++i) for (let k = 0; k < 3; ++k) c[k] += xyz[3 * i + k] / n;
    let r = 1e-6;
    for (let i = 0; i < n; ++i) {
      const dx = xyz[3 * i] - c[0], dy = xyz[3 * i + 1] - c[1], dz = xyz[3 * i + 2] - c[2];
      r = Math.max(r, Math.sqrt(dx * dx + dy * dy + dz * dz));
    }
    M._free(p);
    centre = c, radius = r;
  }
  function resetView() {
    if (gauss) measure();
    view.yaw = 0, view.pitch = 0, view.zoom = 1, view.pan = [0, 0];
    dirty = true;
  }
  function fillPickers() {
    const A = $("idA"), B = $("idB");
    A.innerHTML = B.innerHTML = "";
    names.forEach((n, i) => {
      A.add(new Option(i + ": " + n, String(i)));
      B.add(new Option(i + ": " + n, "i:" + i));
    });
    fits.forEach((f, i) => B.add(new Option("fit: " + f.name, "f:" + i)));
    if (names.length > 1) B.value = "i:1";
    const on = model && info.has_generator;
    A.disabled = B.disabled = $("mix").disabled = !on;
  }

  // ---- camera and rendering -------------------------------------------------------------------------------------
  // world → camera (row-major 4×4, OpenCV axes) of an orbit about the centroid; f fills ~80 % of the image at zoom 1
  function orbitCamera() {
    const dist = 4 * radius / view.zoom, cy = Math.cos(view.pitch);
    const d = [Math.sin(view.yaw) * cy, Math.sin(view.pitch), Math.cos(view.yaw) * cy];
    const eye = [0, 1, 2].map((k) => centre[k] + dist * d[k]);
    const z = [-d[0], -d[1], -d[2]];
    let x = [-z[2], 0, z[0]];  // down × z with down = −y (core/geometry.cpp look_at)
    const xn = Math.hypot(x[0], x[1], x[2]) || 1;
    x = x.map((v) => v / xn);
    const y = [z[1] * x[2] - z[2] * x[1], z[2] * x[0] - z[0] * x[2], z[0] * x[1] - z[1] * x[0]];
    const R = [x, y, z];
    const V = [];
    for (let i = 0; i < 3; ++i) {
      const t = -(R[i][0] * eye[0] + R[i][1] * eye[1] + R[i][2] * eye[2]) + (i < 2 ? view.pan[i] * radius : 0);
      V.push(R[i][0], R[i][1], R[i][2], t);
    }
    V.push(0, 0, 0, 1);
    const f = 0.5 * size * 4 / 1.25;
    return { viewmat: V, fx: f, fy: f, cx: size / 2, cy: size / 2, width: size, height: size };
  }
  function renderCamera(cam) {
    const bytes = cam.width * cam.height * 4;
    if (bytes !== imgBytes) {
      if (imgPtr) M._free(imgPtr);
      imgPtr = M._malloc(bytes), imgBytes = bytes;
    }
    const cp = M._malloc(88);
    M.HEAPF32.set(cam.viewmat, cp >> 2);
    M.HEAPF32.set([cam.fx, cam.fy, cam.cx, cam.cy], (cp >> 2) + 16);
    M.HEAP32[(cp >> 2) + 20] = cam.width, M.HEAP32[(cp >> 2) + 21] = cam.height;
    try { check(M._ff_render(renderer, gauss, cp, 0, imgPtr, 0), "ff_render"); } finally { M._free(cp); }
    const px = new Uint8ClampedArray(M.HEAPU8.buffer, imgPtr, bytes).slice();
    for (let i = 3; i < bytes; i += 4) px[i] = 255;  // colour is over black: show it opaque
    if (canvas.width !== cam.width || canvas.height !== cam.height) canvas.width = cam.width, canvas.height = cam.height;
    ctx2d.putImageData(new ImageData(px, cam.width, cam.height), 0, 0);
  }
  function frame() {
    if (dirty && gauss && renderer) {
      const t0 = performance.now();
      try { renderCamera(orbitCamera()); } catch (e) { status(e.message, true); }
      lastMs = performance.now() - t0;
      dirty = false;
      $("version").textContent = M.UTF8ToString(M._ff_version()) + " · " + lastMs.toFixed(1) + " ms/frame";
    }
    requestAnimationFrame(frame);
  }

  // ---- input ----------------------------------------------------------------------------------------------------
  let drag = null;
  canvas.addEventListener("pointerdown", (e) => {
    drag = { x: e.clientX, y: e.clientY, pan: e.shiftKey };
    canvas.setPointerCapture(e.pointerId);
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    drag.x = e.clientX, drag.y = e.clientY;
    if (drag.pan) {
      view.pan[0] += 4 * dx / size, view.pan[1] += 4 * dy / size;
    } else {
      view.yaw -= dx * 0.01;
      view.pitch = Math.max(-1.5, Math.min(1.5, view.pitch + dy * 0.01));
    }
    dirty = true;
  });
  canvas.addEventListener("pointerup", () => { drag = null; });
  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    view.zoom = Math.max(0.2, Math.min(10, view.zoom * Math.exp(-e.deltaY * 0.001)));
    dirty = true;
  }, { passive: false });
  let pendingDecode = false;
  function decodeSoon() {
    $("mixval").textContent = parseFloat($("mix").value).toFixed(2);
    if (pendingDecode) return;
    pendingDecode = true;
    requestAnimationFrame(() => {
      pendingDecode = false;
      try { decode(); } catch (e) { status(e.message, true); }
    });
  }
  $("mix").addEventListener("input", decodeSoon);
  $("idA").addEventListener("change", decodeSoon);
  $("idB").addEventListener("change", decodeSoon);
  $("reset").addEventListener("click", resetView);
  $("shot").addEventListener("click", () => {
    canvas.toBlob((b) => {
      const a = document.createElement("a");
      a.href = URL.createObjectURL(b);
      a.download = "facefield_" + Date.now() + ".png";
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 1000);
    }, "image/png");
  });

  // ---- files: drop or test hook -------------------------------------------------------------------------------
  let droppedPly = null;  // a face.ply dropped with a fit.json: the fit's positions
  // positionsOnly: a face.ply dropped together with its fit.json only gives the fit its positions
  function loadFile(name, bytes, positionsOnly) {
    const lower = name.toLowerCase();
    if (lower.endsWith(".json")) {
      const j = JSON.parse(new TextDecoder().decode(bytes));
      if (!j.code) throw new Error(name + " has no identity code (fit_image ran without --model?)");
      if (!model || !info.has_generator || j.code.length !== info.code_dim)
        throw new Error(name + ": a fitted code needs the model it was fitted with (code_dim " + j.code.length + ")");
      fits.push({ name: j.image ? j.image.split("/").pop() : name, code: Float32Array.from(j.code),
                  positions: droppedPly });
      droppedPly = null;
      fillPickers();
      $("idB").value = "f:" + (fits.length - 1);
      $("mix").value = "1";
      decode();
      return;
    }
    if (lower.endsWith(".ffpk") || lower.endsWith(".ffck")) return openModelBytes(bytes, name);
    // .ply / .splat: fixed Gaussians
    const path = "/dropped" + (lower.endsWith(".ply") ? ".ply" : ".splat");
    M.FS.writeFile(path, bytes);
    const cpath = new TextEncoder().encode(path + "\0");
    const pp = M._malloc(cpath.length);
    M.HEAPU8.set(cpath, pp);
    let g;
    try { g = out((o) => check(M._ff_gaussians_load(pp, o), "load " + name)); } finally { M._free(pp); }
    M.FS.unlink(path);
    if (positionsOnly) {
      const n = M._ff_gaussians_count(g);
      const ok = model && info.has_generator && n === info.num_gaussians;
      if (ok) droppedPly = readFloats(n * 3, (p) => check(M._ff_gaussians_read(g, p, 0, 0, 0, 0), "read " + name));
      M._ff_gaussians_free(g);
      if (!ok) throw new Error(name + ": " + n + " Gaussians, not the model's " + (info ? info.num_gaussians : 0));
      return;
    }
    closeModel();
    fillPickers();
    setGaussians(g);
    resetView();
    status(name + ": " + describe());
  }
  const drop = $("drop");
  for (const el of [drop, canvas, document.body]) {
    el.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
    el.addEventListener("dragleave", () => drop.classList.remove("over"));
    el.addEventListener("drop", async (e) => {
      e.preventDefault();
      e.stopPropagation();
      drop.classList.remove("over");
      // a face.ply before its fit.json, so the fit gets the positions
      const files = Array.from(e.dataTransfer.files).sort((a, b) => a.name.endsWith(".json") - b.name.endsWith(".json"));
      const withFit = files.some((f) => f.name.endsWith(".json"));
      for (const f of files) {
        try {
          loadFile(f.name, new Uint8Array(await f.arrayBuffer()), withFit && f.name.toLowerCase().endsWith(".ply"));
        } catch (err) { status(err.message, true); }
      }
    });
  }

  // ---- start ----------------------------------------------------------------------------------------------------
  async function fetchBytes(url) {
    const r = await fetch(url);
    if (!r.ok) return null;
    return new Uint8Array(await r.arrayBuffer());
  }
  const ready = (async () => {
    M = await createFacefield();
    renderer = out((o) => check(M._ff_renderer_create(1, o), "ff_renderer_create"));
    $("version").textContent = M.UTF8ToString(M._ff_version());
    try {
      const fj = await fetchBytes(params.get("fits") || "fits.json");
      if (fj) fits = JSON.parse(new TextDecoder().decode(fj)).map((f) => ({
        name: f.name, code: Float32Array.from(f.code), positions: f.positions ? Float32Array.from(f.positions) : null }));
    } catch (e) { status("fits.json: " + e.message, true); }
    const bytes = await fetchBytes(params.get("model") || "model.ffpk");
    if (bytes) openModelBytes(bytes, "model.ffpk");
    else status("no model served: drop a .ffpk / .ffck / face.ply / .splat here");
    requestAnimationFrame(frame);
  })();
  ready.catch((e) => status(e.message || String(e), true));

  window.ffviewer = {
    ready,
    renderCamera(cam) {  // the canvas's RGBA after rendering cam (test hook)
      renderCamera(cam);
      return Array.from(ctx2d.getImageData(0, 0, cam.width, cam.height).data);
    },
    loadFile(name, bytes) { loadFile(name, Uint8Array.from(bytes)); return describe(); },
    code(i) { return Array.from(getCode(i)); },
    select(a, b, t) {
      $("idA").value = String(a);
      if (b !== undefined) $("idB").value = b;
      $("mix").value = String(t || 0);
      decode();
    },
    state() { return { names, fits: fits.map((f) => f.name), count: gauss ? M._ff_gaussians_count(gauss) : 0,
                       version: M.UTF8ToString(M._ff_version()) }; },
    benchmark(frames) {  // fps of the orbit render + display at the canvas size
      const t0 = performance.now();
      for (let i = 0; i < frames; ++i) {
        view.yaw = 2 * Math.PI * i / frames;
        renderCamera(orbitCamera());
      }
      const s = (performance.now() - t0) / 1000;
      view.yaw = 0, dirty = true;
      return { frames, seconds: s, fps: frames / s, size, gaussians: M._ff_gaussians_count(gauss) };
    },
  };
})();
