/* Analytics Export admin pages: copy buttons, confirmations, the replay progress bar.
   Plain script, no build step; every page works without it (the progress bar then
   shows the state when the page was loaded). */
(function () {
  "use strict";

  function copyText(field, status) {
    var text = field.value;
    function done(ok) {
      if (status) { status.textContent = ok ? "Copied!" : "Select the text and copy it."; }
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () {
        field.select(); done(false);
      });
    } else {
      field.select();
      try { done(document.execCommand("copy")); } catch (e) { done(false); }
    }
  }

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var field = document.getElementById(button.getAttribute("data-copy"));
      var status = button.parentElement.querySelector(".copy-status") ||
        document.querySelector(".new-application-password-notice .copy-status");
      if (field) { copyText(field, status); }
    });
  });

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });

  var box = document.querySelector(".replay-progress[data-status-url]");
  if (box) {
    var bar = box.querySelector("progress");
    var percentText = box.querySelector(".replay-percent");
    var message = box.querySelector(".replay-message");
    var url = box.getAttribute("data-status-url");
    var poll = function () {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.json(); })
        .then(function (body) {
          var data = body.data || {};
          if (!body.success) {
            message.textContent = data.message || "The replay's progress is unavailable.";
            return;
          }
          bar.value = data.percent;
          bar.textContent = data.percent + " %";
          percentText.textContent = data.percent + " %";
          box.setAttribute("data-state", data.state);
          if (message.textContent !== data.message) { message.textContent = data.message; }
          if (["finished", "failed", "stopped", "canceled"].indexOf(data.state) === -1) {
            window.setTimeout(poll, 1000);
          }
        })
        .catch(function () {
          message.textContent = "Lost contact with the server; retrying…";
          window.setTimeout(poll, 3000);
        });
    };
    poll();
  }
})();
