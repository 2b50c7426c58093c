/* On a page of its own the keys also work without focus: on the stepper used last, or the
   first one. (In a notebook only a focused stepper takes keys: the notebook needs them.) */
document.querySelectorAll(".ag-stepper").forEach(agStepperInit);
document.addEventListener("keydown", function (e) {
  var t = e.target && e.target.tagName;
  if (t === "INPUT" || t === "TEXTAREA" || t === "SELECT") { return; }
  var root = window.agStepperActive || document.querySelector(".ag-stepper");
  if (root && root.agStep) { agStepperKey(root, e); }
});
