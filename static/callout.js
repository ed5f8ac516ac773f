/*! Callout snippet: identifies the user, asks the Callout API which experiences to show on
 * this page and renders them (banner, tooltip, tour, checklist) in a Shadow DOM.
 * Plain JavaScript, no dependencies; pages embed its minified build, callout.min.js
 * (scripts/build-snippet). Never throws into the host page: every problem goes to
 * console.warn. Embed and API: docs/api.md. Content format: docs/experiences.md.
 */
(function (window, document) {
  "use strict";
  var stub = window.Callout;
  if (stub && stub.loaded) return;

  var script = document.currentScript;
  // Percent-encoded URLs longer than this go by POST (see page()): with the key, the id and
  // user_hash the request line stays under gunicorn's 8,190 bytes.
  var LONG_URL = 6000;
  var state = {
    key: null,
    host: script && script.src ? script.src.replace(/\/static\/callout(\.min)?\.js.*$/, "") : "",
    user: null, // {id, user_hash}
    url: null,
    seq: 0,
    mounted: {}, // experience id -> {exp, destroy(), esc()}
    closed: {}, // experience id -> "again" | "never" (see closedFor)
    shadow: null,
    preview: false, // the editor's live preview (Callout.preview)
    layer: null,
    root: null, // our host element, which carries the theme
    edges: {}, // "top" / "bottom" -> the stack of banners at that edge (see edge())
    escStack: []
  };

  // --- Languages: BCP 47 lookup, as experiences/languages.py best_match ----------------

  // The first wanted tag, or a shorter prefix of it ("pt-BR", then "pt"), that is available,
  // ignoring case; a single-letter subtag (an extension's) never ends a prefix.
  function bestLanguage(available, wanted) {
    for (var i = 0; i < wanted.length; i++) {
      var parts = String(wanted[i]).replace(/_/g, "-").toLowerCase().split("-");
      for (; parts.length; parts.pop()) {
        if (parts.length > 1 && parts[parts.length - 1].length < 2) continue;
        for (var j = 0; j < available.length; j++) {
          if (available[j].toLowerCase() === parts.join("-")) return available[j];
        }
      }
    }
    return null;
  }

  // The content with the user's language's texts; a text without a translation stays the
  // default one, and so does everything when the user's language is the default or unknown.
  function localised(exp) {
    var content = exp.content || {};
    if (!exp.translations) return content;
    var locale = state.user && state.user.locale;
    var wanted = locale ? [locale] : navigator.languages || [navigator.language || ""];
    var tag = bestLanguage([exp.language].concat(Object.keys(exp.translations)), wanted);
    var texts = tag && exp.translations[tag];
    if (!texts) return content;
    content = JSON.parse(JSON.stringify(content));
    for (var path in texts) {
      var keys = path.split("."), last = keys.pop(), target = content;
      while (target && keys.length) target = target[keys.shift()];
      if (target && typeof target[last] === "string" && texts[path]) target[last] = texts[path];
    }
    return content;
  }

  function warn(message) {
    try {
      window.console && console.warn("Callout: " + message);
    } catch (e) { /* a console that throws is not our problem */ }
  }

  function safe(fn) {
    return function () {
      try {
        return fn.apply(this, arguments);
      } catch (e) {
        warn((e && e.message) || String(e));
      }
    };
  }

  // --- API ---------------------------------------------------------------------------

  function call(method, path, body, query) {
    if (!window.fetch) {
      warn("this browser has no fetch(); experiences are not shown.");
      return Promise.resolve(null);
    }
    var url = state.host + "/api/v1/" + path;
    if (query) {
      url += "?" + Object.keys(query).filter(function (k) { return query[k] != null; })
        .map(function (k) { return encodeURIComponent(k) + "=" + encodeURIComponent(query[k]); })
        .join("&");
    }
    // A string body goes as text/plain: a "simple" request, so no CORS preflight. Events may
    // still be in flight when the page goes away: keepalive lets them finish.
    var keepalive = path === "events" || path === "track";
    var options = { method: method, credentials: "omit", mode: "cors", keepalive: keepalive };
    if (body) options.body = typeof body === "string" ? body : JSON.stringify(body);
    return window.fetch(url, options).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (data) {
        if (response.ok) return data;
        var error = data && data.error;
        warn((error && error.message) || "the API answered " + response.status + " for " + path + ".");
        return null;
      });
    }).catch(function (e) {
      warn("cannot reach " + state.host + " (" + ((e && e.message) || e) + ").");
      return null;
    });
  }

  function credentials() {
    var c = { key: state.key, id: state.user.id };
    if (state.user.user_hash) c.user_hash = state.user.user_hash;
    return c;
  }

  // Events go one after another, in the order they happened (a tour's steps are read in that
  // order); whatever is still waiting when the page goes away is sent at once (keepalive).
  var outbox = [];
  var sending = false;

  function pump() {
    if (sending || !outbox.length) return;
    sending = true;
    call("POST", "events", outbox.shift()).then(function () {
      sending = false;
      pump();
    });
  }

  function flush() {
    while (outbox.length) call("POST", "events", outbox.shift());
  }

  function send(exp, type, step) {
    if (!state.user || state.preview) return;
    var body = credentials();
    body.experience = exp.id;
    body.type = type;
    if (step != null) body.step = step;
    outbox.push(body);
    pump();
  }

  function ready(key) {
    if (!state.key) {
      warn("call Callout.init({key: ...}) before Callout." + key + "().");
      return false;
    }
    return true;
  }

  // --- Public methods ------------------------------------------------------------------

  function init(options) {
    options = options || {};
    if (!options.key) warn("Callout.init needs {key: your application's public key}.");
    state.key = options.key || null;
    if (options.host) state.host = String(options.host).replace(/\/+$/, "");
  }

  function identify(user) {
    if (!ready("identify")) return;
    if (!user || user.id == null || user.id === "") {
      warn("Callout.identify needs {id: the user's id, traits: {...}}.");
      return;
    }
    if (state.user && state.user.id !== String(user.id)) clearAll();
    state.user = { id: String(user.id), user_hash: user.user_hash || null };
    var body = credentials();
    body.traits = user.traits || {};
    // The language the user reads (docs/experiences.md, "Languages"); else the browser's.
    state.user.locale = body.traits.locale || body.traits.language || null;
    // The user's company ({id, traits}; null takes them out of theirs): only when given, so
    // that an identify without it leaves the company as it is.
    if (user.company !== undefined) body.company = user.company;
    if (user.company_hash) body.company_hash = user.company_hash;
    body.url = window.location.href;
    state.url = body.url;
    var seq = ++state.seq;
    call("POST", "identify", body).then(safe(function (data) {
      if (data && seq === state.seq && state.user) show(data.experiences || [], data.theme);
    }));
  }

  function page() {
    if (!state.user || !ready("page")) return;
    var url = window.location.href;
    if (url !== state.url) {
      // A new page view: "every time" experiences closed on the last one may show again.
      for (var id in state.closed) if (state.closed[id] === "again") delete state.closed[id];
    }
    state.url = url;
    var seq = ++state.seq;
    var query = credentials();
    query.url = url;
    // Servers cap a request line (gunicorn: 8,190 bytes) and percent-encoding can triple a
    // URL: a long one goes in the body of identify, which answers the same experiences.
    var request = encodeURIComponent(url).length > LONG_URL ?
      call("POST", "identify", query) : call("GET", "experiences", null, query);
    request.then(safe(function (data) {
      if (data && seq === state.seq && state.user) show(data.experiences || [], data.theme);
    }));
  }

  function reset() {
    state.user = null;
    state.seq++;
    clearAll();
  }

  function track(name, properties) {
    if (!ready("track")) return;
    if (!state.user) {
      warn("call Callout.identify({id: ...}) before Callout.track(); the event is not recorded.");
      return;
    }
    var problem = eventProblem(name, properties);
    if (problem) {
      warn("Callout.track(" + JSON.stringify(String(name)) + "): " + problem + "; the event is not recorded.");
      return;
    }
    enqueue(name, properties);
    var seen = load(trackKey()) || [];
    if (seen.indexOf(name) < 0) seen.push(name);
    save(trackKey(), seen.slice(-200));
    for (var id in state.mounted) {
      var m = state.mounted[id];
      if (m.track) m.track(name);
    }
  }

  // --- Tracking: the host app's events, queued and sent in batches ----------------------

  // Checked here as the API checks them (docs/api.md): one bad event would make the API
  // refuse its whole batch, the good events with it.
  var KEY = /^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$/;
  var TRACK_MAX = 100; // events per call: the API's limit
  // Bytes per call: under the API's 64 KB, and within the 64 KB of keepalive requests and
  // beacons a page may have in flight while it goes away.
  var TRACK_BYTES = 60000;
  var TRACK_DELAY = 1000; // ms: events within a second go together
  var tracked = []; // {head: the call's JSON up to its events, json: the event's JSON}
  var trackTimer = null;

  function eventProblem(name, properties) {
    if (typeof name !== "string" || !KEY.test(name)) {
      return "an event name is 1 to 128 letters, digits, _, - or ., starting with a letter or _";
    }
    if (properties == null) return null;
    if (typeof properties !== "object" || Array.isArray(properties)) return "properties must be an object";
    var keys = Object.keys(properties);
    if (keys.length > 200) return "at most 200 properties";
    for (var i = 0; i < keys.length; i++) {
      var key = keys[i];
      var value = properties[key];
      var kind = typeof value;
      if (!KEY.test(key)) return "property key " + JSON.stringify(key) + " is invalid";
      if (value === null || kind === "boolean") continue;
      if (kind === "number" && isFinite(value) && !(Math.abs(value) >= 9223372036854775807)) continue;
      if (kind === "string" && value.length <= 2000) continue;
      return "property " + JSON.stringify(key) + " must be text (at most 2,000 characters), a finite number, true/false or null";
    }
    return null;
  }

  function bytes(text) {
    return window.Blob ? new Blob([text]).size : unescape(encodeURIComponent(text)).length;
  }

  function enqueue(name, properties) {
    var event = { name: name };
    if (properties && Object.keys(properties).length) event.properties = properties;
    // The user as of now (a later identify or reset does not move queued events), and the
    // event as JSON at once: later changes to the caller's object do not change it.
    var head = JSON.stringify(credentials());
    tracked.push({ head: head.slice(0, -1) + ',"events":[', json: JSON.stringify(event) });
    if (tracked.length >= TRACK_MAX) sendTracked(false);
    else if (!trackTimer) trackTimer = window.setTimeout(safe(function () { sendTracked(false); }), TRACK_DELAY);
  }

  // The next call's body: queued events of one user, in order, within TRACK_MAX and
  // TRACK_BYTES; null when the first is too large to send at all (it is dropped).
  function nextBatch() {
    var head = tracked[0].head;
    var parts = [];
    var size = bytes(head) + 2;
    while (tracked.length && tracked[0].head === head && parts.length < TRACK_MAX) {
      var more = bytes(tracked[0].json) + 1;
      if (size + more > TRACK_BYTES) break;
      parts.push(tracked.shift().json);
      size += more;
    }
    if (!parts.length) {
      warn("an event of over " + TRACK_BYTES + " bytes is not recorded.");
      tracked.shift();
      return null;
    }
    return head + parts.join(",") + "]}";
  }

  // Everything queued, now. When the page is being hidden or left, by sendBeacon: the
  // browser delivers it after the page is gone; a text/plain Blob keeps it a "simple"
  // request (no CORS preflight, which a beacon cannot wait for).
  function sendTracked(leaving) {
    if (trackTimer) window.clearTimeout(trackTimer);
    trackTimer = null;
    while (tracked.length) {
      var body = nextBatch();
      if (body == null) continue;
      var beaconed = false;
      if (leaving && navigator.sendBeacon) {
        try {
          beaconed = navigator.sendBeacon(state.host + "/api/v1/track", new Blob([body], { type: "text/plain" }));
        } catch (e) { /* refused: fetch with keepalive below */ }
      }
      if (!beaconed) call("POST", "track", body);
    }
  }

  function leaving() {
    flush();
    sendTracked(true);
  }

  // --- Storage (checklist progress lives in the host page's localStorage) ---------------

  function load(key) {
    if (state.preview) return null; // a preview starts from nothing done
    try {
      return JSON.parse(window.localStorage.getItem(key) || "null");
    } catch (e) {
      return null;
    }
  }

  function save(key, value) {
    if (state.preview) return;
    try {
      window.localStorage.setItem(key, JSON.stringify(value));
    } catch (e) { /* private mode, sandbox: progress is kept for this page only */ }
  }

  function trackKey() {
    return "callout:" + state.key + ":" + state.user.id + ":events";
  }

  // --- Rendering -----------------------------------------------------------------------

  var CSS = [
    ".c-layer{font:14px/1.45 var(--c-font,system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif);color:var(--c-text,#1f2330);text-align:left}",
    ".c-layer *{box-sizing:border-box}",
    ".c-layer button{font:inherit;cursor:pointer;margin:0}",
    ".c-layer :focus-visible{outline:3px solid #ffbf47;outline-offset:2px}",
    ".c-edge{position:fixed;left:0;right:0;display:flex;flex-direction:column;z-index:1}",
    ".c-edge-top{top:0}.c-edge-bottom{bottom:0}",
    ".c-banner{position:relative;display:flex;align-items:center;justify-content:center;gap:12px;padding:10px 56px 10px 16px;color:var(--c-on-primary,#fff);background:var(--c-primary,#3451d1);box-shadow:0 1px 4px rgba(0,0,0,.2)}",
    ".c-banner+.c-banner{border-top:1px solid rgba(255,255,255,.35)}",
    ".c-success{background:#1e7f4f;color:#fff}.c-warning{background:#9a5b00;color:#fff}",
    ".c-cta{background:#fff;color:#1f2330;border-radius:4px;padding:4px 12px;text-decoration:none;font-weight:600}",
    ".c-x{position:absolute;top:6px;right:8px;width:32px;height:32px;border:0;border-radius:4px;background:transparent;color:inherit;font-size:20px;line-height:1}",
    ".c-banner .c-x{top:50%;transform:translateY(-50%)}",
    ".c-card{position:fixed;max-width:320px;padding:16px 16px 12px;background:var(--c-bg,#fff);color:var(--c-text,#1f2330);border-radius:var(--c-radius,8px);box-shadow:0 8px 30px rgba(0,0,0,.25);z-index:3}",
    ".c-card .c-x{color:#666}",
    ".c-modal{top:50%;left:50%;transform:translate(-50%,-50%);width:420px;max-width:calc(100vw - 32px)}",
    ".c-backdrop{position:fixed;top:0;left:0;right:0;bottom:0;background:rgba(15,18,30,.45);z-index:2}",
    ".c-title{margin:0 28px 6px 0;font-size:16px;font-weight:650}",
    ".c-text{margin:0 0 12px}",
    ".c-foot{display:flex;align-items:center;gap:8px}",
    ".c-progress{margin-right:auto;color:#666;font-size:12px}",
    ".c-btn{padding:6px 14px;border:1px solid var(--c-primary,#3451d1);border-radius:calc(var(--c-radius,8px)*.75);background:var(--c-primary,#3451d1);color:var(--c-on-primary,#fff)}",
    ".c-btn.c-alt{background:var(--c-bg,#fff);color:var(--c-primary,#3451d1)}",
    ".c-checklist{position:fixed;right:16px;bottom:16px;width:300px;max-width:calc(100vw - 32px);padding:14px;background:var(--c-bg,#fff);color:var(--c-text,#1f2330);border-radius:calc(var(--c-radius,8px) + 2px);box-shadow:0 8px 30px rgba(0,0,0,.25);z-index:1}",
    ".c-checklist .c-x{color:#666}.c-min{right:40px}",
    ".c-left .c-checklist{right:auto;left:16px}",
    ".c-bar{height:6px;margin:6px 0 8px;background:#e6e9f5;border-radius:3px;overflow:hidden}",
    ".c-bar span{display:block;height:100%;background:var(--c-primary,#3451d1)}",
    ".c-items{list-style:none;margin:0;padding:0}",
    ".c-item{display:flex;align-items:center;gap:8px;width:100%;padding:8px;border:0;border-radius:6px;background:none;color:inherit;text-align:left}",
    ".c-item:hover{background:#f1f3fa}",
    ".c-check{display:inline-flex;align-items:center;justify-content:center;flex:none;width:18px;height:18px;border:2px solid var(--c-primary,#3451d1);border-radius:50%;color:var(--c-on-primary,#fff);font-size:11px}",
    ".c-done .c-check{background:var(--c-primary,#3451d1)}.c-done .c-label{color:#777;text-decoration:line-through}",
    ".c-collapsed .c-items,.c-collapsed .c-bar{display:none}"
  ].join("\n");

  function layer() {
    if (state.layer && state.layer.isConnected) return state.layer;
    var host = document.createElement("callout-root");
    // Inline !important beats any host stylesheet rule on the host element; inside, the shadow
    // root keeps host CSS out and ours in.
    // Styles go through the CSSOM (style.cssText, a constructed style sheet), which a host
    // page's Content-Security-Policy allows; a style attribute or a <style> element it may not.
    host.style.cssText = "all:initial!important;display:block!important;position:fixed!important;" +
      "top:0!important;left:0!important;width:0!important;height:0!important;z-index:2147483000!important";
    var shadow = host.attachShadow({ mode: "open" });
    if (shadow.adoptedStyleSheets && window.CSSStyleSheet && CSSStyleSheet.prototype.replaceSync) {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      shadow.adoptedStyleSheets = [sheet];
    } else {
      var style = document.createElement("style");
      style.textContent = CSS;
      shadow.appendChild(style);
    }
    state.layer = el("div", { "class": "c-layer" });
    shadow.appendChild(state.layer);
    state.shadow = shadow;
    state.root = host;
    paint();
    (document.body || document.documentElement).appendChild(host);
    return state.layer;
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    for (var name in attrs || {}) {
      var value = attrs[name];
      if (value == null) continue;
      if (name === "text") node.textContent = String(value);
      else if (name.slice(0, 2) === "on") node.addEventListener(name.slice(2), safe(value));
      else node.setAttribute(name, value);
    }
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  var uid = 0;
  function uniqueId(prefix) {
    return "c-" + prefix + "-" + (++uid);
  }

  function safeUrl(url) {
    try {
      var parsed = new URL(url, window.location.href);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
    } catch (e) {
      return null;
    }
  }

  function closeButton(label, onclick) {
    return el("button", { "class": "c-x", type: "button", "aria-label": label, text: "\u00d7", onclick: onclick });
  }

  // The application's theme (docs/experiences.md, Themes): custom properties on our host
  // element, which `all:initial` leaves alone and the shadow root's styles read, with the
  // built-in look as their fallback. The server checked every value; a theme absent from an
  // answer means the defaults.
  var THEME = { primary: "--c-primary", on_primary: "--c-on-primary", background: "--c-bg", text: "--c-text", font: "--c-font", radius: "--c-radius" };

  function paint() {
    var theme = state.theme || {};
    for (var field in THEME) {
      var value = theme[field];
      if (typeof value === "number") value += "px";
      if (typeof value === "string") state.root.style.setProperty(THEME[field], value, "important");
      else state.root.style.removeProperty(THEME[field]);
    }
    state.layer.className = theme.launcher === "left" ? "c-layer c-left" : "c-layer";
  }

  function show(experiences, theme) {
    state.theme = theme && typeof theme === "object" ? theme : null;
    if (state.root) paint();
    var wanted = {};
    var tour = null;
    for (var key in state.mounted) if (state.mounted[key].exp.kind === "tour") tour = key;
    experiences.forEach(function (exp) {
      if (state.closed[exp.id] || !KINDS[exp.kind]) return;
      if (exp.kind === "tour") {
        if (tour && String(tour) !== String(exp.id)) return; // one tour at a time
        tour = exp.id;
      }
      wanted[exp.id] = exp;
    });
    for (var mountedId in state.mounted) {
      if (!wanted[mountedId]) unmount(mountedId);
    }
    experiences.forEach(function (exp) {
      if (wanted[exp.id] && !state.mounted[exp.id]) {
        try {
          state.mounted[exp.id] = KINDS[exp.kind](exp, localised(exp));
        } catch (e) {
          warn('cannot show "' + exp.name + '": ' + ((e && e.message) || e));
        }
      }
    });
  }

  function unmount(expId) {
    var m = state.mounted[expId];
    delete state.mounted[expId];
    if (m) safe(m.destroy)();
  }

  // Closed experiences stay closed on this page view; on the next one, "again" ones may show
  // again (the server decides), "never" ones are not re-shown even if an answer races the event.
  function closedFor(exp, type) {
    var again = exp.frequency === "every_time" || (exp.frequency === "until_completed" && type !== "completed");
    return again ? "again" : "never";
  }

  function close(exp, type, step) {
    state.closed[exp.id] = closedFor(exp, type);
    send(exp, type, step);
    unmount(exp.id);
  }

  function clearAll() {
    for (var id in state.mounted) unmount(id);
    state.closed = {};
  }

  // Esc closes the topmost layer that listens (a tour, then the latest tooltip).
  function pushEsc(handler) {
    state.escStack.push(handler);
    return function () {
      var i = state.escStack.indexOf(handler);
      if (i >= 0) state.escStack.splice(i, 1);
    };
  }

  document.addEventListener("keydown", safe(function (event) {
    if (event.key === "Escape" && state.escStack.length) {
      state.escStack[state.escStack.length - 1]();
    }
  }));

  // --- Anchoring: wait for an element, keep a card next to it --------------------------

  function waitFor(selector, found) {
    var observer = null;
    var stopped = false;
    function stop() {
      stopped = true;
      if (observer) observer.disconnect();
    }
    function check() {
      if (stopped) return;
      var target;
      try {
        target = document.querySelector(selector);
      } catch (e) {
        warn('"' + selector + '" is not a valid CSS selector.');
        stop();
        return;
      }
      // The editor's preview page has a stand-in for elements of the customer's page.
      if (!target && state.preview) target = document.querySelector("[data-callout-anchor]");
      if (target && target.getClientRects().length) {
        stop();
        found(target);
      }
    }
    check();
    if (!stopped) {
      observer = new MutationObserver(safe(check));
      observer.observe(document.documentElement, { childList: true, subtree: true, attributes: true });
    }
    return stop;
  }

  function anchor(card, target, placement) {
    function place() {
      if (!target.isConnected) return;
      var r = target.getBoundingClientRect();
      var b = card.getBoundingClientRect();
      var gap = 10;
      var top = r.bottom + gap;
      var left = r.left + r.width / 2 - b.width / 2;
      if (placement === "top") top = r.top - b.height - gap;
      if (placement === "left" || placement === "right") {
        top = r.top + r.height / 2 - b.height / 2;
        left = placement === "left" ? r.left - b.width - gap : r.right + gap;
      }
      var maxLeft = document.documentElement.clientWidth - b.width - 8;
      var maxTop = document.documentElement.clientHeight - b.height - 8;
      card.style.left = Math.max(8, Math.min(left, maxLeft)) + "px";
      card.style.top = Math.max(8, Math.min(top, maxTop)) + "px";
    }
    var onMove = safe(place);
    window.addEventListener("scroll", onMove, true);
    window.addEventListener("resize", onMove);
    place();
    return function () {
      window.removeEventListener("scroll", onMove, true);
      window.removeEventListener("resize", onMove);
    };
  }

  function card(titleText, bodyText, extraClass, role, modal) {
    var titleId = uniqueId("title");
    var bodyId = uniqueId("body");
    var node = el("div", {
      "class": "c-card " + (extraClass || ""),
      role: role || "dialog",
      "aria-modal": modal ? "true" : "false",
      "aria-labelledby": titleText ? titleId : null,
      "aria-describedby": bodyText ? bodyId : null,
      tabindex: "-1"
    }, [
      titleText ? el("h2", { "class": "c-title", id: titleId, text: titleText }) : null,
      bodyText ? el("p", { "class": "c-text", id: bodyId, text: bodyText }) : null
    ]);
    return node;
  }

  // Keep Tab inside a modal dialog.
  function trapFocus(node) {
    node.addEventListener("keydown", safe(function (event) {
      if (event.key !== "Tab") return;
      var items = node.querySelectorAll("button, a[href]");
      if (!items.length) return;
      var first = items[0];
      var last = items[items.length - 1];
      var active = state.shadow.activeElement;
      if (event.shiftKey && (active === first || active === node)) {
        last.focus();
        event.preventDefault();
      } else if (!event.shiftKey && active === last) {
        first.focus();
        event.preventDefault();
      }
    }));
  }

  // --- Banner edges: the banners at one edge of the page, stacked -----------------------

  // The server sends at most a few banners per edge (docs/experiences.md, Delivery); they
  // stack in one fixed bar per edge, the highest priority nearest the edge, and one spacer in
  // the host page's flow, as tall as the whole stack, keeps them from covering the page.
  function edge(side) {
    var found = state.edges[side];
    if (found && found.node.isConnected) return found;
    var node = el("div", { "class": "c-edge c-edge-" + side });
    layer().appendChild(node);
    var spacer = document.createElement("callout-spacer");
    var body = document.body || document.documentElement;
    if (side === "top") body.insertBefore(spacer, body.firstChild);
    else body.appendChild(spacer);
    var fit = safe(function () {
      spacer.style.cssText = "display:block!important;margin:0!important;padding:0!important;" +
        "height:" + Math.ceil(node.getBoundingClientRect().height) + "px!important";
    });
    var observer = window.ResizeObserver ? new ResizeObserver(fit) : null;
    if (observer) observer.observe(node);
    window.addEventListener("resize", fit);
    var stack = {
      node: node,
      add: function (banner) {
        // Top: highest priority first; bottom: highest priority last (nearest its edge).
        var before = null;
        for (var child = node.firstChild; child; child = child.nextSibling) {
          var p = child.calloutPriority;
          if (side === "top" ? p < banner.calloutPriority : p > banner.calloutPriority) {
            before = child;
            break;
          }
        }
        node.insertBefore(banner, before);
        fit();
      },
      remove: function (banner) {
        banner.remove();
        if (node.firstChild) {
          fit();
          return;
        }
        if (observer) observer.disconnect();
        window.removeEventListener("resize", fit);
        spacer.remove();
        node.remove();
        if (state.edges[side] === stack) delete state.edges[side];
      }
    };
    state.edges[side] = stack;
    return stack;
  }

  // --- The four kinds ------------------------------------------------------------------

  var KINDS = {
    banner: function (exp, c) {
      var position = c.position === "bottom" ? "c-bottom" : "c-top";
      var style = { success: "c-success", warning: "c-warning" }[c.style] || "c-info";
      var href = c.button_label && c.button_url ? safeUrl(c.button_url) : null;
      var node = el("div", { "class": "c-banner " + position + " " + style, role: "region", "aria-label": exp.name }, [
        el("span", { "class": "c-message", text: c.text || "" }),
        href ? el("a", { "class": "c-cta", href: href, text: c.button_label, onclick: function () { close(exp, "completed"); } }) : null,
        closeButton("Close", function () { close(exp, "dismissed"); })
      ]);
      node.addEventListener("keydown", safe(function (event) {
        if (event.key === "Escape") close(exp, "dismissed");
      }));
      node.calloutPriority = Number(exp.priority) || 0;
      var stack = edge(position === "c-top" ? "top" : "bottom");
      stack.add(node);
      send(exp, "shown");
      return {
        exp: exp,
        destroy: function () { stack.remove(node); }
      };
    },

    tooltip: function (exp, c) {
      var node = null;
      var unanchor = null;
      var unesc = null;
      var stopWaiting = waitFor(c.selector, function (target) {
        node = card(c.title, c.body, "c-tooltip", "dialog", false);
        node.appendChild(closeButton("Close", function () { close(exp, "dismissed"); }));
        node.appendChild(el("div", { "class": "c-foot" }, [
          el("span", { "class": "c-progress" }),
          el("button", { "class": "c-btn", type: "button", text: "Got it", onclick: function () { close(exp, "completed"); } })
        ]));
        layer().appendChild(node);
        unanchor = anchor(node, target, c.placement);
        unesc = pushEsc(function () { close(exp, "dismissed"); });
        send(exp, "shown");
      });
      return {
        exp: exp,
        destroy: function () {
          stopWaiting();
          if (unanchor) unanchor();
          if (unesc) unesc();
          if (node) node.remove();
        }
      };
    },

    tour: function (exp, c) {
      var steps = (c.steps || []).filter(Boolean);
      if (!steps.length) throw new Error("a tour needs steps");
      var index = 0;
      var nodes = [];
      var cleanups = [];
      var returnFocus = document.activeElement;
      var unesc = pushEsc(function () { close(exp, "dismissed", index); });

      function clear() {
        cleanups.forEach(function (fn) { safe(fn)(); });
        cleanups = [];
        nodes.forEach(function (n) { n.remove(); });
        nodes = [];
      }

      function go(next) {
        index = next;
        send(exp, "step", index);
        render();
      }

      function build(step, modal) {
        var last = index === steps.length - 1;
        var node = card(step.title, step.body, modal ? "c-modal" : "c-tooltip", "dialog", modal);
        node.setAttribute("aria-roledescription", "tour step");
        var primary = last
          ? el("button", { "class": "c-btn", type: "button", text: "Done", onclick: function () { close(exp, "completed", index); } })
          : el("button", { "class": "c-btn", type: "button", text: "Next", onclick: function () { go(index + 1); } });
        node.appendChild(closeButton("Close tour", function () { close(exp, "dismissed", index); }));
        node.appendChild(el("div", { "class": "c-foot" }, [
          el("span", { "class": "c-progress", "aria-live": "polite", text: (index + 1) + " of " + steps.length }),
          index > 0 ? el("button", { "class": "c-btn c-alt", type: "button", text: "Back", onclick: function () { go(index - 1); } }) : null,
          primary
        ]));
        trapFocus(node);
        if (modal) {
          var backdrop = el("div", { "class": "c-backdrop" });
          layer().appendChild(backdrop);
          nodes.push(backdrop);
        }
        layer().appendChild(node);
        nodes.push(node);
        primary.focus();
        return node;
      }

      function render() {
        clear();
        var step = steps[index];
        if (step.type !== "tooltip" || !step.selector) {
          build(step, true);
          return;
        }
        // A tooltip step waits for its element; if it never comes, the step shows centred.
        var fallback = window.setTimeout(safe(function () {
          stopWaiting();
          build(step, true);
        }), 4000);
        var stopWaiting = waitFor(step.selector, function (target) {
          window.clearTimeout(fallback);
          var node = build(step, false);
          cleanups.push(anchor(node, target, step.placement));
        });
        cleanups.push(stopWaiting, function () { window.clearTimeout(fallback); });
      }

      render();
      send(exp, "shown");
      return {
        exp: exp,
        destroy: function () {
          unesc();
          clear();
          if (returnFocus && returnFocus.focus && returnFocus.isConnected) safe(function () { returnFocus.focus(); })();
        }
      };
    },

    checklist: function (exp, c) {
      var items = (c.items || []).filter(function (item) { return item && item.id != null; });
      if (!items.length) throw new Error("a checklist needs items");
      var storeKey = "callout:" + state.key + ":" + state.user.id + ":checklist:" + exp.id;
      var done = load(storeKey) || [];
      var tracked = load(trackKey()) || [];
      items.forEach(function (item) {
        if (item.complete_on === "event" && tracked.indexOf(item.event) >= 0 && done.indexOf(item.id) < 0) done.push(item.id);
      });
      var titleId = uniqueId("title");
      var list = el("ul", { "class": "c-items" });
      var progress = el("span", { "class": "c-progress" });
      var fill = el("span");
      var bar = el("div", { "class": "c-bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": String(items.length), "aria-labelledby": titleId }, [fill]);
      var minimize = el("button", {
        "class": "c-x c-min", type: "button", "aria-label": "Minimise checklist", "aria-expanded": "true", text: "\u2013",
        onclick: function () { toggle(); }
      });
      var node = el("div", { "class": "c-checklist", role: "complementary", "aria-labelledby": titleId }, [
        el("h2", { "class": "c-title", id: titleId, text: c.title || exp.name }),
        progress,
        bar,
        list,
        minimize,
        closeButton("Close checklist", function () { close(exp, "dismissed"); })
      ]);
      var finished = false;

      function toggle() {
        var collapsed = node.classList.toggle("c-collapsed");
        minimize.setAttribute("aria-expanded", collapsed ? "false" : "true");
      }

      function mark(item) {
        if (done.indexOf(item.id) >= 0) return;
        done.push(item.id);
        save(storeKey, done);
        send(exp, "step", items.indexOf(item));
        draw();
      }

      function draw() {
        var count = items.filter(function (item) { return done.indexOf(item.id) >= 0; }).length;
        progress.textContent = count + " of " + items.length;
        bar.setAttribute("aria-valuenow", String(count));
        fill.style.width = Math.round((100 * count) / items.length) + "%";
        while (list.firstChild) list.removeChild(list.firstChild);
        items.forEach(function (item) {
          var isDone = done.indexOf(item.id) >= 0;
          list.appendChild(el("li", { "class": isDone ? "c-done" : null }, [
            el("button", {
              "class": "c-item", type: "button", role: "checkbox", "aria-checked": isDone ? "true" : "false",
              onclick: function () {
                if (item.complete_on !== "event") mark(item);
                var href = item.url ? safeUrl(item.url) : null;
                if (href) window.location.assign(href);
              }
            }, [el("span", { "class": "c-check", "aria-hidden": "true", text: isDone ? "\u2713" : "" }), el("span", { "class": "c-label", text: item.label || item.id })])
          ]));
        });
        if (count === items.length && !finished) {
          finished = true;
          state.closed[exp.id] = closedFor(exp, "completed");
          send(exp, "completed");
          window.setTimeout(safe(function () { unmount(exp.id); }), 1500);
        }
      }

      node.addEventListener("keydown", safe(function (event) {
        if (event.key === "Escape" && !node.classList.contains("c-collapsed")) toggle();
      }));
      layer().appendChild(node);
      send(exp, "shown");
      draw();
      return {
        exp: exp,
        track: function (name) {
          items.forEach(function (item) { if (item.complete_on === "event" && item.event === name) mark(item); });
        },
        destroy: function () { node.remove(); }
      };
    }
  };

  // --- Single-page apps: re-evaluate when the URL changes ------------------------------

  function onNavigate() {
    window.setTimeout(safe(function () {
      if (state.user && window.location.href !== state.url) page();
    }), 0);
  }

  ["pushState", "replaceState"].forEach(function (name) {
    var original = window.history && window.history[name];
    if (typeof original !== "function") return;
    window.history[name] = function () {
      var result = original.apply(this, arguments);
      onNavigate();
      return result;
    };
  });
  window.addEventListener("popstate", onNavigate);
  window.addEventListener("hashchange", onNavigate);
  // Queued events go as the page is hidden (tab switched, app backgrounded: it may never come
  // back) or left: nothing is lost to a navigation.
  window.addEventListener("pagehide", safe(leaving));
  document.addEventListener("visibilitychange", safe(function () {
    if (document.visibilityState === "hidden") leaving();
  }));

  // The editor's live preview (docs/experiences.md, "Live preview"): one experience drawn as
  // a page would draw it, with the theme; no user, nothing reported or remembered, and each
  // call starts afresh (what was dismissed comes back with the next keystroke).
  function preview(exp, theme) {
    state.preview = true;
    state.user = state.user || { id: "preview" };
    for (var id in state.mounted) unmount(id);
    state.closed = {};
    show(exp ? [exp] : [], theme);
  }

  // --- Install, then run what the page queued before the script loaded -----------------

  var api = {
    loaded: true,
    init: safe(init),
    identify: safe(identify),
    page: safe(page),
    reset: safe(reset),
    track: safe(track),
    preview: safe(preview)
  };
  var queued = (stub && stub.q) || [];
  window.Callout = api;
  queued.forEach(function (entry) {
    if (api[entry[0]]) api[entry[0]].apply(null, entry[1] || []);
  });
})(window, document);
