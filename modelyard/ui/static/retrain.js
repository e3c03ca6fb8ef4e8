// Retraining history page: the Approve button of a challenger waiting for a manual approval.
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    const my = window.modelyard;
    const target = document.getElementById("retrain-target");
    if (!my || !target) return;
    target.querySelectorAll("button.approve").forEach(function (button) {
      button.addEventListener("click", function (ev) {
        my.act(ev.target, async function () {
          await my.api("/ajax-api/2.0/modelyard/retrain/approve",
                       { name: target.dataset.name, version: button.dataset.version });
          window.location.reload();
        });
      });
    });
  });
})();
