// Callout: the few behaviours htmx does not cover. No framework.

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

document.addEventListener("htmx:afterSettle", calloutRenumber);

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
