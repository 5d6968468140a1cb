// The bulletin page (hub/console/bulletins_pages.py): the print button prints the page.
"use strict";
for (const button of document.querySelectorAll("[data-print]")) {
  button.addEventListener("click", () => window.print());
}
