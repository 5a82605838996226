/*
 * Waiting pages: ask the server for the journey's state and, when it changes, go to the
 * journey's resume URL, which redirects to the page that fits the new state.
 * Without JavaScript a <noscript> meta refresh reloads the page instead.
 */
(function () {
  "use strict";
  var hook = document.getElementById("journey-poll");
  if (!hook || !window.fetch) {
    return;
  }
  var stateUrl = hook.getAttribute("data-state-url");
  var resumeUrl = hook.getAttribute("data-resume-url");
  var shownState = hook.getAttribute("data-state");
  var interval = parseInt(hook.getAttribute("data-interval-ms"), 10) || 1000;
  var maxInterval = 10000;
  var timer = null;

  function go() {
    window.location.assign(resumeUrl);
  }

  function schedule(delay) {
    window.clearTimeout(timer);
    timer = window.setTimeout(check, delay);
  }

  function check() {
    fetch(stateUrl, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 404) {
          go(); // the journey is no longer this browser's: the resume URL explains it
          return null;
        }
        if (!response.ok) {
          throw new Error("state " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        if (data === null) {
          return;
        }
        if (data.state !== shownState) {
          go();
          return;
        }
        schedule(interval);
      })
      .catch(function () {
        // Offline or a server hiccup: keep trying, more slowly.
        interval = Math.min(interval * 2, maxInterval);
        schedule(interval);
      });
  }

  // Coming back through the back/forward cache shows an old page: ask again at once.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      check();
    }
  });
  schedule(interval);
})();
