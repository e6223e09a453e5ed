// Teleread's report editor: saves the draft as the specialist types (PUT
// with If-Match: the ETag of the version it started from), says plainly
// when someone else saved a newer draft meanwhile, signs after a
// confirmation, and signs addenda after signing. It calls the REST API
// with the session cookie and the CSRF header.
(function () {
  "use strict";
  function send(method, url, body, ifMatch) {
    var h = { "Content-Type": "application/json", "X-CSRF-Token": window.Teleread.csrf(), "Accept": "application/json" };
    if (ifMatch) { h["If-Match"] = ifMatch; }
    return fetch(url, { method: method, headers: h, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body) });
  }
  // reason is what went wrong in words: the problem+json detail and fields.
  function reason(resp) {
    return resp.json().then(function (p) {
      var s = p.detail || p.title || ("Error " + resp.status);
      if (p.fields) {
        s += " (" + Object.keys(p.fields).map(function (k) { return k.replace(/_/g, " ") + " " + p.fields[k]; }).join("; ") + ")";
      }
      return s;
    }, function () { return "The server answered " + resp.status + "."; });
  }
  function show(el, text) { if (!el) { return; } el.textContent = text || ""; el.hidden = !text; }

  var form = document.querySelector("[data-report]");
  if (form) {
    var api = form.getAttribute("data-api");
    var version = form.getAttribute("data-version");
    var saved = form.querySelector("[data-saved]");
    var conflict = form.querySelector("[data-conflict]");
    var errBox = form.querySelector("[data-error]");
    var timer = null, saving = null, dirty = false, current = null;

    var content = function () {
      var f = form.elements;
      var dx = [];
      if (f.dx_text.value.trim() !== "") {
        dx.push({ text: f.dx_text.value, system: f.dx_system.value, code: f.dx_code.value });
      }
      return { findings: f.findings.value, impression: f.impression.value, diagnoses: dx,
        recommendations: f.recommendations.value, follow_up_interval: f.follow_up_interval.value,
        critical: f.critical.checked };
    };
    var save = function () {
      if (saving) { return saving; }
      if (!conflict.hidden) { return Promise.resolve(false); }
      dirty = false;
      show(saved, "Saving…");
      saving = send("PUT", api, content(), version ? '"' + version + '"' : "").then(function (resp) {
        saving = null;
        if (resp.status === 412) {
          current = (resp.headers.get("ETag") || "").replace(/"/g, "");
          conflict.hidden = false;
          show(saved, "Not saved: someone else saved a newer draft.");
          return false;
        }
        if (!resp.ok) {
          return reason(resp).then(function (s) { show(errBox, "The draft was not saved: " + s); show(saved, "Not saved."); return false; });
        }
        version = (resp.headers.get("ETag") || "").replace(/"/g, "");
        show(errBox, "");
        show(saved, "Draft version " + version + " saved at " + new Date().toLocaleTimeString() + ".");
        if (dirty) { schedule(); }
        return true;
      }, function () {
        saving = null;
        show(saved, "Not saved: the server cannot be reached. It is tried again as you type.");
        return false;
      });
      return saving;
    };
    var schedule = function () {
      dirty = true;
      show(saved, "Unsaved changes…");
      clearTimeout(timer);
      timer = setTimeout(save, 1500);
    };
    form.addEventListener("input", schedule);
    form.addEventListener("change", schedule);
    form.addEventListener("submit", function (ev) { ev.preventDefault(); save(); });
    form.querySelector("[data-save]").addEventListener("click", function () { clearTimeout(timer); save(); });
    conflict.querySelector("[data-reload]").addEventListener("click", function () { location.reload(); });
    conflict.querySelector("[data-keep]").addEventListener("click", function () {
      version = current; conflict.hidden = true; clearTimeout(timer); save();
    });
    window.addEventListener("beforeunload", function (ev) {
      if (dirty || saving) { ev.preventDefault(); ev.returnValue = ""; }
    });

    var dialog = document.querySelector("[data-sign-dialog]");
    form.querySelector("[data-sign]").addEventListener("click", function () {
      var c = content();
      if (c.critical && c.recommendations.trim() === "") {
        show(errBox, "A critical result needs its explanation: say in Recommendations what is critical and what to do now.");
        form.elements.recommendations.focus();
        return;
      }
      dialog.querySelector("[data-critical-note]").hidden = !c.critical;
      if (dialog.showModal) { dialog.showModal(); } else if (window.confirm("Sign the report? It cannot be changed afterwards.")) { sign(); }
    });
    dialog.querySelector("[data-sign-no]").addEventListener("click", function () { dialog.close(); });
    var sign = function () {
      clearTimeout(timer);
      Promise.resolve(saving).then(save).then(function (ok) {
        if (!ok) { if (dialog.open) { dialog.close(); } return; }
        return send("POST", api + "/sign").then(function (resp) {
          if (dialog.open) { dialog.close(); }
          if (!resp.ok) { return reason(resp).then(function (s) { show(errBox, "The report was not signed: " + s); }); }
          dirty = false;
          location.reload();
        });
      });
    };
    dialog.querySelector("[data-sign-yes]").addEventListener("click", sign);
  }

  var fin = document.querySelector("[data-final]");
  if (fin) {
    fin.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (!window.confirm("Sign the report final? It is sent to the referring physician and cannot be changed.")) { return; }
      send("POST", fin.getAttribute("data-api") + "/sign").then(function (resp) {
        if (!resp.ok) { return reason(resp).then(function (s) { show(fin.querySelector("[data-error]"), "The report was not signed: " + s); }); }
        location.reload();
      });
    });
  }

  var add = document.querySelector("[data-addendum]");
  if (add) {
    add.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var box = add.querySelector("[data-error]");
      var text = add.elements.text.value;
      if (text.trim() === "") { show(box, "Write the addendum first."); return; }
      if (!window.confirm("Sign this addendum? It cannot be changed afterwards.")) { return; }
      send("POST", add.getAttribute("data-api") + "/addenda", { text: text }).then(function (resp) {
        if (!resp.ok) { return reason(resp).then(function (s) { show(box, "The addendum was not added: " + s); }); }
        location.reload();
      });
    });
  }
})();
