// Sends the Deep Linking response to the LMS as soon as the page loads. A file rather than
// an inline script, because the page's CSP allows scripts from the tool's origin only.
(function () {
  "use strict";
  document.getElementById("autopost").submit();
})();
