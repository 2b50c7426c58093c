"""MkDocs hooks for ag's site: the pages that come from the repository itself.

* index.md from README.md (its links into docs/ rewritten to the site's layout),
  changelog.md, contributing.md and license.md from the files of those names;
* api/*.md, the API reference, grouped as a user looks for things (the Scalar engine,
  Tensor ops, nn, optim, data, tracing and drawing, exams and grading, GPU, testing,
  ...): ``API_PAGES`` below names what goes where, by the public name a user types
  (``ag.sum``, ``ag.nn.Linear``); each entry becomes a mkdocstrings directive on the
  object that name resolves to, headed by that public name. A public name (in the
  ``__all__`` of a package in ``DOCUMENTED_PACKAGES``) that no page lists yet is added
  to its package's page under "More", so the reference never silently misses one;
* api/cli.md, the ``ag`` command's help texts, from its argument parser;
* ops.md, the op tables of both engines, from ``ag.registry.markdown()``;
* the navigation: home, guides (docs/*.md), tutorials (docs/notebooks/*.ipynb), the API
  reference, and the project's notes. Internal modules (``ag.buffers``,
  ``ag.ops.rule_facts``, ...) get no page.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import types
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
FROM_ROOT = {"index.md": "README.md", "changelog.md": "CHANGELOG.md",
             "contributing.md": "CONTRIBUTING.md"}
# Links in the repository's Markdown, rewritten to the site's pages (an #anchor is kept).
PAGES = {"CHANGELOG.md": "changelog.md", "CONTRIBUTING.md": "contributing.md", "LICENSE": "license.md",
         "README.md": "index.md"}
LINK = re.compile(r"\]\((docs/)?([^)#\s]*)(#[^)\s]*)?\)")
IMG_SRC = re.compile(r'(<img\b[^>]*\bsrc=")docs/')  # an <img> in the README (to give it a width)
# A fragment shown only for reading (```python notest, see tests/docs/test_readme.py): GitHub
# reads the first word as the language; the site's fences want the language alone.
NOTEST_FENCE = re.compile(r"^(\s*)```python notest[ \t]*$", re.MULTILINE)
# A guide's link up to a repository file (../README.md): on the site, the page made from it.
UP_LINK = re.compile(r"\]\(\.\./(" + "|".join(re.escape(name) for name in PAGES) + r")(#[^)\s]*)?\)")

GUIDES = ["tracing.md", "drawings-and-steppers.md", "trace-names.md", "instructors.md", "exam-kinds.md",
          "grading.md", "tensors.md", "training.md", "convolution.md", "remat.md", "gpu.md", "gpu-check.md",
          "speed.md", "performance-notes.md"]

# Packages whose every public name (``__all__``) the reference documents.
DOCUMENTED_PACKAGES = ["ag", "ag.nn", "ag.optim", "ag.data", "ag.testing", "ag.exam", "ag.gpu", "ag.remat",
                       "ag.viz", "ag.stepper", "ag.training", "ag.widget", "ag.trace"]

# The reference: (page, title, intro, [(section, [public names])]). A name is a public
# dotted name ("ag.sum"); a name ending in ".*" is a module documented whole, with the
# members its ``__all__`` lists ("ag.nn.functional.*").
API_PAGES: list[tuple[str, str, str, list[tuple[str, list[str]]]]] = [
    ("scalar", "Scalar engine and autodiff",
     "The micrograd-style engine on floats, the functions that work on Scalars and Tensors "
     "alike, and the backward pass both engines share.",
     [("Scalar", ["ag.Scalar", "ag.scalar"]),
      ("Functions on Scalars and Tensors", ["ag.exp", "ag.log", "ag.sqrt", "ag.relu", "ag.tanh",
                                            "ag.sigmoid"]),
      ("The backward pass", ["ag.topological_sort", "ag.no_grad", "ag.enable_grad", "ag.is_grad_enabled"])]),
    ("tensor", "Tensor and its ops",
     "`ag.Tensor` on NumPy arrays (CuPy on a GPU) and every differentiable op, as `ag.` functions; "
     "most are Tensor methods too.",
     [("Tensor", ["ag.Tensor", "ag.tensor", "ag.from_numpy"]),
      ("Creating tensors", ["ag.zeros", "ag.ones", "ag.randn", "ag.rand", "ag.arange", "ag.zeros_like",
                            "ag.ones_like", "ag.randn_like"]),
      ("Arithmetic", ["ag.add", "ag.sub", "ag.mul", "ag.div", "ag.power", "ag.abs"]),
      ("Matrix products", ["ag.matmul", "ag.spcmatmul", "ag.einsum"]),
      ("Reductions", ["ag.sum", "ag.mean", "ag.var", "ag.max", "ag.min"]),
      ("Shapes", ["ag.reshape", "ag.transpose", "ag.moveaxis", "ag.swapaxes", "ag.squeeze", "ag.expand_dims",
                  "ag.flatten", "ag.broadcast_to"]),
      ("Joining and splitting", ["ag.concatenate", "ag.stack", "ag.split"]),
      ("Elementwise choices", ["ag.maximum", "ag.minimum", "ag.where", "ag.clip"]),
      ("Softmax and cross-entropy", ["ag.softmax", "ag.log_softmax", "ag.logsumexp",
                                     "ag.softmax_cross_entropy"]),
      ("Higher-order gradients", ["ag.grad", "ag.hvp", "ag.hessian"]),
      ("Finding a NaN", ["ag.detect_anomaly"]),
      ("Your own op", ["ag.custom_op", "ag.sum_to_shape"]),
      ("Saving and loading", ["ag.save", "ag.load"])]),
    ("nn", "Layers and losses (ag.nn)",
     "Modules written the course's way (`X @ W + b`, weight `(in, out)`), their functional forms and "
     "initialisation.",
     [("Module", ["ag.nn.Module", "ag.nn.StateDictError", "ag.nn.save", "ag.nn.load"]),
      ("Layers", ["ag.nn.Linear", "ag.nn.ReLU", "ag.nn.Tanh", "ag.nn.Sigmoid", "ag.nn.Identity",
                  "ag.nn.Sequential", "ag.nn.Residual", "ag.nn.Flatten", "ag.nn.Dropout", "ag.nn.Embedding",
                  "ag.nn.MLP"]),
      ("Normalisation", ["ag.nn.LayerNorm", "ag.nn.BatchNorm1d", "ag.nn.BatchNorm2d"]),
      ("Convolution and pooling", ["ag.nn.Conv2d", "ag.nn.MaxPool2d", "ag.nn.AvgPool2d"]),
      ("Recurrent layers", ["ag.nn.RNN", "ag.nn.LSTM"]),
      ("Attention", ["ag.nn.SingleHeadAttention", "ag.nn.MultiHeadAttention", "ag.nn.TransformerBlock"]),
      ("Losses", ["ag.nn.MSELoss", "ag.nn.CrossEntropyLoss", "ag.nn.BCEWithLogitsLoss"]),
      ("Functional forms", ["ag.nn.functional.*"]),
      ("Initialisation", ["ag.nn.init.*"])]),
    ("optim", "Optimizers (ag.optim)",
     "Each optimizer's docstring gives its update rule; `step()` updates the parameters in place, "
     "outside any graph.",
     [("Optimizers", ["ag.optim.Optimizer", "ag.optim.SGD", "ag.optim.Adam", "ag.optim.AdamW"]),
      ("Learning-rate schedules", ["ag.optim.LRScheduler", "ag.optim.StepLR", "ag.optim.CosineLR",
                                   "ag.optim.LinearWarmup"]),
      ("Gradient clipping", ["ag.optim.clip_grad_norm"])]),
    ("data", "Data (ag.data)",
     "Datasets, loaders and transforms that hand out NumPy batches, and small datasets that need "
     "no download.",
     [("Datasets and loaders", ["ag.data.Dataset", "ag.data.TensorDataset", "ag.data.DataLoader"]),
      ("Transforms", ["ag.data.Compose", "ag.data.Normalize", "ag.data.RandomFlipHorizontal",
                      "ag.data.RandomCrop"]),
      ("Small datasets", ["ag.data.make_moons", "ag.data.make_spirals", "ag.data.sequence_task",
                          "ag.data.load_digits", "ag.data.train_test_split"]),
      ("MNIST's IDX files", ["ag.data.read_idx", "ag.data.write_idx", "ag.data.load_mnist"])]),
    ("training", "Training loop (ag.training)",
     "The loop a student writes by hand, with a progress bar and a history.",
     [("Training", ["ag.training.fit", "ag.training.evaluate", "ag.training.predict",
                    "ag.training.History", "ag.training.plot_history", "ag.training.limit_blas_threads"])]),
    ("remat", "Rematerialization (ag.remat)",
     "Gradient checkpointing: keep a segment's output only, and run the segment again in backward.",
     [("Checkpoints", ["ag.checkpoint", "ag.checkpoint_sequential", "ag.remat.segment_bounds",
                       "ag.remat.sqrt_segments"]),
      ("Measuring memory", ["ag.remat.stats", "ag.remat.live_tensor_bytes", "ag.remat.MemoryMeter"])]),
    ("tracing", "Tracing and drawing",
     "Recording the backward pass iteration by iteration, its text, Markdown and LaTeX answer keys, "
     "the Graphviz drawings in the exam's layout, the HTML stepper and the notebook widget.",
     [("Traces", ["ag.trace", "ag.backward_trace", "ag.trace.BackwardTrace", "ag.trace.Trace",
                  "ag.trace.Step", "ag.trace.RuleText", "ag.trace.is_tracing", "ag.trace.needs_grad",
                  "ag.trace.exam_names", "ag.trace.MAX_ELEMENTS", "ag.trace.NOT_REACHED"]),
      ("Numbers and text in answer keys", ["ag.trace.format_number", "ag.trace.matrix_text",
                                           "ag.trace.preview", "ag.trace.markdown_code",
                                           "ag.trace.latex_escape"]),
      ("Drawings (ag.viz)", ["ag.viz.draw", "ag.viz.render", "ag.viz.to_dot", "ag.viz.to_svg", "ag.viz.trace",
                             "ag.viz.frame", "ag.viz.frames", "ag.viz.GraphvizNotFoundError",
                             "ag.viz.INSTALL_HINT", "ag.viz.STYLES"]),
      ("The HTML stepper (ag.stepper)", ["ag.stepper.write_html", "ag.stepper.html", "ag.stepper.html_many",
                                         "ag.stepper.fragment", "ag.stepper.MAX_GRAPH_NODES",
                                         "ag.stepper.CSS", "ag.stepper.SCRIPT"]),
      ("The notebook widget (ag.widget)", ["ag.widget.Stepper", "ag.widget.stepper", "ag.widget.ESM"]),
      ("Answer keys of Tensor exercises", ["ag.answer_key.*"])]),
    ("exams", "Exams and grading (ag.exam)",
     "Drawing exam problems a student can solve by hand, printing their sheets and keys, and grading "
     "the answers; `ag exam` and `ag grade` on the [command line](cli.md) are built on these.",
     [("Problems", ["ag.exam.generate", "ag.exam.ExamProblem", "ag.exam.GenerationError",
                    "ag.exam.OPS", "ag.exam.DEFAULT_OPS", "ag.exam.KINKED_OPS", "ag.exam.DIFFICULTIES"]),
      ("Sheets and keys", ["ag.exam.handout.*"]),
      ("Grading answers", ["ag.exam.grade.*"]),
      ("Grading a student's backward rule", ["ag.exam.grade_op.*"]),
      ("The finals' other problem types", ["ag.exam.questions.*"]),
      ("Find the broken backward", ["ag.exam.bug_hunt.*"])]),
    ("gpu", "GPU (ag.gpu)",
     "Devices, moving tensors, models and optimizer state, and why a GPU is not available.",
     [("Is there a GPU", ["ag.gpu.is_available", "ag.gpu.why_unavailable"]),
      ("Devices", ["ag.gpu.default", "ag.set_default_device", "ag.get_default_device", "ag.gpu.normalize",
                   "ag.gpu.device_of", "ag.gpu.array_module", "ag.gpu.DeviceError",
                   "ag.gpu.DeviceMismatchError"]),
      ("Moving things", ["ag.gpu.tensor_to", "ag.gpu.move_array", "ag.gpu.move_module",
                         "ag.gpu.move_optimizer_state", "ag.gpu.to_device_sparse"])]),
    ("testing", "Testing (ag.testing)",
     "Gradient checks against central finite differences in float64, and hypothesis strategies.",
     [("Gradient checks", ["ag.testing.gradcheck", "ag.testing.gradgradcheck", "ag.testing.GradcheckResult",
                           "ag.testing.GradcheckError"]),
      ("Hypothesis strategies", ["ag.testing.strategies.*"])]),
    ("extending", "Writing an op",
     "The op-author API and the op registry (`ag.register`) that both engines' methods, `ag.X`, the "
     "traces, the exam generator, `ag grade --op` and the strategies read. The recipe, with `softplus` "
     "in both engines as the worked example, is in [Contributing](../contributing.md#adding-an-op).",
     [("The op-author API", ["ag.ops.api.*"]),
      ("The op registry", ["ag.registry.*"])]),
]
# The package whose page a name no page lists goes to ("More" on that page).
HOME_PAGE = {"ag": "tensor", "ag.nn": "nn", "ag.optim": "optim", "ag.data": "data", "ag.testing": "testing",
             "ag.exam": "exams", "ag.gpu": "gpu", "ag.remat": "remat", "ag.viz": "tracing",
             "ag.stepper": "tracing", "ag.training": "training", "ag.widget": "tracing",
             "ag.trace": "tracing"}


def _module(name: str) -> types.ModuleType:
    importlib.import_module(name)
    return sys.modules[name]  # ag.trace the module, not the function the package attribute names


def public_names(package: str) -> list[str]:
    """The dotted public names of ``package``: each name of its ``__all__``."""
    return [f"{package}.{name}" for name in _module(package).__all__]


def documented_names() -> list[str]:
    """Every public name the reference must document: the ``__all__`` of each documented package."""
    return [name for package in DOCUMENTED_PACKAGES for name in public_names(package)]


def _object_path(public: str) -> str:
    """Where ``public`` ("ag.sum") is defined, as mkdocstrings finds it ("ag.ops.reductions.tsum")."""
    package, _, attribute = public.rpartition(".")
    obj = getattr(_module(package), attribute)
    if isinstance(obj, types.ModuleType) and callable(obj):
        obj = getattr(obj, attribute)  # ag.tensor: the callable module stands for ag.tensor(...)
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str) and "<" not in qualname:
        return f"{module}.{qualname}"
    return public  # a constant: griffe follows the package's import to where it is assigned


def _made_by_a_factory(public: str) -> bool:
    """Whether ``public`` is a function a factory made (ag.exp): its source has no ``def exp``."""
    package, _, attribute = public.rpartition(".")
    obj = getattr(_module(package), attribute)
    code = getattr(obj, "__code__", None)
    return code is not None and code.co_name != obj.__name__


def _runtime_entry(public: str) -> list[str]:
    """The entry of a function a factory made (ag.exp): its signature and docstring exist only
    at run time, so they are read from the object, and its examples fenced as the extension does."""
    import inspect

    package, _, attribute = public.rpartition(".")
    obj = getattr(_module(package), attribute)
    extension = Path(__file__).with_name("griffe_doctest.py")
    spec = importlib.util.spec_from_file_location("griffe_doctest", extension)
    doctests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(doctests)
    signature = str(inspect.signature(obj)).replace("'", "")
    return [f"### {public} {{ #{_anchor(public)} }}", "", "```python", f"{public}{signature}", "```", "",
            doctests.fence_doctests(inspect.getdoc(obj) or ""), ""]


def _has_docstring(public: str) -> bool:
    package, _, attribute = public.rpartition(".")
    obj = getattr(_module(package), attribute)
    return callable(obj) and bool(getattr(obj, "__doc__", None))


def _anchor(public: str) -> str:
    return "name-" + public.replace(".", "-").replace("_", "-").lower()


def api_pages() -> dict[str, tuple[str, str, list[tuple[str, list[str]]]]]:
    """The reference's pages, with every public name no page lists added under "More"."""
    pages = {slug: (title, intro, [(s, list(n)) for s, n in sections])
             for slug, title, intro, sections in API_PAGES}
    entries = {name for _, _, sections in pages.values() for _, names in sections for name in names}
    listed = {name.removesuffix(".*") for name in entries}
    for name in sorted(entries):
        package, _, attribute = name.removesuffix(".*").rpartition(".")
        try:
            _module(name[:-2]) if name.endswith(".*") else getattr(_module(package), attribute)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"docs/hooks.py API_PAGES lists {name}, which ag does not have ({err}); "
                             "update the list") from err
    for name in documented_names():
        if name in listed:
            continue
        package = name.rpartition(".")[0]
        sections = pages[HOME_PAGE[package]][2]
        if not sections or sections[-1][0] != "More":
            sections.append(("More", []))
        sections[-1][1].append(name)
        listed.add(name)
    return pages


