// Dolbom console: small enhancements only; every page works without it.
"use strict";
document.addEventListener("submit", function (ev) {
  var button = ev.submitter;
  var question = button && button.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    ev.preventDefault();
  }
});

// ---- the dispatcher's live queue and incident page ----
(function () {
  var lang = document.documentElement.lang === "en" ? "en" : "ko";

  function waited(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, sec = s % 60;
    var pad = function (n) { return n < 10 ? "0" + n : "" + n; };
    if (lang === "en") {
      if (h > 0) { return h + "h " + pad(m) + "m"; }
      if (m > 0) { return m + "m " + pad(sec) + "s"; }
      return sec + "s";
    }
    if (h > 0) { return h + "시간 " + m + "분"; }
    if (m > 0) { return m + "분 " + sec + "초"; }
    return sec + "초";
  }

  // The time since each emergency began, ticking. It goes on after an
  // acknowledgement (someone took it; the emergency is not over); a row
  // nobody has taken turns red after a minute.
  function tick() {
    var now = Date.now();
    var els = document.querySelectorAll(".waited[data-since]");
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      var until = el.getAttribute("data-until");
      var end = until ? Number(until) : now;
      el.textContent = waited(end - Number(el.getAttribute("data-since")));
      var row = el.closest("tr");
      if (row) { row.classList.toggle("late", !row.classList.contains("st-acknowledged") && end - Number(el.getAttribute("data-since")) > 60000); }
    }
  }
  tick();
  setInterval(tick, 1000);

  // The alarm: a short two-tone beep made with the Web Audio API (no sound
  // file), and a flash. Browsers start audio only after a gesture, so the
  // page asks for one click ("turn alarm sound on") and remembers it.
  var audio = null;
  var wantSound = window.localStorage && localStorage.getItem("dolbom-sound") === "on";
  function startAudio() {
    var AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) { return; }
    if (!audio) { audio = new AC(); }
    if (audio.state === "suspended") { audio.resume(); }
  }
  function beep() {
    if (!audio || audio.state !== "running") { return false; }
    var t = audio.currentTime;
    [[880, 0], [660, 0.22], [880, 0.44]].forEach(function (n) {
      var osc = audio.createOscillator(), gain = audio.createGain();
      osc.type = "square";
      osc.frequency.value = n[0];
      gain.gain.setValueAtTime(0.0001, t + n[1]);
      gain.gain.exponentialRampToValueAtTime(0.25, t + n[1] + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + n[1] + 0.18);
      osc.connect(gain).connect(audio.destination);
      osc.start(t + n[1]);
      osc.stop(t + n[1] + 0.2);
    });
    return true;
  }
  function soundButton() {
    var b = document.getElementById("sound");
    if (!b) { return; }
    var show = function () {
      var on = wantSound && audio && audio.state === "running";
      b.classList.toggle("on", !!on);
      if (on) { b.textContent = b.getAttribute("data-text-active"); }
    };
    b.addEventListener("click", function () {
      wantSound = true;
      if (window.localStorage) { localStorage.setItem("dolbom-sound", "on"); }
      startAudio();
      setTimeout(function () { beep(); show(); }, 50);
    });
    if (wantSound) {
      startAudio();
      // Resumes only after a gesture in most browsers: take the first one.
      var resume = function () { startAudio(); setTimeout(show, 50); };
      document.addEventListener("pointerdown", resume, { once: true });
      document.addEventListener("keydown", resume, { once: true });
      setTimeout(show, 200);
    }
  }

  var alarms = 0;
  function alarm(id) {
    alarms++;
    document.body.setAttribute("data-alarms", String(alarms));
    if (wantSound) { beep(); }
    document.body.classList.remove("flash");
    void document.body.offsetWidth; // restart the animation
    document.body.classList.add("flash");
    var row = id && document.querySelector('tr[data-id="' + CSS.escape(id) + '"]');
    if (row) { row.classList.add("new"); }
  }

  function live(el, on) {
    if (!el) { return; }
    el.classList.toggle("off", !on);
    el.textContent = el.getAttribute(on ? "data-text-live" : "data-text-dead");
  }

  function queue(table) {
    var tbody = document.getElementById("queue-rows");
    var banner = document.getElementById("p1-banner");
    var liveEl = document.getElementById("live");
    var alarmed = {};
    var fresh = {};
    var pending = null;

    function banners() {
      var any = tbody.querySelector("tr.alarm");
      if (banner) { banner.hidden = !any; }
      document.body.classList.toggle("p1-waiting", !!any);
    }
    // The tabs' sizes: "emergencies,devices".
    function counts(header) {
      var n = (header || "").split(",");
      var e = document.getElementById("count-emergency"), d = document.getElementById("count-devices");
      if (n.length === 2 && e && d) { e.textContent = n[0]; d.textContent = n[1]; }
    }
    function refresh() {
      if (pending) { return; }
      pending = setTimeout(function () {
        pending = null;
        fetch(table.getAttribute("data-rows"), { credentials: "same-origin", headers: { "Accept": "text/html" } })
          .then(function (r) {
            if (!r.ok) { throw new Error(r.status); }
            counts(r.headers.get("X-Queue-Counts"));
            return r.text();
          })
          .then(function (html) {
            tbody.innerHTML = html;
            for (var id in fresh) {
              var row = tbody.querySelector('tr[data-id="' + CSS.escape(id) + '"]');
              if (row) { row.classList.add("new"); }
            }
            tick();
            banners();
          })
          .catch(function () { live(liveEl, false); });
      }, 100);
    }

    var rows = tbody.querySelectorAll("tr.alarm");
    for (var i = 0; i < rows.length; i++) { alarmed[rows[i].getAttribute("data-id")] = true; }
    banners();
    if (rows.length) { alarm(""); }

    var es = new EventSource(table.getAttribute("data-stream") + "?last_event_id=" + encodeURIComponent(table.getAttribute("data-seq") || "0"));
    es.onopen = function () { live(liveEl, true); };
    es.onerror = function () { live(liveEl, false); };
    es.addEventListener("incident", function (ev) {
      var inc;
      try { inc = JSON.parse(ev.data); } catch (e) { return; }
      var waiting = inc.state === "open" || inc.state === "verifying" || inc.state === "notified";
      // Device health is a technician's matter: it never sounds the alarm.
      if (inc.priority === 1 && waiting && inc.class !== "device_health" && !alarmed[inc.id]) {
        alarmed[inc.id] = true;
        fresh[inc.id] = true;
        alarm(inc.id);
      }
      refresh();
    });
    // Too far behind (a long disconnection): the rows are read again; the
    // active incidents follow as events.
    es.addEventListener("reset", function () { refresh(); });
    // An unanswered P1 keeps sounding every 20 s.
    setInterval(function () {
      if (tbody.querySelector("tr.alarm") && wantSound) { beep(); }
    }, 20000);
    // A whole row opens its incident (tablet: a big target).
    tbody.addEventListener("click", function (ev) {
      var row = ev.target.closest("tr[data-href]");
      if (row && !ev.target.closest("a, button, input, select, textarea")) { window.location.href = row.getAttribute("data-href"); }
    });
  }

  // The incident page follows its incident: another dispatcher's action,
  // a guardian's answer or 119's status reloads it, unless the person is
  // typing.
  function incident(head) {
    var id = head.getAttribute("data-id");
    var es = new EventSource(head.getAttribute("data-stream") + "?last_event_id=" + encodeURIComponent(head.getAttribute("data-seq") || "0"));
    es.addEventListener("incident", function (ev) {
      var inc;
      try { inc = JSON.parse(ev.data); } catch (e) { return; }
      if (inc.id !== id) { return; }
      var a = document.activeElement;
      var typing = a && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName) && a.value;
      if (!typing) { es.close(); window.location.reload(); }
    });
    // Too far behind to know whether this incident changed: reload.
    es.addEventListener("reset", function () {
      var a = document.activeElement;
      var typing = a && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName) && a.value;
      if (!typing) { es.close(); window.location.reload(); }
    });
  }

  soundButton();
  var table = document.getElementById("queue");
  if (table && table.getAttribute("data-stream")) { queue(table); }
  var head = document.getElementById("incident");
  if (head && head.getAttribute("data-stream")) { incident(head); }
})();
