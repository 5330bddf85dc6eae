// How an exam page reads the answer a question's form fields hold, for the web app's exam
// page (app_exam.js) and the LTI exam page (lti_exam.js); each page loads this file first.
// A static file: the pages' Content-Security-Policy runs no inline script.
(function () {
  "use strict";
  window.quizsvc = window.quizsvc || {};

  // The option id (multiple choice), the option ids (multiple response) or the text typed;
  // null when nothing is chosen or typed yet.
  window.quizsvc.answerOf = function (fieldset) {
    var type = fieldset.getAttribute("data-type");
    if (type === "multiple_choice") {
      var chosen = fieldset.querySelector("input:checked");
      return chosen ? chosen.value : null;
    }
    if (type === "multiple_response") {
      var picked = fieldset.querySelectorAll("input:checked");
      return Array.prototype.map.call(picked, function (input) { return input.value; });
    }
    var text = fieldset.querySelector("input[type=text], textarea").value;
    return text === "" ? null : text;
  };
}());
