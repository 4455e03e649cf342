// Loam's web UI script: the progress of posts and syncs, the compose
// form's upload, copying the friend code. Every page works without it
// (forms post as usual); it adds progress and convenience. It is served
// from the app itself: the Content-Security-Policy allows no inline script.
"use strict";

(function () {
  function $(id) { return document.getElementById(id); }

  function size(n) {
    if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + " MiB";
    if (n >= 1 << 10) return (n / (1 << 10)).toFixed(1) + " KiB";
    return n + " B";
  }

  // A running post or sync: poll its progress, and reload the page when
  // it ends, so the page shows the outcome and what arrived.
  function followJob(section) {
    var id = section.dataset.job;
    var unit = section.dataset.kind === "post" ? "packets" : "steps";
    var bar = $("job-progress"), count = $("job-count");
    function poll() {
      fetch("/api/jobs/" + encodeURIComponent(id), {
        headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store",
      })
        .then(function (r) { return r.json(); })
        .then(function (j) {
          if (j.state !== "running") {
            location.reload();
            return;
          }
          if (j.total > 0) {
            if (bar) { bar.max = j.total; bar.value = j.done; }
            if (count) count.textContent = j.done + " of " + j.total + " " + unit;
          }
          setTimeout(poll, 400);
        })
        .catch(function () { setTimeout(poll, 2000); });
    }
    poll();
  }

  // The compose form: check the files' size here, upload with a progress
  // bar, then follow the post into the network on the timeline.
  function compose(form) {
    var input = $("attachments"), info = $("attach-info"), errBox = $("compose-error");
    var box = $("upload"), bar = $("upload-progress"), status = $("upload-status"), button = $("post-button");
    var maxBytes = Number(form.dataset.maxBytes), maxFiles = Number(form.dataset.maxFiles);
    var infoText = info.textContent;

    function showError(text) {
      errBox.textContent = text;
      errBox.hidden = !text;
    }
    function total() {
      var n = 0;
      for (var i = 0; i < input.files.length; i++) n += input.files[i].size;
      return n;
    }
    function problem() {
      if (input.files.length > maxFiles) return "Too many files: at most " + maxFiles + ".";
      if (total() > maxBytes) return "The files come to " + size(total()) + "; a post holds at most " + size(maxBytes) + ".";
      return "";
    }
    input.addEventListener("change", function () {
      showError(problem());
      info.textContent = input.files.length
        ? input.files.length + (input.files.length === 1 ? " file, " : " files, ") + size(total()) + " of " + size(maxBytes)
        : infoText;
    });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var p = problem();
      if (p) { showError(p); return; }
      showError("");
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.responseType = "json";
      box.hidden = false;
      button.disabled = true;
      bar.value = 0;
      status.textContent = "Handing your post to Loam…";
      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) return;
        bar.value = Math.round((e.loaded / e.total) * 100);
        status.textContent = "Handing your post to Loam: " + bar.value + "%";
      });
      xhr.addEventListener("load", function () {
        var body = xhr.response || {};
        if (xhr.status === 202 && body.next) {
          bar.value = 100;
          status.textContent = "Sending into the network…";
          location.assign(body.next);
          return;
        }
        showError(body.error || "Loam refused the post (HTTP " + xhr.status + ").");
        box.hidden = true;
        button.disabled = false;
      });
      xhr.addEventListener("error", function () {
        showError("Loam did not answer: is `loam ui` still running?");
        box.hidden = true;
        button.disabled = false;
      });
      xhr.send(new FormData(form));
    });
  }

  function copyButton() {
    var button = $("copy-code"), code = $("my-code");
    if (!button || !code || !navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(code.textContent.trim()).then(function () {
        button.textContent = "Copied";
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var job = $("job");
    if (job && job.dataset.state === "running") followJob(job);
    var form = $("compose");
    if (form) compose(form);
    copyButton();
    // Other forms: one submission per click.
    document.querySelectorAll("form:not(#compose)").forEach(function (f) {
      f.addEventListener("submit", function () {
        f.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      });
    });
    // The status page refreshes itself while it is visible.
    if (document.body.dataset.page === "status") {
      setInterval(function () { if (!document.hidden) location.reload(); }, 5000);
    }
  });
})();