def api_markdown(slug: str, title: str, intro: str, sections: list[tuple[str, list[str]]],
                 first_name: dict[str, tuple[str, str]]) -> str:
    """One reference page: a directive per name, headed by its public name. An object with
    two public names (ag.save and ag.nn.save) is documented once, where ``first_name`` (shared
    by the pages, object path -> (page, public name)) first met it; the other name links there."""
    lines = [f"# {title}", "", intro, ""]
    for section, names in sections:
        lines += [f"## {section}", ""]
        for public in names:
            if public.endswith(".*"):
                module = public[:-2]
                lines += [f"::: {module}", "    options:", f"      heading: \"{module}\"",
                          f"      toc_label: \"{module}\"",
                          "      show_root_heading: true", "      heading_level: 3",
                          "      members_order: source", ""]
                continue
            path = _object_path(public)
            if path in first_name:
                page, name = first_name[path]
                target = f"#{path}" if page == slug else f"{page}.md#{path}"
                lines += [f"### {public} {{ #{_anchor(public)} }}", "",
                          f"The same as [`{name}`]({target}).", ""]
                continue
            first_name[path] = (slug, public)
            if _made_by_a_factory(public):
                lines += _runtime_entry(public)
                continue
            lines += [f"::: {path}", "    options:", f"      heading: \"{public}\"",
                      f"      toc_label: \"{public}\"", "      heading_level: 3"]
            if not _has_docstring(public):
                lines.append("      show_if_no_docstring: true")  # a constant: its heading at least
            lines.append("")
    return "\n".join(lines)


