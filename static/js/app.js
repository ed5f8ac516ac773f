// Callout: the few behaviours htmx does not cover. No framework.
// Under the Content-Security-Policy (callout/settings.py) nothing runs from markup: no inline
// handlers, no hx-on, no style attributes. Behaviours hang on data attributes, delegated here.

// Builder nodes (rules, groups, segment conditions) are numbered by position in their group,
// "2.1" inside group 2; adding or removing one in place renumbers the rest and the buttons'
// accessible names ("Remove rule 2.1", "Move group 3 up").
function calloutRenumberList(list, prefix) {
  var nodes = Array.prototype.filter.call(list.children, function (el) {
    return el.classList.contains("node");
  });
  nodes.forEach(function (node, i) {
    var number = prefix + String(i + 1);
    var legend = node.querySelector(":scope > legend .rule-number");
    if (legend) legend.textContent = number;
    var noun = node.getAttribute("data-noun") || "rule";
    node.querySelectorAll("[data-remove], [data-move]").forEach(function (button) {
      if (button.closest(".node") !== node) return;
      var verb = button.value.split(":")[0];
      var label = verb === "remove" ? "Remove " + noun + " " + number
        : "Move " + noun + " " + number + (verb === "up" ? " up" : " down");
      button.setAttribute("aria-label", label);
    });
    var children = node.querySelector(":scope > .node-list");
    if (children) calloutRenumberList(children, number + ".");
  });
}

function calloutRenumber() {
  var top = document.getElementById("rules");
  if (top) calloutRenumberList(top, "");
}

// Remove a node in place (nothing to ask the server), then refresh the preview. Without
// JavaScript the same button is a submit button the view reads (op=remove:N).
function calloutRemoveNode(button) {
  var node = button.closest(".node");
  var group = node.parentElement.closest(".node");
  node.remove();
  calloutRenumber();
  // Keyboard focus goes to the Add rule button of the group the node was in.
  var add = group ? group.querySelector(":scope > .add-buttons button") : document.querySelector(".add-rule");
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
  if (remove) {
    event.preventDefault();
    calloutRemoveNode(remove);
  }
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

function calloutAlert(message) {
  var region = document.getElementById("alerts");
  if (!region) return;
  var list = document.createElement("ul");
  list.className = "messages";
  list.setAttribute("role", "list");
  var item = document.createElement("li");
  item.className = "error";
  item.textContent = message;
  list.appendChild(item);
  region.replaceChildren(list);
}

// A write the member's role does not allow answers 403 with a callout:forbidden event (htmx
// swaps nothing on a 403): say why in the page's alert region.
document.addEventListener("callout:forbidden", function (event) {
  calloutAlert(event.detail.message);
});

// Any other answer htmx does not swap (a server error, a page gone since it was loaded): say
// so rather than nothing. (Inline form errors answer 400, which htmx swaps: base.html.)
document.addEventListener("htmx:responseError", function (event) {
  var status = event.detail.xhr.status;
  if (status === 403) return; // callout:forbidden says why
  calloutAlert(
    status === 404
      ? "This is no longer here (error 404): reload the page."
      : "The server could not do this (error " + status + "). Reload the page and try again."
  );
});

// The editor's schedule: <input type="hidden" data-time-zone> says which time zone the start
// and end are in (the server's guess: the last one posted, else UTC). The browser's own zone
// replaces it, and the stored times (data-utc) are shown in it; a time typed but not stored
// (a form sent back with errors) keeps the zone it was typed in.
function calloutTimeZone() {
  var field = document.querySelector("input[data-time-zone]");
  var zone = window.Intl && Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!field || !zone || field.value === zone) return;
  var inputs = field.form.querySelectorAll("input[type=datetime-local]");
  var typed = Array.prototype.some.call(inputs, function (input) {
    return input.value && !input.hasAttribute("data-utc");
  });
  if (typed) return;
  function pad(n) { return String(n).padStart(2, "0"); }
  inputs.forEach(function (input) {
    if (!input.hasAttribute("data-utc")) return;
    var d = new Date(input.getAttribute("data-utc"));  // shown in the browser's zone
    input.value = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) +
      "T" + pad(d.getHours()) + ":" + pad(d.getMinutes()) + (d.getSeconds() ? ":" + pad(d.getSeconds()) : "");
  });
  field.value = zone;
  document.querySelectorAll("[data-time-zone-label]").forEach(function (label) {
    label.textContent = zone;
  });
}

document.addEventListener("DOMContentLoaded", calloutTimeZone);

// An error summary's link (<div class="problem-summary">) puts the focus in the field it
// names, not only the page's scroll position, so the manager can type the fix straight away.
document.addEventListener("click", function (event) {
  var link = event.target.closest(".problem-summary a[href^='#']");
  if (!link) return;
  var field = document.getElementById(link.getAttribute("href").slice(1));
  if (!field) return;
  event.preventDefault();
  field.scrollIntoView({ block: "center" });
  field.focus();
});

// <input data-filter-checks=".segment-choices">: typing hides the checkboxes of that list
// whose name does not contain the words; a ticked one stays in view (it is still chosen).
// Without JavaScript the box stays hidden ([data-filter-box]) and the whole list shows.
function calloutFilterChecks(input) {
  var list = document.querySelector(input.getAttribute("data-filter-checks"));
  if (!list) return;
  var words = input.value.trim().toLowerCase();
  var labels = list.querySelectorAll("label.check");
  var shown = 0;
  labels.forEach(function (label) {
    var box = label.querySelector("input");
    var name = (label.querySelector("strong") || label).textContent.toLowerCase();
    var visible = !words || name.indexOf(words) !== -1 || (box && box.checked);
    label.hidden = !visible;
    if (visible) shown += 1;
  });
  var status = document.getElementById(input.getAttribute("aria-describedby"));
  if (status) {
    status.textContent = words ? shown + " of " + labels.length + " segments shown" : "";
  }
}

document.addEventListener("input", function (event) {
  if (event.target.matches("[data-filter-checks]")) calloutFilterChecks(event.target);
});

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-filter-box]").forEach(function (box) {
    box.hidden = false;
  });
});
