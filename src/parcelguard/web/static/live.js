// Marks the page live while its event stream is open (the dot in the heading).
(function () {
  "use strict";
  document.body.addEventListener("htmx:sseOpen", function () { document.body.classList.add("live"); });
  document.body.addEventListener("htmx:sseError", function () { document.body.classList.remove("live"); });
})();
