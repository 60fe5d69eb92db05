/* Keep keyboard and screen reader users where they were across htmx swaps.
 *
 * An htmx answer to a cart change replaces the cart's HTML, and with it the
 * control that was used. Focus goes back to that control's replacement (same
 * id), or, when its line is gone, to the status that says what happened.
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
