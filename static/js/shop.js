/* Keep keyboard and screen reader users where they were across htmx swaps.
 *
 * An htmx answer to a cart change replaces the cart's HTML, and with it the
 * control that was used. Focus goes back to that control's replacement (same
 * id; htmx itself does this for a control that had focus), or, when its line
 * is gone, to the status that says what happened.
 * Progressive enhancement only: without this file every action still works.
 */
(function () {
  "use strict";

  var usedControlId = null;

  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt;
    var active = document.activeElement;
    var submitter = event.detail.requestConfig && event.detail.requestConfig.triggeringEvent
      ? event.detail.requestConfig.triggeringEvent.submitter
      : null;
    // Safari does not focus a clicked button: the submitter says which it was.
    var control = active && form.contains(active) && active !== form ? active : submitter;
    usedControlId = control && control.id ? control.id : null;
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target || event.target;
    if (!usedControlId || !target || target.id !== "cart") {
      return;
    }
    var control = document.getElementById(usedControlId);
    usedControlId = null;
    // htmx has already focused a replacement with the same id, or the shopper
    // moved focus elsewhere while the request was out: leave focus be.
    var active = document.activeElement;
    if (active && active !== document.body && document.contains(active)) {
      return;
    }
    if (control) {
      control.focus();
      return;
    }
    var status = document.getElementById("status");
    if (status) {
      status.focus();
    }
  });
})();

/* Keep the search box true to the address when Back or Forward restores a page.
 *
 * htmx keeps each address's page as HTML, and a typed word is not in the
 * HTML: without this, a restored search shows its results under an empty box.
 * The saved copy gets the words of the address it is saved for.
 */
(function () {
  "use strict";

  document.addEventListener("htmx:beforeHistorySave", function (event) {
    var params = new URL(event.detail.path, window.location.href).searchParams;
    var boxes = document.querySelectorAll("form[role=search] input[type=search]");
    Array.prototype.forEach.call(boxes, function (box) {
      box.setAttribute("value", params.get(box.name) || "");
    });
  });
})();
