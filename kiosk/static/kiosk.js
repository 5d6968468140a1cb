// The kiosk's only script: idle reset, one submission per form, the on-screen keypads.
// Every page works without it (forms post, links navigate); it only makes touch nicer.
"use strict";

(function () {
  const body = document.body;

  // Idle reset: after data-idle seconds without a touch, go home and forget everything.
  const idleSeconds = Number(body.dataset.idle || 0);
  if (idleSeconds > 0) {
    let timer = null;
    const restart = function () {
      if (timer !== null) {
        window.clearTimeout(timer);
      }
      timer = window.setTimeout(function () {
        window.location.replace(body.dataset.reset || "/");
      }, idleSeconds * 1000);
    };
    ["pointerdown", "keydown", "touchstart", "input", "scroll"].forEach(function (name) {
      window.addEventListener(name, restart, { passive: true, capture: true });
    });
    restart();
  }

  // A visible countdown on the thank-you pages.
  document.querySelectorAll("[data-countdown]").forEach(function (element) {
    let left = Number(element.dataset.countdown);
    const template = element.dataset.template || "#";
    window.setInterval(function () {
      left = Math.max(0, left - 1);
      element.textContent = template.replace("#", String(left));
    }, 1000);
  });

  // One submission per form: a second tap while the first is on its way does nothing here
  // (and the server's submission token makes it harmless if it gets through anyway).
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sent === "1") {
        event.preventDefault();
        return;
      }
      form.dataset.sent = "1";
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.classList.add("sending");
        button.setAttribute("aria-busy", "true");
        button.textContent = body.dataset.submitting || button.textContent;
      });
    });
  });

  // On-screen keypads write digits into their target field.
  document.querySelectorAll(".keypad").forEach(function (pad) {
    const target = document.getElementById(pad.dataset.target);
    if (!target) {
      return;
    }
    const limit = Number(target.getAttribute("maxlength") || 32);
    pad.addEventListener("click", function (event) {
      const key = event.target.closest("[data-key]");
      if (!key) {
        return;
      }
      const value = key.dataset.key;
      if (value === "clear") {
        target.value = "";
      } else if (value === "back") {
        target.value = target.value.slice(0, -1);
      } else if (target.value.length < limit) {
        target.value += value;
      }
      target.dispatchEvent(new Event("input", { bubbles: true }));
    });
  });

  // The contact keypad only matters when the citizen chose not to be anonymous.
  document.querySelectorAll("[data-shown-when]").forEach(function (block) {
    const parts = block.dataset.shownWhen.split("=");
    const form = block.closest("form");
    const update = function () {
      const chosen = form.querySelector("input[name='" + parts[0] + "']:checked");
      block.hidden = !(chosen && chosen.value === parts[1]);
    };
    form.addEventListener("change", update);
    update();
  });

  // A USB QR scanner types the code and Enter; keep the field ready for it.
  const scanner = document.querySelector("[data-scanner]");
  if (scanner) {
    scanner.focus();
    document.addEventListener("pointerup", function () {
      scanner.focus();
    });
  }
})();