def cli_markdown() -> str:
    """The ``ag`` command's help, and each subcommand's, from its argument parser."""
    from ag.cli import build_parser

    parser = build_parser()
    parts = ["# The ag command", "",
             "`ag` (or `python -m ag`) is installed with the package. Each command's `--help` says "
             "the same as below.", "", "```text", parser.format_help().rstrip(), "```", ""]
    commands = [a for a in parser._actions if isinstance(a.choices, dict)]  # argparse's subcommands
    for action in commands:
        for name, sub in action.choices.items():
            parts += [f"## ag {name}", "", "```text", sub.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


def _rewrite_links(text: str) -> str:
    def site_link(match: re.Match) -> str:
        in_docs, target, anchor = match.group(1), match.group(2), match.group(3) or ""
        if in_docs:
            return f"]({target}{anchor})"
        return f"]({PAGES.get(target, target)}{anchor})"

    return IMG_SRC.sub(r"\1", LINK.sub(site_link, text))


def _rewrite_up_links(text: str) -> str:
    return UP_LINK.sub(lambda m: f"]({PAGES[m.group(1)]}{m.group(2) or ''})", text)


def _notebooks(docs_dir: Path) -> list[str]:
    return [p.relative_to(docs_dir).as_posix() for p in sorted((docs_dir / "notebooks").glob("*.ipynb"))]


def on_config(config):
    docs_dir = Path(config["docs_dir"])
    titles = {slug: title for slug, title, _, _ in API_PAGES}
    config["nav"] = [
        {"Home": "index.md"},
        {"Guides": GUIDES},
        {"Tutorials": _notebooks(docs_dir)},
        {"API reference": [{"Overview": "api/index.md"},
                           *({titles[slug]: f"api/{slug}.md"} for slug in titles),
                           {"The ag command": "api/cli.md"}]},
        {"Project": ["ops.md", "changelog.md", "contributing.md", "license.md"]},
    ]
    return config


def api_index(pages: dict) -> str:
    lines = ["# API reference", "",
             "Everything a user of ag types, grouped by what it is for. Each entry is headed by the "
             "name you use (`ag.sum`, `ag.nn.Linear`); its docstring example runs as a test.", ""]
    for slug, (title, intro, _) in pages.items():
        lines.append(f"* [{title}]({slug}.md): {intro}")
    lines.append("* [The ag command](cli.md): `ag trace`, `ag exam`, `ag grade` and the rest, with "
                 "their options.")
    return "\n".join(lines) + "\n"


def on_files(files, config):
    for page, source in FROM_ROOT.items():
        text = _rewrite_links((ROOT / source).read_text(encoding="utf-8"))
        files.append(File.generated(config, page, content=text))
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    files.append(File.generated(config, "license.md", content=f"# License\n\n```text\n{license_text}```\n"))
    pages = api_pages()
    files.append(File.generated(config, "api/index.md", content=api_index(pages)))
    first_name: dict[str, tuple[str, str]] = {}
    for slug, (title, intro, sections) in pages.items():
        files.append(File.generated(config, f"api/{slug}.md",
                                    content=api_markdown(slug, title, intro, sections, first_name)))
    files.append(File.generated(config, "api/cli.md", content=cli_markdown()))
    from ag import registry  # the op tables come from the registry itself

    files.append(File.generated(config, "ops.md", content=registry.markdown()))
    return files


def on_page_markdown(markdown, page, config, files):
    """A guide's links up to README.md, CONTRIBUTING.md, ... lead to the site's pages, and
    fragments fenced ```python notest are shown as Python."""
    return NOTEST_FENCE.sub(r"\1```python", _rewrite_up_links(markdown))
