// Teleread's photo viewer: zoom and pan (wheel, drag, + / - and arrow
// keys, 0 to reset), full screen (Fullscreen API), and earlier photos of
// the same body site side by side, moving together when "Move together"
// is ticked.
(function () {
  "use strict";
  var stage = document.querySelector("[data-photoviewer]");
  if (!stage) { return; }
  var panes = Array.prototype.slice.call(stage.querySelectorAll(".pv-pane"));
  var sync = document.querySelector('[data-pv="sync"]');
  var views = panes.map(function (pane) {
    return { pane: pane, img: pane.querySelector("img"), s: 1, x: 0, y: 0 };
  });
  var active = views[0];

  function apply(v) {
    v.img.style.transform = "translate(" + v.x + "px," + v.y + "px) scale(" + v.s + ")";
  }
  function targets(v) { return sync && sync.checked ? views : [v]; }
  function zoom(v, factor, cx, cy) {
    targets(v).forEach(function (t) {
      var s = Math.min(16, Math.max(1, t.s * factor));
      var k = s / t.s;
      // Keep the point under the cursor (or the centre) where it is.
      var r = t.pane.querySelector(".pv-frame").getBoundingClientRect();
      var px = (cx === undefined ? r.width / 2 : cx) - r.width / 2;
      var py = (cy === undefined ? r.height / 2 : cy) - r.height / 2;
      t.x = px - (px - t.x) * k; t.y = py - (py - t.y) * k; t.s = s;
      if (s === 1) { t.x = 0; t.y = 0; }
      apply(t);
    });
  }
  function pan(v, dx, dy) {
    targets(v).forEach(function (t) { t.x += dx; t.y += dy; apply(t); });
  }
  function reset(v) {
    targets(v).forEach(function (t) { t.s = 1; t.x = 0; t.y = 0; apply(t); });
  }
  function full() {
    var el = stage;
    if (document.fullscreenElement) { document.exitFullscreen(); return; }
    if (el.requestFullscreen) { el.requestFullscreen().catch(function () {}); }
  }

  views.forEach(function (v) {
    var frame = v.pane.querySelector(".pv-frame");
    v.pane.addEventListener("focus", function () { active = v; });
    frame.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      active = v;
      var r = frame.getBoundingClientRect();
      zoom(v, ev.deltaY < 0 ? 1.2 : 1 / 1.2, ev.clientX - r.left, ev.clientY - r.top);
    }, { passive: false });
    var drag = null;
    frame.addEventListener("pointerdown", function (ev) {
      active = v;
      drag = { x: ev.clientX, y: ev.clientY };
      frame.setPointerCapture(ev.pointerId);
      frame.classList.add("dragging");
    });
    frame.addEventListener("pointermove", function (ev) {
      if (!drag) { return; }
      pan(v, ev.clientX - drag.x, ev.clientY - drag.y);
      drag = { x: ev.clientX, y: ev.clientY };
    });
    function end() { drag = null; frame.classList.remove("dragging"); }
    frame.addEventListener("pointerup", end);
    frame.addEventListener("pointercancel", end);
    frame.addEventListener("dblclick", function () { reset(v); });
  });

  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) { return; }
    var step = 40;
    switch (ev.key) {
      case "+": case "=": zoom(active, 1.25); break;
      case "-": case "_": zoom(active, 0.8); break;
      case "0": reset(active); break;
      case "f": case "F": full(); break;
      case "ArrowLeft": if (!stage.contains(t)) { return; } pan(active, step, 0); break;
      case "ArrowRight": if (!stage.contains(t)) { return; } pan(active, -step, 0); break;
      case "ArrowUp": if (!stage.contains(t)) { return; } pan(active, 0, step); break;
      case "ArrowDown": if (!stage.contains(t)) { return; } pan(active, 0, -step); break;
      default: return;
    }
    ev.preventDefault();
  });

  document.querySelectorAll("[data-pv]").forEach(function (b) {
    var what = b.getAttribute("data-pv");
    if (what === "sync") { return; }
    b.addEventListener("click", function () {
      if (what === "in") { zoom(active, 1.25); }
      if (what === "out") { zoom(active, 0.8); }
      if (what === "reset") { reset(active); }
      if (what === "full") { full(); }
    });
  });
  document.addEventListener("fullscreenchange", function () {
    stage.classList.toggle("pv-full", document.fullscreenElement === stage);
  });
})();
