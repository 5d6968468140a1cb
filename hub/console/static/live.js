// The live hall: fetch the numbers again whenever the hub's data changed.
(function () {
  "use strict";
  var root = document.getElementById("live");
  if (!root) return;
  var d = root.dataset;
  var busy = false, again = false;

  function pct(value) {
    return value === null || value === undefined ? d.none : (value * 100).toFixed(1) + "%";
  }
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, k) { return values[k]; });
  }
  function set(el, text) { if (el && el.textContent !== String(text)) el.textContent = text; }

  function device(dev) {
    var li = document.createElement("li");
    var status = dev.status === "online" || dev.status === "offline" ? dev.status : "unknown";
    li.className = "device " + (dev.status || "unknown");
    li.dataset.device = dev.id;
    var parts = [["dot", ""], ["device-id", dev.id], ["status", d[status]]];
    if (dev.seen) parts.push(["seen", fill(d.lastSeen, { time: dev.seen })]);
    if (dev.outbox_depth !== null && dev.outbox_depth !== undefined)
      parts.push(["outbox", fill(d.outbox, { depth: dev.outbox_depth })]);
    parts.forEach(function (p) {
      var span = document.createElement("span");
      span.className = p[0];
      span.textContent = p[1];
      if (p[0] === "dot") span.setAttribute("aria-hidden", "true");
      li.appendChild(span);
    });
    return li;
  }

  function update(data) {
    var hall = data.hall;
    set(root.querySelector('[data-hall="votes"]'), hall.votes);
    set(root.querySelector('[data-hall="satisfaction"]'), pct(hall.satisfaction));
    set(root.querySelector('[data-hall="response"]'),
        pct(hall.ended ? Math.min(1, hall.rated / hall.ended) : null));
    set(root.querySelector('[data-hall="red"]'), hall.red);
    set(root.querySelector('[data-hall="red_names"]'), hall.red_names.join("、"));
    root.querySelector('[data-hall-box="red"]').classList.toggle("alert", hall.red > 0);
    var presence = root.querySelector('[data-hall="presence"]');
    if (presence && data.presence !== undefined) set(presence, pct(data.presence));
    set(root.querySelector('[data-field="updated"]'), fill(d.updated, { time: data.updated }));
    data.windows.forEach(function (w) {
      var card = root.querySelector('[data-window="' + w.id + '"]');
      if (!card) return;
      card.classList.toggle("red", w.red);
      card.querySelector(".red-mark").hidden = !w.red;
      set(card.querySelector('[data-field="votes"]'), w.votes);
      set(card.querySelector('[data-field="satisfaction"]'), pct(w.satisfaction));
      set(card.querySelector('[data-field="dissatisfied"]'), w.dissatisfied);
      set(card.querySelector('[data-field="response"]'), pct(w.response_rate));
      set(card.querySelector('[data-field="response_detail"]'),
          fill(d.responseDetail, { rated: w.rated, ended: w.ended }));
      var duty = w.on_duty.length ? w.on_duty.join("、") : d.nobody;
      set(card.querySelector('[data-field="on_duty"]'), duty + (w.paused ? " · " + d.paused : ""));
      if (w.devices.length) {
        var list = card.querySelector('[data-field="devices"]');
        var items = w.devices.map(device);
        list.replaceChildren.apply(list, items);
      }
    });
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(d.url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) update(data); })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  document.addEventListener("console:change", refresh);
})();
