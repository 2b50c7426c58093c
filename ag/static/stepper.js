/* The stepper's script (ag.stepper): one function sets up every stepper not set up yet;
   a page's own script calls it, and so does the notebook widget (ag.widget). */
function agStepperInit(root) {
  if (!root || root.dataset.agReady) { return; }
  root.dataset.agReady = "1";
  var frames = Array.prototype.slice.call(root.querySelectorAll("section.frame"));
  var q = function (name) { return root.querySelector("[data-role='" + name + "']"); };
  var current = 0;
  function show(i, reveal) {
    if (!frames.length) { return; }
    current = Math.max(0, Math.min(frames.length - 1, i));
    frames.forEach(function (f, j) { f.hidden = (j !== current); });
    agFit(frames[current]);
    agReveal(frames[current], reveal !== false);
    q("iteration").textContent = String(current);
    q("position").textContent = String(current + 1);
    q("prev").disabled = q("first").disabled = current === 0;
    q("next").disabled = q("last").disabled = current === frames.length - 1;
    root.dataset.iteration = String(current);
    if (root.agOnShow) { root.agOnShow(current); }
  }
  root.agShow = show;
  window.addEventListener("resize", function () { agFit(frames[current]); });
  root.agStep = function (d) { show(current + d); };
  q("first").addEventListener("click", function () { show(0); });
  q("prev").addEventListener("click", function () { show(current - 1); });
  q("next").addEventListener("click", function () { show(current + 1); });
  q("last").addEventListener("click", function () { show(frames.length - 1); });
  root.addEventListener("mousedown", function () { window.agStepperActive = root; });
  root.addEventListener("click", function () { window.agStepperActive = root; });
  root.addEventListener("focusin", function () { window.agStepperActive = root; });
  root.addEventListener("keydown", function (e) { if (agStepperKey(root, e)) { e.stopPropagation(); } });
  var start = 0;
  if (!document.querySelector(".ag-stepper[data-ag-first]")) {
    root.dataset.agFirst = "1";  // #3 in the URL opens iteration 3 of the page's first stepper
    start = parseInt((window.location.hash || "#0").slice(1), 10);
  }
  // a page opened at #3 brings that node into view; a notebook cell does not jump the page
  show(isNaN(start) ? 0 : start, start > 0);
}
// A graph shrinks with its column down to its min-width; one that would scroll even then is
// drawn at its natural size instead (larger text), and scrolls.
function agFit(frame) {
  var box = frame.querySelector(".graph"), svg = box && box.querySelector("svg");
  if (!svg || !svg.style.minWidth) { return; }
  svg.style.maxWidth = box.clientWidth < parseFloat(svg.style.minWidth) ? "none" : "";
}
// Bring the frame's current node into view: its graph scrolls sideways to it, and the
// page scrolls (only as far as needed) when the node is above or below the window.
function agReveal(frame, page) {
  var node = frame.querySelector("g.node.ag-current");
  var box = frame.querySelector(".graph");
  if (!node || !box) { return; }
  var n = node.getBoundingClientRect(), b = box.getBoundingClientRect();
  if (n.left < b.left || n.right > b.right) {
    box.scrollLeft += (n.left + n.right) / 2 - (b.left + b.right) / 2;
  }
  if (!page) { return; }
  var nav = frame.parentNode.querySelector("nav");
  var top = nav ? nav.getBoundingClientRect().bottom : 0;
  n = node.getBoundingClientRect();
  if (n.top < Math.max(top, 0)) { window.scrollBy(0, n.top - Math.max(top, 0) - 8); }
  else if (n.bottom > window.innerHeight) {
    window.scrollBy(0, Math.min(n.bottom - window.innerHeight + 8, n.top - Math.max(top, 0) - 8));
  }
}
function agStepperKey(root, e) {
  if (e.altKey || e.ctrlKey || e.metaKey) { return false; }
  var n = root.querySelectorAll("section.frame").length;
  if (e.key === "ArrowRight" || e.key === "ArrowDown" || e.key === "PageDown") { root.agStep(1); }
  else if (e.key === "ArrowLeft" || e.key === "ArrowUp" || e.key === "PageUp") { root.agStep(-1); }
  else if (e.key === "Home") { root.agShow(0); }
  else if (e.key === "End") { root.agShow(n - 1); }
  else { return false; }
  e.preventDefault();
  return true;
}
