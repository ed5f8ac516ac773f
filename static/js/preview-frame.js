// The editor's live preview frame (experiences/live_preview.py): draws what the editor posts
// to it with the snippet itself, in preview mode (nothing is reported, no user is needed).
(function () {
  "use strict";
  function announce() {
    if (window.parent !== window) window.parent.postMessage({ calloutPreviewReady: true }, window.location.origin);
  }
  window.addEventListener("message", function (event) {
    if (event.origin !== window.location.origin || !event.data) return;
    if (event.data.calloutPreviewPing) announce(); // the editor started after our announcement
    if (event.data.calloutPreview) window.Callout.preview(event.data.experience || null, event.data.theme || null);
  });
  // Ask the editor for the content once the snippet is here to draw it.
  announce();
})();
