// Teleread pages: the little JavaScript every page shares.
(function () {
  "use strict";
  // The user's time zone, for the server to render times in.
  try {
    var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (tz && document.cookie.indexOf("teleread_tz=" + encodeURIComponent(tz)) < 0) {
      var reload = document.cookie.indexOf("teleread_tz=") < 0 && document.querySelector("[data-time]");
      document.cookie = "teleread_tz=" + encodeURIComponent(tz) + "; path=/; max-age=31536000; SameSite=Lax";
      if (reload) { location.reload(); }
    }
  } catch (e) { /* no Intl: times stay in UTC */ }

  var meta = document.querySelector('meta[name="csrf-token"]');
  window.Teleread = {
    // csrf is the session's CSRF token, for the X-CSRF-Token header.
    csrf: function () { return meta ? meta.content : ""; },
  };

  document.addEventListener("submit", function (ev) {
    var f = ev.target;
    var msg = f.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { ev.preventDefault(); return; }
    // A form is sent once.
    var b = f.querySelector("button[type=submit]");
    if (b && f.getAttribute("data-once") !== null) { b.disabled = true; }
  });
})();
