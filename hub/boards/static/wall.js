// The web wall: draws each page the hub streams, without reloading.
//
// Pages arrive as server-sent events. When the hub has no stream slot left
// (it answers 503), the page polls frame.json instead and tries the stream
// again a minute later. Text is set with textContent, never as HTML.
(function () {
  "use strict";

  var board = document.getElementById("board");
  var live = document.getElementById("live");
  var pageLabel = document.getElementById("page");
  var POLL_MS = 3000;
  var STREAM_AGAIN_MS = 60000;
  var lastSeq = null;
  var lastPage = null;

  function setLive(on) {
    live.className = "live " + (on ? "on" : "off");
  }

  function render(view) {
    if (!view || (view.seq === lastSeq && view.page === lastPage && board.dataset.drawn)) {
      return;
    }
    lastSeq = view.seq;
    lastPage = view.page;
    board.dataset.drawn = "1";
    board.dataset.seq = String(view.seq);
    board.className = "board " + (view.style === "alert" ? "alert" : "normal");
    var fragment = document.createDocumentFragment();
    view.cells.forEach(function (line) {
      var row = document.createElement("div");
      row.className = "line";
      line.forEach(function (cell) {
        var span = document.createElement("span");
        span.className = "c" + cell[1];
        span.textContent = cell[0];
        row.appendChild(span);
      });
      fragment.appendChild(row);
    });
    board.replaceChildren(fragment);
    pageLabel.textContent = view.page + 1 + "/" + view.pages;
  }

  function poll() {
    fetch(board.dataset.frame, { cache: "no-store" })
      .then(function (response) {
        return response.json();
      })
      .then(function (body) {
        render(body.view);
        setLive(true);
      })
      .catch(function () {
        setLive(false);
      });
  }

  function pollForAWhile() {
    var timer = setInterval(poll, POLL_MS);
    poll();
    setTimeout(function () {
      clearInterval(timer);
      stream();
    }, STREAM_AGAIN_MS);
  }

  function stream() {
    if (!window.EventSource) {
      setInterval(poll, POLL_MS);
      return;
    }
    var source = new EventSource(board.dataset.events);
    source.addEventListener("page", function (event) {
      render(JSON.parse(event.data));
      setLive(true);
    });
    source.onopen = function () {
      setLive(true);
    };
    source.onerror = function () {
      setLive(false);
      // CONNECTING: the browser retries by itself. CLOSED: refused (no slot).
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        pollForAWhile();
      }
    };
  }

  stream();
})();
