// Behaviour the pages declare with data attributes, so that no template carries an inline
// handler or script (the Content-Security-Policy allows scripts from files of this site only).
//
// data-autosubmit on a control: changing it submits its form (a type switch that reloads the
// page with the right fields). Without JavaScript the form's <noscript> button does the same.
(function () {
  "use strict";
  document.addEventListener("change", function (ev) {
    var el = ev.target;
    if (!el || !el.hasAttribute || !el.hasAttribute("data-autosubmit") || !el.form) { return; }
    if (typeof el.form.requestSubmit === "function") { el.form.requestSubmit(); } else { el.form.submit(); }
  });
})();
