// The charts, reports and staff pages: the print button prints the page (its print stylesheet).
(function () {
  "use strict";
  document.querySelectorAll(".print-button").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
})();
