// Callout: the few behaviours htmx does not cover. No framework.
// Under the Content-Security-Policy (callout/settings.py) nothing runs from markup: no inline
// handlers, no hx-on, no style attributes. Behaviours hang on data attributes, delegated here.

// Rule rows are numbered by position; removing or adding one renumbers the rest.
function calloutRenumber() {
  document.querySelectorAll("#rules .rule-row").forEach(function (row, i) {
    var number = String(i + 1);
    row.querySelector(".rule-number").textContent = number;
    var remove = row.querySelector("[data-remove]");
    if (remove) remove.setAttribute("aria-label", "Remove rule " + number);
  });
}

// Remove a rule row in place (nothing to ask the server), then refresh the preview.
function calloutRemoveRule(button) {
  button.closest(".rule-row").remove();
  calloutRenumber();
  var add = document.querySelector(".add-rule");
  if (add) add.focus();
  htmx.trigger(document.body, "rules-changed");
}

// Bars: data-width="42" is 42% wide. Set through the style object, which the CSP allows
// (a style="" attribute in markup it refuses).
function calloutWidths() {
  document.querySelectorAll("[data-width]").forEach(function (bar) {
    bar.style.width = bar.getAttribute("data-width") + "%";
  });
}

document.addEventListener("click", function (event) {
  var remove = event.target.closest("#rules [data-remove]");
  if (remove) calloutRemoveRule(remove);
});

// <form data-confirm="..."> asks before submitting.
document.addEventListener("submit", function (event) {
  var question = event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});

// <input data-no-submit-on-enter>: Enter does not submit the surrounding form.
document.addEventListener("keydown", function (event) {
  if (event.key === "Enter" && event.target.matches("[data-no-submit-on-enter]")) {
    event.preventDefault();
  }
});

document.addEventListener("DOMContentLoaded", calloutWidths);
document.addEventListener("htmx:afterSettle", function () {
  calloutRenumber();
  calloutWidths();
});

// A write the member's role does not allow answers 403 with a callout:forbidden event (htmx
// swaps nothing on a 403): say why in the page's alert region.
document.addEventListener("callout:forbidden", function (event) {
  var region = document.getElementById("alerts");
  if (!region) return;
  var item = document.createElement("li");
  item.className = "error";
  item.textContent = event.detail.message;
  region.replaceChildren(item);
});
