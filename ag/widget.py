"""The backward-trace stepper as a Jupyter widget (anywidget): JupyterLab, Notebook 7,
VS Code and Colab.

>>> import ag
>>> x = ag.Scalar(2.0, label="x")
>>> w = ag.widget.Stepper(ag.backward_trace(x * x * x), graphs=False)  # doctest: +SKIP
>>> w  # shows the stepper in the output cell  # doctest: +SKIP

Any number of steppers can live in one notebook: each widget renders its own
``.ag-stepper`` element and nothing uses a document-wide id. ``iteration`` is synced
both ways: ``w.iteration = 3`` moves the stepper, and stepping in the page updates it.
The arrow, Home and End keys step a stepper that has focus (click it first).

Where no widget front end runs (GitHub, nbconvert, a docs site built from saved
outputs), the output's ``text/html`` is the offline stepper itself (:func:`static_html`),
so the page still shows a working stepper.

Needs anywidget, which the ``tutorials`` extra installs: ``pip install "ag-autograd[tutorials]"``.
"""

from __future__ import annotations

from typing import Any

from ag.stepper import CSS, SCRIPT, fragment
from ag.trace_record import BackwardTrace

__all__ = ["Stepper", "stepper", "static_html", "ESM"]

_MISSING = (
    'ag.widget needs anywidget: pip install "ag-autograd[tutorials]" (or pip install anywidget); '
    "without it, ag.stepper.html(trace) writes the same stepper as a page"
)

# The module the notebook front end runs: the stepper's own script, set up on the
# element the widget renders into, with its iteration synced to the Python side.
ESM = SCRIPT + """
function render({ model, el }) {
  el.innerHTML = model.get("html");
  const root = el.querySelector(".ag-stepper");
  if (!root) { return; }
  agStepperInit(root);
  root.agOnShow = (i) => {
    if (model.get("iteration") !== i) { model.set("iteration", i); model.save_changes(); }
  };
  const follow = () => { root.agShow(model.get("iteration")); };
  model.on("change:iteration", follow);
  root.agShow(model.get("iteration"), false);  // rendering a cell does not scroll the page
  return () => model.off("change:iteration", follow);
}
export default { render };
"""

try:
    import anywidget
    import traitlets
except ImportError:  # the module still imports (docs, doctests); making a widget says why not
    anywidget = None


if anywidget is not None:

    class Stepper(anywidget.AnyWidget):
        """A stepper for one backward trace, as a notebook widget.

        ``Stepper(run, graphs=True, digits=None, **draw_options)`` takes what
        :func:`ag.stepper.fragment` takes.
        """

        _esm = ESM
        _css = CSS
        html = traitlets.Unicode("").tag(sync=True)
        iteration = traitlets.Int(0).tag(sync=True)
        count = traitlets.Int(0).tag(sync=True)

        def __init__(self, run: BackwardTrace, **options: Any) -> None:
            super().__init__(html=fragment(run, **options), count=len(run.steps))
            self.run = run

        def _repr_mimebundle_(self, **kwargs: Any) -> Any:
            """The widget view, plus the offline stepper as ``text/html``: a page without the
            widget's front end (GitHub, nbconvert, a docs site) shows a working stepper."""
            bundle = super()._repr_mimebundle_(**kwargs)
            data = bundle[0] if isinstance(bundle, tuple) else bundle
            if isinstance(data, dict):
                data["text/html"] = static_html(self.html)
            return bundle

        @traitlets.validate("iteration")
        def _clamp(self, proposal: Any) -> int:
            return max(0, min(int(proposal["value"]), max(self.count - 1, 0)))

else:

    class Stepper:  # type: ignore[no-redef]
        """Stands in for the widget without anywidget: making one says how to install it."""

        def __init__(self, run: BackwardTrace, **options: Any) -> None:
            raise ImportError(_MISSING)


def static_html(fragment_html: str) -> str:
    """A stepper fragment with its style and script, for a page that runs no widget code.

    >>> "agStepperInit(" in static_html('<div class="ag-stepper"></div>')
    True
    """
    init = ("document.querySelectorAll('.ag-stepper').forEach(function (r) { agStepperInit(r); });")
    return f"<style>{CSS}</style>\n{fragment_html}\n<script>{SCRIPT}\n{init}</script>"


def stepper(run: BackwardTrace, **options: Any) -> Stepper:
    """A :class:`Stepper` widget for ``run`` (a :class:`~ag.trace.BackwardTrace`)."""
    return Stepper(run, **options)
