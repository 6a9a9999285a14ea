/* kbgen reader's site: persistent task lists, learning-path progress, click-to-enlarge images.
 * No dependencies, no network. State lives in localStorage under "kbgen:" keys:
 *   kbgen:step:<note src_uri>            a path step marked as learned ("1"/"0")
 *   kbgen:task:<page src_uri>:<n>:<text> the n-th task with that text on a page
 */
(function () {
  "use strict";
  var PREFIX = "kbgen:";

  function load(key) {
    try { return window.localStorage.getItem(PREFIX + key); } catch (e) { return null; }
  }
  function save(key, on) {
    try { window.localStorage.setItem(PREFIX + key, on ? "1" : "0"); } catch (e) { /* private mode */ }
  }

  function pageKey() {
    var el = document.querySelector("[data-kb-src]");
    return el ? el.getAttribute("data-kb-src") : window.location.pathname;
  }

  function article() {
    return document.querySelector("article.md-content__inner") || document.body;
  }

  function taskText(input) {
    var item = input.closest("li");
    var text = item ? item.textContent : "";
    return text.replace(/\s+/g, " ").trim().slice(0, 120);
  }

  function initTasks(root) {
    var page = pageKey();
    var seen = {};
    root.querySelectorAll(".task-list-control input[type=checkbox]").forEach(function (input) {
      var text = taskText(input);
      seen[text] = (seen[text] || 0) + 1;
      var key = "task:" + page + ":" + seen[text] + ":" + text;
      input.disabled = false;
      var stored = load(key);
      if (stored !== null) input.checked = stored === "1";
      input.addEventListener("change", function () { save(key, input.checked); update(root); });
    });
  }

  function initSteps(root) {
    var boxes = root.querySelectorAll("input[data-kb-step]");
    boxes.forEach(function (input) {
      var key = "step:" + input.getAttribute("data-kb-step");
      input.checked = load(key) === "1";
      input.addEventListener("change", function () {
        save(key, input.checked);
        boxes.forEach(function (other) {
          if (other.getAttribute("data-kb-step") === input.getAttribute("data-kb-step")) other.checked = input.checked;
        });
        update(root);
      });
    });
  }

  function update(root) {
    root.querySelectorAll("[data-kb-progress]").forEach(function (box) {
      var inputs = root.querySelectorAll("input[data-kb-step], .task-list-control input[type=checkbox]");
      var done = 0;
      inputs.forEach(function (i) { if (i.checked) done += 1; });
      var bar = box.querySelector("progress");
      var count = box.querySelector(".kb-progress__count");
      if (bar) { bar.max = Math.max(inputs.length, 1); bar.value = done; }
      if (count) count.textContent = done + " / " + inputs.length;
      box.classList.toggle("kb-progress--complete", inputs.length > 0 && done === inputs.length);
    });
  }

  /* Lightbox: a click on a content image shows it full size; click, Escape or the button closes. */
  function initLightbox(root) {
    root.querySelectorAll("img").forEach(function (img) {
      if (img.closest("a") || img.closest(".kb-no-lightbox") || img.classList.contains("twemoji")) return;
      img.classList.add("kb-zoomable");
      img.addEventListener("click", function () { openLightbox(img); });
    });
  }

  function openLightbox(img) {
    var overlay = document.createElement("div");
    overlay.className = "kb-lightbox";
    overlay.setAttribute("role", "dialog");
    overlay.setAttribute("aria-modal", "true");
    var big = document.createElement("img");
    big.src = img.currentSrc || img.src;
    big.alt = img.alt || "";
    var close = document.createElement("button");
    close.type = "button";
    close.className = "kb-lightbox__close";
    close.setAttribute("aria-label", "关闭");
    close.textContent = "×";
    overlay.appendChild(big);
    overlay.appendChild(close);
    function done() {
      overlay.remove();
      document.removeEventListener("keydown", onKey);
    }
    function onKey(e) { if (e.key === "Escape") done(); }
    overlay.addEventListener("click", done);
    document.addEventListener("keydown", onKey);
    document.body.appendChild(overlay);
    close.focus();
  }

  /* From file://, Material's search "worker" runs on the page's own thread (iframe-worker):
   * the index is built when search is first opened, and keystrokes that arrive while it is
   * busy are dropped, so the results can belong to a prefix of the query. Re-send the query
   * once typing pauses and once the index is ready. */
  function replayQueries() {
    if (window.location.protocol !== "file:") return;
    var input = document.querySelector("input.md-search__input");
    var meta = document.querySelector(".md-search-result__meta");
    if (!input || !meta || input.getAttribute("data-kb-replay")) return;
    input.setAttribute("data-kb-replay", "1");
    var timer = null;
    function replay() {
      if (input.value) input.dispatchEvent(new KeyboardEvent("keyup", { bubbles: true }));
    }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(replay, 300);
    });
    var initial = meta.textContent;
    var observer = new MutationObserver(function () {
      if (meta.textContent === initial) return;
      observer.disconnect();
      replay();
    });
    observer.observe(meta, { childList: true, characterData: true, subtree: true });
  }

  function init() {
    replayQueries();
    var root = article();
    initTasks(root);
    initSteps(root);
    update(root);
    initLightbox(root);
  }

  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(init);  // Material: runs on load and after instant navigation
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
