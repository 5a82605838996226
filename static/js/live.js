/*
 * Live waiting pages (apps/flow/live.py): an event stream says when the page's live state
 * changes; the page is then fetched and its live part (#live) swapped in place. What the
 * consumer did survives the swap: the offer they picked, what they typed, the focus, and where
 * they were on the page. The change is read out through the #live-announce status region.
 * When no stream can be had (no EventSource, or the server has no slot free), the state URL is
 * polled instead. Without JavaScript a <noscript> meta refresh reloads the page.
 */
(function () {
  "use strict";
  var live = document.getElementById("live");
  var hook = document.getElementById("journey-poll");
  if (!live || !hook || !window.fetch || !window.DOMParser) {
    return;
  }
  var eventsUrl = hook.getAttribute("data-events-url");
  var stateUrl = hook.getAttribute("data-state-url");
  var shownState = hook.getAttribute("data-state");
  var interval = parseInt(hook.getAttribute("data-interval-ms"), 10) || 1000;
  var source = null;
  var timer = null;
  var busy = false;
  var again = false;
  var done = false;

  function stop() {
    done = true;
    window.clearTimeout(timer);
    if (source) {
      source.close();
      source = null;
    }
  }

  // --- What the consumer did, kept across a swap -------------------------------------------
  function snapshot() {
    var kept = { checked: [], values: {}, focus: null, anchor: null, anchorTop: 0 };
    Array.prototype.forEach.call(live.querySelectorAll("input, select, textarea"), function (field) {
      if ((field.type === "radio" || field.type === "checkbox") && field.checked) {
        kept.checked.push(field.name + "=" + field.value);
      } else if (field.id && field.type !== "radio" && field.type !== "checkbox" && field.type !== "hidden") {
        kept.values[field.id] = field.value;
      }
    });
    var active = document.activeElement;
    if (active && active.id && live.contains(active)) {
      kept.focus = active.id;
    }
    // The element to keep still on screen: the picked offer, else the focused field.
    var anchor = live.querySelector(".offer input:checked") || (kept.focus && document.getElementById(kept.focus));
    if (anchor && anchor.id) {
      kept.anchor = anchor.id;
      kept.anchorTop = anchor.getBoundingClientRect().top;
    }
    return kept;
  }

  function restore(kept) {
    Array.prototype.forEach.call(live.querySelectorAll("input, select, textarea"), function (field) {
      if (field.type === "radio" || field.type === "checkbox") {
        if (kept.checked.indexOf(field.name + "=" + field.value) !== -1) {
          field.checked = true;
        }
      } else if (field.id && Object.prototype.hasOwnProperty.call(kept.values, field.id)) {
        field.value = kept.values[field.id];
      }
    });
    if (kept.focus && document.getElementById(kept.focus)) {
      document.getElementById(kept.focus).focus({ preventScroll: true });
    }
    var anchor = kept.anchor && document.getElementById(kept.anchor);
    if (anchor) {
      window.scrollBy(0, anchor.getBoundingClientRect().top - kept.anchorTop);
    }
  }

  function announce(fresh) {
    var region = document.getElementById("live-announce");
    var said = fresh.querySelector("[data-announce]");
    if (region && said) {
      region.textContent = said.textContent.replace(/\s+/g, " ").trim();
    }
  }

  // --- Fetch the page and swap its live part ------------------------------------------------
  function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store", headers: { Accept: "text/html" } })
      .then(function (response) {
        var here = window.location.pathname + window.location.search;
        var there = new URL(response.url);
        if (response.status === 404 || there.pathname + there.search !== here) {
          stop();
          window.location.assign(response.url); // another step now: go there
          return null;
        }
        if (!response.ok) {
          throw new Error("page " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        if (html === null) {
          return;
        }
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.getElementById("live");
        if (!fresh) {
          stop();
          window.location.reload();
          return;
        }
        var kept = snapshot();
        live.innerHTML = fresh.innerHTML;
        restore(kept);
        announce(fresh);
        var newHook = document.getElementById("journey-poll");
        if (!newHook) {
          stop(); // nothing left to wait for
          return;
        }
        shownState = newHook.getAttribute("data-state");
      })
      .catch(function () {
        again = true; // offline or a hiccup: look again on the next tick
      })
      .then(function () {
        busy = false;
        if (again && !done) {
          again = false;
          window.setTimeout(refresh, interval);
        }
      });
  }

  function changed(state) {
    if (state !== shownState && !done) {
      shownState = state;
      refresh();
    }
  }

  // --- Learning of changes: the stream, else polling ---------------------------------------
  function poll() {
    fetch(stateUrl, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("state " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        changed(data.state);
        schedule(interval);
      })
      .catch(function () {
        schedule(Math.min(interval * 4, 10000));
      });
  }

  function schedule(delay) {
    window.clearTimeout(timer);
    if (!done) {
      timer = window.setTimeout(poll, delay);
    }
  }

  function listen() {
    if (!window.EventSource) {
      schedule(interval);
      return;
    }
    source = new EventSource(eventsUrl + "?shown=" + encodeURIComponent(shownState));
    source.onmessage = function (event) {
      changed(event.data);
    };
    source.onerror = function () {
      // Closed for good (204, or not a stream): poll instead. Otherwise it reconnects by itself.
      if (source && source.readyState === EventSource.CLOSED) {
        source = null;
        if (!done) {
          poll();
        }
      }
    };
  }

  // Coming back through the back/forward cache shows an old page: look again at once.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      refresh();
    }
  });
  listen();
})();
