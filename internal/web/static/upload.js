// Teleread case page: upload many files or a whole folder through the REST
// API with the session cookie and the X-CSRF-Token header. Small files go
// in one POST /api/v1/cases/{id}/files each (multipart); large ones (above 32 MiB) through
// the presigned path: POST .../uploads (with the file's SHA-256, computed
// here in slices), PUT the bytes or each part to object storage, then POST
// .../complete. Each file has its progress bar, the whole batch one more;
// the quality warnings of a photo are shown as soon as it is in.
(function () {
  "use strict";
  var box = document.getElementById("upload");
  if (!box) { return; }
  var caseID = box.getAttribute("data-case");
  var api = "/api/v1/cases/" + caseID;
  var LARGE = 32 * 1024 * 1024;
  var list = document.getElementById("uploads");
  var overall = document.getElementById("overall");
  var overallBar = document.getElementById("overall-bar");
  var overallText = document.getElementById("overall-text");
  var done = document.getElementById("upload-done");
  var zone = document.getElementById("dropzone");
  var queue = [], running = 0, PARALLEL = 3, total = 0, sent = {};

  function csrf() { return window.Teleread ? window.Teleread.csrf() : ""; }

  function add(files) {
    for (var i = 0; i < files.length; i++) {
      var f = files[i];
      if (f.name.charAt(0) === ".") { continue; } // .DS_Store and the like
      var item = row(f);
      queue.push(item);
      total += f.size;
    }
    overall.hidden = false;
    done.hidden = true;
    pump();
  }

  function row(f) {
    var li = document.createElement("li");
    var name = document.createElement("span");
    name.textContent = f.webkitRelativePath || f.name;
    var bar = document.createElement("progress");
    bar.max = 100; bar.value = 0;
    bar.setAttribute("aria-label", "Upload of " + (f.webkitRelativePath || f.name));
    var state = document.createElement("span");
    state.textContent = "waiting";
    var msg = document.createElement("div");
    msg.className = "msg";
    li.appendChild(name); li.appendChild(bar); li.appendChild(state); li.appendChild(msg);
    list.appendChild(li);
    return { file: f, li: li, bar: bar, state: state, msg: msg, id: Math.random().toString(36).slice(2) };
  }

  function progress(item, bytes) {
    sent[item.id] = bytes;
    item.bar.value = item.file.size ? Math.min(100, Math.floor(bytes * 100 / item.file.size)) : 100;
    var s = 0;
    for (var k in sent) { s += sent[k]; }
    var pct = total ? Math.min(100, Math.floor(s * 100 / total)) : 100;
    overallBar.value = pct;
    overallText.textContent = pct + "%";
  }

  function pump() {
    while (running < PARALLEL && queue.length) {
      var item = queue.shift();
      running++;
      (item.file.size > LARGE ? large(item) : small(item)).then(function () {}, function () {}).then(function () {
        running--;
        if (!running && !queue.length) { finished(); }
        pump();
      });
    }
  }

  function finished() {
    overallBar.value = 100;
    overallText.textContent = "100%";
    done.hidden = false;
  }

  // xhr sends one request with upload progress; it resolves with the
  // status and the parsed JSON answer.
  function xhr(method, url, body, headers, onProgress) {
    return new Promise(function (resolve, reject) {
      var r = new XMLHttpRequest();
      r.open(method, url);
      for (var h in headers) { r.setRequestHeader(h, headers[h]); }
      if (onProgress) { r.upload.onprogress = function (e) { onProgress(e.loaded); }; }
      r.onload = function () {
        var js = null;
        try { js = JSON.parse(r.responseText); } catch (e) { js = null; }
        resolve({ status: r.status, body: js, xhr: r });
      };
      r.onerror = function () { reject(new Error("the connection failed")); };
      r.send(body);
    });
  }

  function apiHeaders(extra) {
    var h = { "X-CSRF-Token": csrf(), "Idempotency-Key": uid() };
    for (var k in extra) { h[k] = extra[k]; }
    return h;
  }

  function uid() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    return Date.now().toString(16) + Math.random().toString(16).slice(2);
  }

  // small sends one file as multipart/form-data (the server tells DICOM
  // from photos by their bytes, whatever the file is named); body_site and
  // dermoscopic come before the file, so they apply to it.
  function small(item) {
    item.state.textContent = "sending";
    var fd = new FormData();
    var site = document.getElementById("body_site").value;
    if (site) { fd.append("body_site", site); }
    fd.append("dermoscopic", document.getElementById("dermoscopic").checked ? "true" : "false");
    fd.append("file", item.file, item.file.name);
    return xhr("POST", api + "/files", fd, apiHeaders({}), function (n) { progress(item, Math.min(n, item.file.size)); })
      .then(function (res) { answer(item, res); }, function (err) { fail(item, err.message); });
  }

  // answer shows the outcome of one file: accepted (with its quality
  // warnings), duplicate, or the reason it was refused.
  function answer(item, res) {
    progress(item, item.file.size);
    var b = res.body || {};
    var fr = b.files && b.files[0];
    if (!fr && b.details && b.details.length) { fr = b.details[0]; }
    if (res.status >= 200 && res.status < 300 && fr && fr.status === "accepted") {
      item.state.textContent = fr.file && fr.file.duplicate ? "already there" : "done";
      var ws = (fr.file && fr.file.warnings) || [];
      if (ws.length) {
        item.msg.className = "msg warn";
        item.msg.textContent = "Quality: " + ws.map(function (w) { return w.message; }).join("; ");
      }
      return;
    }
    fail(item, (fr && fr.reason) || b.detail || ("the server answered " + res.status));
  }

  function fail(item, why) {
    item.state.textContent = "refused";
    item.msg.className = "msg bad";
    item.msg.textContent = why;
    item.bar.value = 0;
  }

  function large(item) {
    item.state.textContent = "checking";
    return sha256File(item.file, function (n) { item.state.textContent = "checking " + Math.floor(n * 100 / item.file.size) + "%"; })
      .then(function (sum) {
        var body = JSON.stringify({ filename: item.file.name, size: item.file.size, sha256: sum,
          content_type: item.file.type || "application/octet-stream" });
        return xhr("POST", api + "/uploads", body, apiHeaders({ "Content-Type": "application/json" }));
      })
      .then(function (res) {
        if (res.status !== 201 && res.status !== 200) {
          throw new Error((res.body && res.body.detail) || "the upload could not start (" + res.status + ")");
        }
        item.state.textContent = "sending";
        var up = res.body;
        if (up.url) {
          return put(up.url, item.file, function (n) { progress(item, n); }).then(function () { return up; });
        }
        return parts(item, up.multipart).then(function () { return up; });
      })
      .then(function (up) {
        item.state.textContent = "checking on the server";
        return xhr("POST", api + "/uploads/" + up.id + "/complete", null, apiHeaders({}));
      })
      .then(function (res) { answer(item, res); }, function (err) { fail(item, err.message); });
  }

  function put(url, blob, onProgress) {
    return xhr("PUT", url, blob, {}, onProgress).then(function (res) {
      if (res.status < 200 || res.status >= 300) { throw new Error("object storage refused the bytes (" + res.status + ")"); }
    });
  }

  // parts sends the missing parts of a multipart upload, two at a time.
  function parts(item, mp) {
    var todo = (mp.missing || []).slice();
    var size = mp.part_size, doneBytes = 0, inflight = {};
    (mp.arrived || []).forEach(function (p) { doneBytes += p.size; });
    function report() {
      var s = doneBytes;
      for (var k in inflight) { s += inflight[k]; }
      progress(item, s);
    }
    function next() {
      var p = todo.shift();
      if (!p) { return Promise.resolve(); }
      var start = (p.part_number - 1) * size;
      var blob = item.file.slice(start, start + p.size);
      return put(p.url, blob, function (n) { inflight[p.part_number] = n; report(); }).then(function () {
        delete inflight[p.part_number];
        doneBytes += p.size;
        report();
        return next();
      });
    }
    return Promise.all([next(), next()]);
  }

  // Drag and drop: files, and folders through DataTransfer items.
  zone.addEventListener("dragover", function (e) { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
  zone.addEventListener("drop", function (e) {
    e.preventDefault();
    zone.classList.remove("over");
    var items = e.dataTransfer.items;
    if (items && items.length && items[0].webkitGetAsEntry) {
      var entries = [];
      for (var i = 0; i < items.length; i++) {
        var en = items[i].webkitGetAsEntry();
        if (en) { entries.push(en); }
      }
      walk(entries).then(add);
      return;
    }
    add(e.dataTransfer.files);
  });

  function walk(entries) {
    return Promise.all(entries.map(function (en) {
      if (en.isFile) {
        return new Promise(function (res) { en.file(function (f) { res([f]); }, function () { res([]); }); });
      }
      return readDir(en.createReader()).then(walk);
    })).then(function (lists) { return [].concat.apply([], lists); });
  }

  function readDir(reader) {
    return new Promise(function (res) {
      var all = [];
      (function more() {
        reader.readEntries(function (batch) {
          if (!batch.length) { res(all); return; }
          all = all.concat(Array.prototype.slice.call(batch));
          more();
        }, function () { res(all); });
      })();
    });
  }

  document.getElementById("pick-files").addEventListener("change", function (e) { add(e.target.files); e.target.value = ""; });
  document.getElementById("pick-folder").addEventListener("change", function (e) { add(e.target.files); e.target.value = ""; });

  // sha256File hashes a file in 8 MiB slices, never holding it whole.
  function sha256File(file, onProgress) {
    var h = sha256(), CH = 8 * 1024 * 1024, off = 0;
    function step() {
      if (off >= file.size) { return Promise.resolve(h.hex()); }
      var end = Math.min(file.size, off + CH);
      return file.slice(off, end).arrayBuffer().then(function (buf) {
        h.update(new Uint8Array(buf));
        off = end;
        onProgress(off);
        return step();
      });
    }
    return step();
  }

  // sha256 is an incremental SHA-256 (FIPS 180-4).
  function sha256() {
    var K = new Uint32Array([
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
      0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
      0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
      0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
      0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
      0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
      0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);
    var H = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
    var W = new Uint32Array(64), buf = new Uint8Array(64), used = 0, len = 0;
    function block(b, o) {
      for (var i = 0; i < 16; i++) { W[i] = (b[o + 4 * i] << 24) | (b[o + 4 * i + 1] << 16) | (b[o + 4 * i + 2] << 8) | b[o + 4 * i + 3]; }
      for (i = 16; i < 64; i++) {
        var x = W[i - 15], y = W[i - 2];
        var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
      }
      var a = H[0], bb = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
      for (i = 0; i < 64; i++) {
        var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        var t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
        var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        var t2 = (S0 + ((a & bb) ^ (a & c) ^ (bb & c))) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = bb; bb = a; a = (t1 + t2) | 0;
      }
      H[0] += a; H[1] += bb; H[2] += c; H[3] += d; H[4] += e; H[5] += f; H[6] += g; H[7] += h;
    }
    return {
      update: function (data) {
        var i = 0;
        len += data.length;
        if (used) {
          while (used < 64 && i < data.length) { buf[used++] = data[i++]; }
          if (used < 64) { return; }
          block(buf, 0); used = 0;
        }
        for (; i + 64 <= data.length; i += 64) { block(data, i); }
        while (i < data.length) { buf[used++] = data[i++]; }
      },
      hex: function () {
        var bits = len * 8;
        var pad = new Uint8Array(((used < 56) ? 56 : 120) - used + 8);
        pad[0] = 0x80;
        var hi = Math.floor(bits / 0x100000000), lo = bits >>> 0;
        var n = pad.length;
        pad[n - 8] = hi >>> 24; pad[n - 7] = hi >>> 16; pad[n - 6] = hi >>> 8; pad[n - 5] = hi;
        pad[n - 4] = lo >>> 24; pad[n - 3] = lo >>> 16; pad[n - 2] = lo >>> 8; pad[n - 1] = lo;
        len -= 0; // the length is final
        var l = len;
        this.update(pad);
        len = l;
        var out = "";
        for (var i = 0; i < 8; i++) { out += ("00000000" + (H[i] >>> 0).toString(16)).slice(-8); }
        return out;
      },
    };
  }
})();
