// The web app's exam page: countdown from the server's deadline, autosave through a retry
// queue kept in localStorage (it outlives a lost connection and a reload: an answer leaves
// the queue only when the server has acknowledged that very answer), one question at a time
// or all on one page, keyboard navigation, warnings before the deadline, and submit.
// A static file: the page's Content-Security-Policy runs no inline script.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("page-data").textContent);
  var answerOf = window.quizsvc.answerOf;  // exam_answer.js
  var offset = Date.parse(data.server_time) - Date.now();
  var deadline = Date.parse(data.deadline);
  var acceptUntil = Date.parse(data.accept_until);
  var queueKey = "quizsvc.app.pending." + data.attempt_id;
  var modeKey = "quizsvc.app.exam-mode";

  var timer = document.getElementById("timer");
  var announce = document.getElementById("timer-announce");
  var warning = document.getElementById("deadline-warning");
  var saveState = document.getElementById("save-state");
  var questionNav = document.getElementById("question-nav");
  var stepNav = document.getElementById("step-nav");
  var submitButton = document.getElementById("submit");
  var submitNote = document.getElementById("submit-note");
  var form = document.getElementById("exam");
  var fieldsets = Array.prototype.slice.call(document.querySelectorAll("fieldset.question"));
  var navButtons = Array.prototype.slice.call(questionNav.querySelectorAll("button[data-goto]"));

  // -- the retry queue ------------------------------------------------------------------------
  // {question id: {answer, seq}}: the latest answer typed for each question that the server
  // has not acknowledged yet. seq tells a newer answer from the one a reply acknowledges.
  var queue = readQueue();
  var inFlight = {};
  var seq = Date.now();
  var offline = navigator.onLine === false;
  var problem = null;
  var closed = false;
  var retryTimer = null;
  var retryDelay = 1000;
  var sendTimers = {};

  function readQueue() {
    try {
      var stored = JSON.parse(window.localStorage.getItem(queueKey) || "{}");
      return stored && typeof stored === "object" ? stored : {};
    } catch (error) {
      return {};
    }
  }

  function writeQueue() {
    try {
      if (Object.keys(queue).length) {
        window.localStorage.setItem(queueKey, JSON.stringify(queue));
      } else {
        window.localStorage.removeItem(queueKey);
      }
    } catch (error) {
      // Storage full or disabled: the queue still lives in memory until the page closes.
    }
  }

  function fieldsetOf(id) {
    for (var i = 0; i < fieldsets.length; i += 1) {
      if (fieldsets[i].getAttribute("data-question-id") === id) { return fieldsets[i]; }
    }
    return null;
  }

  function showAnswer(fieldset, answer) {
    var type = fieldset.getAttribute("data-type");
    if (type === "multiple_choice" || type === "multiple_response") {
      var chosen = Array.isArray(answer) ? answer : [answer];
      Array.prototype.forEach.call(fieldset.querySelectorAll("input"), function (input) {
        input.checked = chosen.indexOf(input.value) !== -1;
      });
    } else {
      fieldset.querySelector("input[type=text], textarea").value = answer === null ? "" : answer;
    }
  }

  function isAnswered(fieldset) {
    var answer = answerOf(fieldset);
    return answer !== null && !(Array.isArray(answer) && answer.length === 0);
  }

  function remember(fieldset) {
    seq += 1;
    queue[fieldset.getAttribute("data-question-id")] = { answer: answerOf(fieldset), seq: seq };
    writeQueue();
    problem = null;
    render();
  }

  function flush() {
    if (closed) { return; }
    Object.keys(queue).forEach(function (id) {
      if (!inFlight[id]) { send(id); }
    });
  }

  function headers() {
    var result = { "Content-Type": "application/json", "Accept": "application/json" };
    result[data.csrf_header] = data.csrf;
    result[data.fetch_header] = "fetch";
    return result;
  }

  function send(id) {
    var item = queue[id];
    inFlight[id] = true;
    fetch(data.save_url.replace("QID", encodeURIComponent(id)), {
      method: "PUT",
      credentials: "same-origin",
      headers: headers(),
      body: JSON.stringify({ answer: item.answer })
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (reply) {
        inFlight[id] = false;
        offline = false;
        var current = queue[id];
        var same = current && current.seq === item.seq;
        if (response.ok) {
          retryDelay = 1000;
          if (same) { delete queue[id]; }
        } else if (response.status === 409) {
          // The time (with its grace) is over, or the attempt was submitted elsewhere.
          problem = reply.message || "answers can no longer change";
          closed = true;
          queue = {};
          setTimeout(function () { window.location.assign(data.page_url); }, 3000);
        } else if (response.status === 401 || response.status === 403) {
          problem = "you are signed out. Sign in again in another tab; your answers wait here.";
        } else if (response.status >= 500 || response.status === 429) {
          scheduleRetry();
        } else {
          problem = reply.message || ("HTTP " + response.status);
          if (same) { delete queue[id]; }
        }
        writeQueue();
        render();
        if (queue[id] && !closed && response.ok) { send(id); }
      });
    }, function () {
      // No reply at all: offline, or the server is unreachable. The answer stays queued.
      inFlight[id] = false;
      offline = true;
      render();
      scheduleRetry();
    });
  }

  function scheduleRetry() {
    if (retryTimer !== null) { return; }
    retryTimer = setTimeout(function () { retryTimer = null; flush(); }, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 15000);
  }

  window.addEventListener("online", function () {
    offline = false;
    retryDelay = 1000;
    render();
    flush();
  });
  window.addEventListener("offline", function () { offline = true; render(); });

  function render() {
    var waiting = Object.keys(queue).length;
    var state, text;
    if (problem) {
      state = "error";
      text = "Not saved: " + problem;
    } else if (waiting && offline) {
      state = "offline";
      text = "Offline: " + waiting + (waiting === 1 ? " answer is" : " answers are") +
        " kept on this device and will be sent when the connection is back.";
    } else if (waiting) {
      state = "saving";
      text = "Saving…";
    } else {
      state = "saved";
      text = "All answers saved.";
    }
    if (saveState.getAttribute("data-state") !== state || saveState.textContent !== text) {
      saveState.setAttribute("data-state", state);
      saveState.textContent = text;
    }
    fieldsets.forEach(function (fieldset, index) {
      var id = fieldset.getAttribute("data-question-id");
      var answered = isAnswered(fieldset);
      var label = queue[id] ? (offline ? "Waiting to be sent" : "Saving…") : (answered ? "Saved" : "Not answered");
      fieldset.querySelector("[data-save-state]").textContent = label;
      var button = navButtons[index];
      button.classList.toggle("answered", answered);
      button.setAttribute("aria-label", "Question " + (index + 1) + (answered ? ", answered" : ", not answered"));
    });
  }

  fieldsets.forEach(function (fieldset) {
    var id = fieldset.getAttribute("data-question-id");
    fieldset.addEventListener("change", function () {
      clearTimeout(sendTimers[id]);
      remember(fieldset);
      flush();
    });
    fieldset.addEventListener("input", function (event) {
      if (event.target.type === "radio" || event.target.type === "checkbox") { return; }
      // Kept at once (a reload loses no keystroke), sent after a pause in typing.
      remember(fieldset);
      clearTimeout(sendTimers[id]);
      sendTimers[id] = setTimeout(flush, 500);
    });
  });

  // Answers typed but never acknowledged (the connection dropped, the page was reloaded)
  // are newer than the server's record: shown, then sent.
  Object.keys(queue).forEach(function (id) {
    var fieldset = fieldsetOf(id);
    if (fieldset) { showAnswer(fieldset, queue[id].answer); } else { delete queue[id]; }
  });
  writeQueue();

  // -- one question at a time, or all -----------------------------------------------------------
  var modeInputs = document.querySelectorAll("#mode-switch input[name=mode]");
  var current = 0;

  function mode() {
    var chosen = document.querySelector("#mode-switch input[name=mode]:checked");
    return chosen ? chosen.value : "all";
  }

  function show(index, focus) {
    current = Math.max(0, Math.min(fieldsets.length - 1, index));
    var single = mode() === "one";
    form.classList.toggle("one-at-a-time", single);
    fieldsets.forEach(function (fieldset, position) {
      fieldset.hidden = single && position !== current;
    });
    navButtons.forEach(function (button, position) {
      if (position === current) {
        button.setAttribute("aria-current", "step");
      } else {
        button.removeAttribute("aria-current");
      }
    });
    questionNav.hidden = !single;
    stepNav.hidden = !single;
    document.getElementById("previous").disabled = current === 0;
    document.getElementById("next").disabled = current === fieldsets.length - 1;
    if (focus) {
      fieldsets[current].focus();
      if (!single) { fieldsets[current].scrollIntoView({ block: "start" }); }
    }
  }

  var savedMode = null;
  try { savedMode = window.localStorage.getItem(modeKey); } catch (error) { savedMode = null; }
  Array.prototype.forEach.call(modeInputs, function (input) {
    if (savedMode && input.value === savedMode) { input.checked = true; }
    input.addEventListener("change", function () {
      try { window.localStorage.setItem(modeKey, mode()); } catch (error) { /* not kept */ }
      show(current, false);
    });
  });
  navButtons.forEach(function (button) {
    button.addEventListener("click", function () {
      show(parseInt(button.getAttribute("data-goto"), 10), true);
    });
  });
  document.getElementById("previous").addEventListener("click", function () { show(current - 1, true); });
  document.getElementById("next").addEventListener("click", function () { show(current + 1, true); });
  fieldsets.forEach(function (fieldset, index) {
    fieldset.addEventListener("focusin", function () { current = index; });
  });
  document.addEventListener("keydown", function (event) {
    if (!event.altKey || event.ctrlKey || event.metaKey) { return; }
    if (event.key === "PageDown") { event.preventDefault(); show(current + 1, true); }
    if (event.key === "PageUp") { event.preventDefault(); show(current - 1, true); }
  });
  // Enter in a text box would submit the form: answers save as they change instead.
  form.addEventListener("submit", function (event) { event.preventDefault(); });

  // -- the countdown ----------------------------------------------------------------------------
  var warned = {};

  function clock(seconds) {
    var hours = Math.floor(seconds / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    var rest = seconds % 60;
    var text = (hours ? hours + ":" + (minutes < 10 ? "0" : "") : "") + minutes + ":" + (rest < 10 ? "0" : "") + rest;
    return text;
  }

  function inWords(seconds) {
    var minutes = Math.ceil(seconds / 60);
    return minutes <= 1 ? "1 minute or less" : "less than " + minutes + " minutes";
  }

  function tick() {
    var now = Date.now() + offset;
    var left = Math.max(0, Math.round((deadline - now) / 1000));
    timer.textContent = clock(left);
    timer.classList.toggle("low", left <= data.warnings[0]);
    data.warnings.forEach(function (threshold) {
      if (left > 0 && left <= threshold && !warned[threshold]) {
        warned[threshold] = true;
        warning.hidden = false;
        warning.textContent = "Warning: " + inWords(left) + " left. Your answers are saved as you go; submit when you are ready.";
        announce.textContent = inWords(left) + " left.";
      }
    });
    if (left === 0 && !warned.end) {
      warned.end = true;
      warning.hidden = false;
      warning.textContent = "Time is up. Answers saved so far will be graded.";
      announce.textContent = "Time is up.";
      // The server takes answers until the deadline plus grace, then grades; the page then
      // shows the review.
      setTimeout(function () { window.location.assign(data.page_url); }, Math.max(0, acceptUntil - now) + 1500);
    }
  }

  // -- submit -----------------------------------------------------------------------------------
  var confirmUnanswered = false;

  function waitForQueue(timeoutMs) {
    return new Promise(function (resolve) {
      var started = Date.now();
      (function check() {
        if (!Object.keys(queue).length || closed) { resolve(true); return; }
        if (offline || Date.now() - started > timeoutMs) { resolve(false); return; }
        setTimeout(check, 100);
      })();
    });
  }

  submitButton.addEventListener("click", function () {
    var unanswered = [];
    fieldsets.forEach(function (fieldset, index) { if (!isAnswered(fieldset)) { unanswered.push(index + 1); } });
    if (unanswered.length && !confirmUnanswered) {
      confirmUnanswered = true;
      submitNote.hidden = false;
      submitNote.textContent = (unanswered.length === 1 ? "Question " : "Questions ") + unanswered.join(", ") +
        (unanswered.length === 1 ? " is" : " are") + " not answered. Press Submit answers again to hand in anyway.";
      return;
    }
    submitButton.disabled = true;
    submitNote.hidden = false;
    submitNote.textContent = "Submitting…";
    Object.keys(sendTimers).forEach(function (id) { clearTimeout(sendTimers[id]); });
    flush();
    waitForQueue(10000).then(function (sent) {
      if (!sent) {
        throw new Error("some answers have not reached the server yet (offline?). They are kept; submit again when the connection is back.");
      }
      return fetch(data.submit_url, { method: "POST", credentials: "same-origin", headers: headers() });
    }).then(function (response) {
      return response.json().then(function (reply) {
        if (!response.ok) { throw new Error(reply.message || ("HTTP " + response.status)); }
        window.localStorage.removeItem(queueKey);
        window.location.assign(reply.review_url);
      });
    }).catch(function (error) {
      submitNote.textContent = "Not submitted: " + (error.message === "Failed to fetch" ? "no connection; try again when you are back online." : error.message);
      submitButton.disabled = false;
    });
  });

  show(0, false);
  render();
  flush();
  tick();
  setInterval(tick, 1000);
})();
