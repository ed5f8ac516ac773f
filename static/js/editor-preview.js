// The experience editor's live preview (experiences/live_preview.py): on each change of the
// form, its content goes to the server (the same checks as a save, nothing written) and what
// the snippet would receive goes on to the preview frame, which draws it with the snippet.
(function () {
  "use strict";

  function start() {
    var frame = document.querySelector("iframe[data-preview-url]");
    if (!frame) return;
    var form = frame.closest("form");
    var problem = document.querySelector("[data-preview-problem]");
    var ready = false;
    var timer = null;
    var seq = 0;

    function refresh() {
      if (!ready) return;
      var mine = ++seq;
      var body = new FormData(form); // its csrfmiddlewaretoken included
      body.delete("op");
      fetch(frame.getAttribute("data-preview-url"), { method: "POST", body: body, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data || mine !== seq) return; // a newer change is on its way
          if (data.problem) {
            problem.textContent = "The preview waits for: " + data.problem;
            return;
          }
          problem.textContent = "";
          frame.contentWindow.postMessage(
            { calloutPreview: true, experience: data.experience, theme: data.theme },
            window.location.origin
          );
        })
        .catch(function () { /* offline for a moment: the next change tries again */ });
    }

    function later() {
      clearTimeout(timer);
      timer = setTimeout(refresh, 250);
    }

    form.addEventListener("input", later);
    form.addEventListener("change", later);
    document.body.addEventListener("htmx:afterSettle", later); // a step added, moved, removed
    window.addEventListener("message", function (event) {
      if (event.origin !== window.location.origin || event.source !== frame.contentWindow) return;
      if (event.data && event.data.calloutPreviewReady && !ready) {
        ready = true;
        refresh();
      }
    });
    // The frame announces itself when its script runs; if that was before this listener, ask
    // again (a frame not loaded yet announces itself later).
    if (frame.contentWindow) frame.contentWindow.postMessage({ calloutPreviewPing: true }, window.location.origin);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
