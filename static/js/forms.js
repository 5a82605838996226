/*
 * Forms: after the first submit, mark the form busy and ignore further submits, so a double
 * tap sends one request. The server changes nothing on a repeat anyway; this keeps the page calm.
 */
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.getAttribute("data-busy") === "true") {
      event.preventDefault();
      return;
    }
    form.setAttribute("data-busy", "true");
    form.setAttribute("aria-busy", "true");
    // If the answer never comes (lost connection), let the consumer try again.
    window.setTimeout(function () {
      form.removeAttribute("data-busy");
      form.removeAttribute("aria-busy");
    }, 8000);
  });
  // Returning through the back/forward cache: the form is usable again.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      var forms = document.querySelectorAll("form[data-busy]");
      for (var i = 0; i < forms.length; i++) {
        forms[i].removeAttribute("data-busy");
        forms[i].removeAttribute("aria-busy");
      }
    }
  });
})();

/*
 * A page that comes back with errors: move the focus to the first field to fix, so keyboard and
 * screen-reader users land on it (the summary above it is announced through role="alert").
 */
(function () {
  "use strict";
  var invalid = document.querySelector(".field--invalid input, .field--invalid select");
  if (invalid && document.querySelector(".notice--error[role='alert']")) {
    invalid.focus();
  }
})();
