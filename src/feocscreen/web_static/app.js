// feocscreen upload page: progress while a screening runs, drag-and-drop, and swapping in
// the server-rendered answer. Without this script the form still posts and the page reloads.
"use strict";

(function () {
  const form = document.getElementById("screen-form");
  if (!form) return;
  const button = document.getElementById("submit");
  const progress = document.getElementById("progress");
  const bar = document.getElementById("progress-bar");
  const status = document.getElementById("progress-text");
  const workbook = document.getElementById("workbook");
  const dropzone = document.getElementById("dropzone");
  let timer = null;

  // A result rendered by a plain form post (no script ran then) gets the focus, and so the view.
  const rendered = document.getElementById("result");
  if (rendered && !rendered.hidden) {
    rendered.focus({ preventScroll: true });
    rendered.scrollIntoView({ block: "start" });
  }

  function showProgress(text, percent) {
    progress.hidden = false;
    status.textContent = text;
    if (percent === null) {
      bar.removeAttribute("value"); // indeterminate: the server is screening
    } else {
      bar.value = percent;
    }
  }

  function stopProgress() {
    if (timer !== null) clearInterval(timer);
    timer = null;
    progress.hidden = true;
    button.disabled = false;
    form.removeAttribute("aria-busy");
  }

  function showResult(section) {
    const current = document.getElementById("result");
    current.replaceWith(section);
    section.hidden = false;
    const heading = section.querySelector("h2");
    document.title = (heading ? heading.textContent + " — " : "") + "feocscreen";
    section.focus({ preventScroll: true });
    section.scrollIntoView({ block: "start" });
  }

  function showFailure(message) {
    const section = document.createElement("section");
    section.id = "result";
    section.className = "panel result";
    section.tabIndex = -1;
    const box = document.createElement("div");
    box.className = "error-box";
    box.setAttribute("role", "alert");
    const heading = document.createElement("h2");
    heading.textContent = "The workbook could not be screened";
    const text = document.createElement("p");
    text.className = "error-message";
    text.textContent = message;
    box.append(heading, text);
    section.append(box);
    showResult(section);
  }

  form.addEventListener("submit", function (event) {
    if (!form.checkValidity()) return; // let the browser point at the missing field
    event.preventDefault();
    // The server refuses a body over its cap; say so before uploading it.
    let total = 0;
    form.querySelectorAll("input[type=file]").forEach(function (input) {
      Array.prototype.forEach.call(input.files, function (file) { total += file.size; });
    });
    if (total > Number(form.dataset.maxBytes)) {
      showFailure("The upload is larger than the " + form.dataset.maxLabel + " limit.");
      return;
    }
    // No ruleset at all would mean "every shipped one" to the server: ask instead of guessing.
    const boxes = form.querySelectorAll("input[type=checkbox][name=rules]");
    const ownRules = document.getElementById("rules-file");
    const ticked = Array.prototype.some.call(boxes, function (box) { return box.checked; });
    if (boxes.length && !ticked && !(ownRules && ownRules.files.length)) {
      showFailure("Tick at least one ruleset, or add your own rules file.");
      return;
    }
    const data = new FormData(form);
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("Accept", "text/html");
    request.responseType = "text";
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    showProgress("Uploading… 0 %", 0);
    request.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        const percent = Math.round((100 * e.loaded) / e.total);
        showProgress("Uploading… " + percent + " %", percent);
      }
    });
    request.upload.addEventListener("load", function () {
      const started = Date.now();
      showProgress("Screening…", null);
      timer = setInterval(function () {
        const seconds = Math.round((Date.now() - started) / 1000);
        status.textContent = "Screening… " + seconds + " s";
      }, 1000);
    });
    request.addEventListener("load", function () {
      stopProgress();
      const page = new DOMParser().parseFromString(request.responseText, "text/html");
      const section = page.getElementById("result");
      if (section && !section.hidden) {
        showResult(document.importNode(section, true));
      } else {
        const text = page.body ? page.body.textContent.trim() : "";
        showFailure(text || "The server answered " + request.status + " without a result.");
      }
    });
    request.addEventListener("error", function () {
      stopProgress();
      showFailure("The server could not be reached. Is `feocscreen serve` still running?");
    });
    request.addEventListener("abort", stopProgress);
    request.send(data);
  });

  // Dropping files anywhere on the zone fills the workbook input.
  ["dragenter", "dragover"].forEach(function (name) {
    dropzone.addEventListener(name, function (event) {
      event.preventDefault();
      dropzone.classList.add("dragover");
    });
  });
  ["dragleave", "drop"].forEach(function (name) {
    dropzone.addEventListener(name, function () {
      dropzone.classList.remove("dragover");
    });
  });
  dropzone.addEventListener("drop", function (event) {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) {
      workbook.files = event.dataTransfer.files;
      workbook.dispatchEvent(new Event("change"));
    }
  });
})();
