// The exam page: countdown, autosave and submit. A static file, not an inline script, so the
// page's Content-Security-Policy can allow scripts from the tool's own origin only; the page
// hands over its data in <script id="page-data" type="application/json">, which is not run.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("page-data").textContent);
  var answerOf = window.quizsvc.answerOf;  // exam_answer.js
  // The countdown follows the server's deadline, corrected for this device's clock offset.
  var offset = Date.parse(data.server_time) - Date.now();
  var deadline = Date.parse(data.deadline);
  var countdown = document.getElementById("countdown");
  var status = document.getElementById("save-status");
  var pending = 0;
  var closed = false;

  function tick() {
    var left = Math.max(0, Math.round((deadline - (Date.now() + offset)) / 1000));
    var minutes = Math.floor(left / 60), seconds = left % 60;
    countdown.textContent = minutes + ":" + (seconds < 10 ? "0" : "") + seconds;
    countdown.classList.toggle("low", left <= 60);
    if (left === 0 && !closed) {
      closed = true;
      status.textContent = "Time is up: your saved answers will be graded.";
      // The server grades at deadline plus grace; reloading shows the review then.
      setTimeout(function () { window.location.assign(data.page_url); }, 5000);
    }
  }

  function request(method, url, body) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": data.csrf },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (json) {
        if (!response.ok) { throw new Error(json.message || ("HTTP " + response.status)); }
        return json;
      });
    });
  }

  function save(fieldset) {
    var state = fieldset.querySelector("[data-save-state]");
    var id = fieldset.getAttribute("data-question-id");
    state.textContent = "Saving…";
    state.classList.remove("error");
    pending += 1;
    status.textContent = "Saving…";
    return request("PUT", data.save_url + encodeURIComponent(id), { answer: answerOf(fieldset) })
      .then(function () { state.textContent = "Saved"; })
      .catch(function (error) { state.textContent = "Not saved: " + error.message; state.classList.add("error"); })
      .then(function () {
        pending -= 1;
        if (pending === 0) { status.textContent = "All answers saved."; }
      });
  }

  // Enter in a text box would submit the form, reloading the page: answers save as they
  // change and "Submit answers" submits. (An onsubmit attribute is inline script, which the
  // CSP refuses.)
  document.getElementById("exam").addEventListener("submit", function (event) {
    event.preventDefault();
  });

  var timers = {};
  Array.prototype.forEach.call(document.querySelectorAll("fieldset.question"), function (fieldset) {
    var id = fieldset.getAttribute("data-question-id");
    fieldset.addEventListener("change", function () { clearTimeout(timers[id]); save(fieldset); });
    fieldset.addEventListener("input", function (event) {
      if (event.target.type === "radio" || event.target.type === "checkbox") { return; }
      clearTimeout(timers[id]);
      timers[id] = setTimeout(function () { save(fieldset); }, 600);
    });
  });

  document.getElementById("submit").addEventListener("click", function () {
    var button = this;
    button.disabled = true;
    status.textContent = "Submitting…";
    var saves = Array.prototype.map.call(document.querySelectorAll("fieldset.question"), function (fieldset) {
      var id = fieldset.getAttribute("data-question-id");
      if (timers[id]) { clearTimeout(timers[id]); delete timers[id]; return save(fieldset); }
      return Promise.resolve();
    });
    Promise.all(saves)
      .then(function () { return request("POST", data.submit_url); })
      .then(function (reply) { window.location.assign(reply.review_url); })
      .catch(function (error) { status.textContent = "Not submitted: " + error.message; button.disabled = false; });
  });

  tick();
  setInterval(tick, 1000);
})();
