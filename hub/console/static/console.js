// Every console page: the event stream of the hub (or a poll when no stream is
// free), new warnings shown as notices, and a "console:change" event on the
// document whenever the hub's data changed, for the page's own live parts.
(function () {
  "use strict";
  var body = document.body;
  var eventsUrl = body.dataset.events;
  var pollUrl = body.dataset.poll;
  var area = document.getElementById("notices");
  if (!eventsUrl || !area) return;
  var POLL_MS = 5000;
  var version = null;

  function showNotice(notice) {
    var box = document.createElement("div");
    box.className = "notice";
    box.setAttribute("role", "alert");
    box.dataset.warning = notice.id;
    var text = document.createElement("span");
    text.textContent = notice.text;
    var close = document.createElement("button");
    close.type = "button";
    close.textContent = area.dataset.dismiss;
    close.addEventListener("click", function () { box.remove(); });
    box.appendChild(text);
    box.appendChild(close);
    area.prepend(box);
  }

  function changed() {
    document.dispatchEvent(new CustomEvent("console:change"));
  }

  function poll() {
    var url = pollUrl + (version === null ? "" : "?after=" + version);
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data) {
          if (version !== null && data.version !== version) {
            data.notices.forEach(showNotice);
            changed();
          }
          version = data.version;
          body.dataset.live = "poll";
        }
      })
      .catch(function () {})
      .then(function () { window.setTimeout(poll, POLL_MS); });
  }

  function stream() {
    var source = new EventSource(eventsUrl);
    var opened = false;
    source.addEventListener("hello", function (e) {
      var data = JSON.parse(e.data);
      if (opened && version !== null && data.version !== version) changed();
      opened = true;
      version = data.version;
      body.dataset.live = "stream";
      body.classList.remove("disconnected");
    });
    source.addEventListener("notice", function (e) { showNotice(JSON.parse(e.data)); });
    source.addEventListener("change", function (e) {
      version = JSON.parse(e.data).version;
      changed();
    });
    source.onerror = function () {
      if (!opened) {
        // Refused (every stream slot taken, or logged out): poll instead.
        source.close();
        poll();
        return;
      }
      body.classList.add("disconnected");
    };
  }

  if (window.EventSource) stream(); else poll();
})();
