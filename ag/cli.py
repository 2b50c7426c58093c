"""The ``ag`` command: ``ag trace FILE.py``, ``ag exam``, ``ag grade``, ``ag check`` and ``ag remat``.

>>> main(["exam", "--seed", "1", "--ops", "mul", "--nodes", "1", "--no-answers"])  # doctest: +ELLIPSIS
Exam problem (seed 1)
...
0
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
import traceback
from pathlib import Path

__all__ = ["main", "build_parser"]

_FORMATS = ("text", "markdown", "latex")


class _Fail(Exception):
    """A user-facing error: printed as one message, exit status ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _seed(text: str) -> int:
    """``--seed``: one rule for every exam kind, a whole number >= 0 (NumPy's generators
    take no negative seed); argparse names the option in the message."""
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}") from None
    if seed < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {seed}")
    return seed


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``ag`` (with the ``trace`` and ``exam`` subcommands).

    >>> build_parser().parse_args(["trace", "hw.py", "--format", "markdown"]).format
    'markdown'
    """
    from ag.exam import DEFAULT_OPS, DIFFICULTIES, OPS

    parser = argparse.ArgumentParser(
        prog="ag",
        description="ag: see the backward pass of an autograd computation, as the course's exams do.",
        epilog="Run `ag COMMAND --help` for a command's options. "
        "Example: ag trace exercises/problem_1_3.py --html out/problem_1_3.html",
    )
    from ag import __version__

    parser.add_argument("--version", action="version", version=f"ag {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    t = sub.add_parser(
        "trace",
        help="run a Python file and trace every backward() call it makes",
        description=(
            "Run FILE.py (as __main__, with its folder on sys.path) and record every backward() "
            "call it makes. For each call, print the non-reversed topological order and a table of "
            "the backward loop's iterations: the node, the rule applied to each input (symbolic and "
            "with numbers) and all grads after each iteration."
        ),
        epilog="Exit status: 0 on success; 1 when the file has a syntax error, raises, or makes no "
        "backward() call; 2 on bad arguments.",
    )
    t.add_argument("file", metavar="FILE.py", help="the homework or exam file to run")
    t.add_argument(
        "--format", choices=_FORMATS, default="text",
        help="how to print the trace: a terminal table (text, default), a Markdown or a LaTeX answer key",
    )
    t.add_argument(
        "--html", metavar="OUT.html",
        help="also write a self-contained HTML page that steps through the iterations "
        "(one page per backward call: OUT.html, OUT-2.html, ...); needs Graphviz's dot",
    )
    t.add_argument(
        "--svg", metavar="DIR",
        help="also write the drawn graph (graph.svg) and one SVG frame per iteration "
        "(iteration-00.svg, ...) into DIR; needs Graphviz's dot",
    )
    t.add_argument(
        "-o", "--output", metavar="FILE",
        help="write the trace to FILE (only the trace: the program's own output stays on the "
        "terminal); an existing FILE is replaced only if it is an earlier trace",
    )
    t.add_argument("-q", "--quiet", action="store_true", help="hide what the traced program itself prints")
    t.add_argument("--digits", type=int, default=6, help="significant digits of numbers (default 6)")
    t.add_argument(
        "--max-elements", type=int, default=36, metavar="N",
        help="arrays with at most N elements are printed in full as matrices; larger ones as "
        "their shape, min/max/mean and a corner (default 36)",
    )
    t.add_argument(
        "--names", choices=("exam", "source"), default="exam",
        help="how to name unlabelled nodes: the exam's z-numbers in creation order (exam, default) "
        "or the variables of FILE's code that hold them (source: KQ:matmul)",
    )
    t.add_argument(
        "--max-calls", type=int, default=10, metavar="N",
        help="trace at most the first N backward() calls (default 10; 0 for all): a training "
        "loop makes thousands; the others run untraced and are counted",
    )

    e = sub.add_parser(
        "exam",
        help="generate a random exam problem with its answer key",
        description=(
            "Generate a random backpropagation problem in the course's exam format: the forward "
            "code, the non-reversed topological order, and the answer key (per-iteration grads and "
            "the leaves' grads). The same --seed gives the same problem. Every value and grad is a "
            "short decimal a student can compute by hand, no op sits on a kink (relu at 0) or off "
            "its domain (log of a non-positive number), and every grad of the key is checked against "
            "central finite differences before it is printed."
        ),
    )
    e.add_argument("--seed", type=_seed, default=None,
                   help="random seed, a whole number >= 0, for every --kind (default: a fresh one, printed)")
    e.add_argument("--kind", default="scalar",
                   choices=("scalar", "im2col", "remat", "attention", "network", "softmax", "optimizer",
                            "conv"),
                   help="the problem type: scalar backprop (default), im2col shapes/nnz/cost, "
                   "rematerialization, attention shapes, a 1-layer network's or softmax regression's "
                   "gradients on tiny matrices, SGD and momentum steps by hand, a convolution by hand; "
                   "every kind prints as text, markdown, latex or html, to PDF with --pdf, and as a "
                   "batch (--seeds, --out) with sheets, answer templates and key.json")
    e.add_argument(
        "--ops", default=",".join(DEFAULT_OPS),
        help=f"comma-separated ops to draw from (default {','.join(DEFAULT_OPS)}; "
        f"available: {', '.join(OPS)}); as many distinct ones appear as --nodes allows",
    )
    e.add_argument("--require", default="", metavar="OPS",
                   help="comma-separated ops that must appear (added to --ops if missing)")
    e.add_argument("--difficulty", choices=tuple(DIFFICULTIES), default="exam",
                   help="easy: 4 nodes, integers; exam (default): 6 nodes, up to 2 decimals; "
                   "hard: 10 nodes, more leaves and values")
    e.add_argument("--nodes", type=int, default=None,
                   help="number of op nodes, 1..60 (default: from --difficulty; beyond about 25 a "
                   "hand-solvable problem is rarely found, and the search gives up after 15 s)")
    e.add_argument("--leaves", type=int, default=None,
                   help="number of leaf inputs (default: from --difficulty)")
    e.add_argument("--reuse", type=int, default=None,
                   help="exactly this many nodes feed more than one op input (default: any)")
    e.add_argument("--depth", type=int, default=None,
                   help="exactly this many ops on the longest leaf-to-output path (default: any)")
    e.add_argument("--max-value", type=float, default=None, dest="max_value",
                   help="bound on the size of every value and grad (default: from --difficulty)")
    e.add_argument(
        "--format", choices=(*_FORMATS, "html"), default="text",
        help="text (default), markdown, latex (a complete document), or html (with answers: a "
        "page with the stepper; with --no-answers: the printable student sheet)",
    )
    e.add_argument("--no-answers", action="store_true", help="print the problem without its answer key")
    e.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    e.add_argument("--seeds", metavar="LIST",
                   help="a batch, one problem per student: seeds like 1-40 or 3,5,9-11 (needs --out)")
    e.add_argument("--out", metavar="DIR", help="batch folder: a sheet and an answer template per "
                   "student (seed printed on it), sheets.html with every sheet, key.html and key.json")
    e.add_argument("--paper", choices=("letter", "a4"), default="letter", help="printed page size")
    e.add_argument("--hide-order", action="store_true",
                   help="leave the topological order off the sheets (students run the DFS themselves)")
    e.add_argument("--pdf", action="store_true",
                   help="also print sheets.pdf and key.pdf (or, with -o X.pdf, the one sheet) "
                   "through headless Chromium")
    e.add_argument("--template", choices=("csv", "md"), default="csv",
                   help="answer templates for ag grade as CSV (default) or Markdown tables")
    gr = sub.add_parser(
        "grade",
        help="grade a student's exam answers against the key (error carried forward), or a "
        "student's backward rule of an op (--op)",
        description=(
            "Grade filled-in answer templates (written by `ag exam --seeds ... --out DIR`) against "
            "DIR/key.json, offline. Each number is graded against what it should be given the "
            "student's own earlier numbers (error carried forward); the first divergence is "
            "explained in words. With --op NAME, grade a student's backward(grad, out, *inputs) "
            "in FILE.py by gradcheck on drawn inputs, with per-element partial credit."
        ),
        epilog="Answer files: CSV (',' or ';' with decimal commas, as spreadsheets save them) or "
        "Markdown tables with the columns iteration, node, quantity, answer (one row per value or "
        "grad; 6, -0.5, 1/4 or exact forms like e^-6, ln 2). Every file is graded; each one that "
        "cannot be is named on its own line. Exit status: 0 every file graded; 1 when some file "
        "could not be (it is named, with the line); 2 on bad arguments. See docs/grading.md.",
    )
    gr.add_argument("files", nargs="+", metavar="FILE",
                    help="KEY.json then one or more answer files; with --op: the student's FILE.py")
    gr.add_argument("--op", metavar="NAME", help="grade the backward rule of this op in FILE.py")
    gr.add_argument("--examples", type=int, default=30, help="with --op: drawn inputs (default 30)")
    gr.add_argument("--time-limit", type=float, default=10.0, metavar="SECONDS",
                    help="with --op: the most one call of the student's backward may take (default 10)")
    gr.add_argument("--gradescope", metavar="PATH",
                    help="also write Gradescope's results.json: with one answers file, to PATH; with "
                    "several, one FILE.json per answers file into the folder PATH (Gradescope grades "
                    "one submission per results.json, so files are never merged)")
    gr.add_argument("--summary", metavar="CLASS.csv",
                    help="also write one row per answers file: file, seed, score, max_score, error")
    gr.add_argument("--other-order-credit", type=float, default=1.0, metavar="SHARE",
                    help="credit (0 to 1) for grads worked in another valid topological order than the "
                    "depth-first one (default 1: full credit; the report always says so)")
    gr.add_argument("--quiet", action="store_true", help="print only the score lines")
    ck = sub.add_parser(
        "check",
        help="check your own worked answers to a problem (an exam seed or your forward file) "
        "without seeing the key",
        description=(
            "Check a filled-in answer template: which rows are right, and for the first wrong one "
            "only where it is and what kind of slip it looks like (the order, a rule, arithmetic). "
            "PROBLEM is an exam seed (with the same --ops/--nodes/--leaves/--difficulty the sheet "
            "used) or your own forward file FILE.py (ag.Scalar code that calls backward). "
            "--show-answer also prints the right numbers."
        ),
        epilog="Make a template for your own file with `ag check FILE.py --template`. Exit status: "
        "0 every row right; 1 some row wrong or the file unreadable; 2 bad arguments.",
    )
    ck.add_argument("problem", metavar="PROBLEM", help="an exam seed (e.g. 12) or your forward FILE.py")
    ck.add_argument("answers", nargs="?", metavar="ANSWERS", help="your filled-in answers (CSV or Markdown)")
    ck.add_argument("--template", action="store_true", help="print the blank answer template for PROBLEM")
    ck.add_argument("--show-answer", action="store_true", help="also show the right numbers")
    ck.add_argument("--ops", metavar="LIST", help="for a seed: the ops the exam drew from (comma-separated)")
    ck.add_argument("--nodes", type=int, help="for a seed: the number of op nodes")
    ck.add_argument("--leaves", type=int, help="for a seed: the number of leaves")
    ck.add_argument("--difficulty", choices=tuple(DIFFICULTIES), default="exam", help="for a seed")
    sub.add_parser(
        "remat", add_help=False,
        help="gradient checkpointing demo: memory and time of an N-layer MLP chain with and "
        "without checkpoints (options: ag remat --help)",
    )
    return parser


def _syntax_message(path: Path, err: SyntaxError) -> str:
    where = f"line {err.lineno}" + (f", column {err.offset}" if err.offset else "")
    text = (err.text or "").rstrip("\n")
    pointer = ""
    if text and err.offset:
        pointer = "\n    " + " " * (err.offset - 1 - (len(text) - len(text.lstrip()))) + "^"
    shown = f"\n    {text.strip()}{pointer}" if text else ""
    return f"ag trace: {path} has a syntax error at {where}: {err.msg}{shown}"


def _error_location(path: Path, tb) -> str:
    frames = traceback.extract_tb(tb)
    target = os.path.abspath(path)
    for fr in reversed(frames):
        if os.path.abspath(fr.filename) == target:
            return f" (line {fr.lineno}: {(fr.line or '').strip()})"
    return ""


def _capped_trace(max_calls: int, names: str = "exam"):
    """A Trace that records the first ``max_calls`` backward calls (all for 0) and counts the rest."""
    from ag.trace import Trace

    class CappedTrace(Trace):
        skipped = 0
        _skipping = False

        def begin(self, root, order):
            self._skipping = 0 < max_calls <= len(self.runs)
            if self._skipping:
                self.skipped += 1
                self.stop_source_names()  # nothing more to name: the program runs at full speed
            else:
                super().begin(root, order)

        def before(self, step, node):
            if not self._skipping:
                super().before(step, node)

        def after(self, step, node):
            if not self._skipping:
                super().after(step, node)

        def end(self, root):
            if not self._skipping:
                super().end(root)

    return CappedTrace(names=names)


def _run_file(path: Path, quiet: bool = False, max_calls: int = 0, names: str = "exam"):
    import contextlib
    import io

    if not path.exists():
        raise _Fail(f"ag trace: no such file: {path}", 2)
    if path.is_dir():
        raise _Fail(f"ag trace: {path} is a folder; give a Python file", 2)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise _Fail(f"ag trace: cannot read {path}: {err}") from None
    try:
        compile(source, str(path), "exec")
    except SyntaxError as err:
        raise _Fail(_syntax_message(path, err)) from None
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    sys.argv = [str(path)]
    sys.path.insert(0, str(path.resolve().parent))
    failure = None
    try:
        with _capped_trace(max_calls, names) as t, \
                contextlib.redirect_stdout(io.StringIO() if quiet else sys.stdout):
            try:
                runpy.run_path(str(path), run_name="__main__")
            except SystemExit as exc:
                if exc.code not in (None, 0):
                    failure = f"ag trace: {path} exited with status {exc.code}"
            except KeyboardInterrupt as exc:
                raise _Fail(f"ag trace: interrupted (Ctrl-C) while running {path}"
                            f"{_error_location(path, exc.__traceback__)}; nothing traced", 130) from None
            except BaseException as exc:  # the user's code failed: say so, no traceback dump
                failure = (
                    f"ag trace: {path} stopped with {type(exc).__name__}: {exc}"
                    f"{_error_location(path, exc.__traceback__)}"
                )
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    return t, failure


def _suffixed(path: Path, i: int, n: int) -> Path:
    return path if n == 1 or i == 1 else path.with_name(f"{path.stem}-{i}{path.suffix}")


# How the text, Markdown and LaTeX forms of a trace begin (one call; several: the banner).
_TRACE_HEADS = ("backward from ", "**Backward from**", "% backward trace from", "== backward call ")


def _check_trace_output(out: Path, program: Path, option: str) -> None:
    """Refuse an output path that would replace the traced program or a user's file."""
    if not out.exists():
        return
    if out.is_dir():
        raise _Fail(f"ag trace: {option} {out} is a folder; give a file name", 2)
    if program.exists() and out.samefile(program):
        raise _Fail(f"ag trace: {option} {out} is the program being traced; writing there would "
                    f"replace it. Choose another name, e.g. {option} {program.stem}-trace.txt", 2)
    if option != "-o":
        return
    try:
        with out.open(encoding="utf-8") as f:
            first = f.readline()
    except (OSError, UnicodeDecodeError):
        first = ""
    if not first.startswith(_TRACE_HEADS):
        raise _Fail(f"ag trace: -o {out} exists and is not a trace written by ag trace; it was left "
                    "as it is. Choose another name, or delete it first", 2)


def _cmd_trace(args: argparse.Namespace) -> int:
    from ag import stepper, viz

    if args.max_elements < 0 or args.digits < 1:
        raise _Fail("ag trace: --max-elements must be >= 0 and --digits >= 1", 2)
    path = Path(args.file)
    if args.max_calls < 0:
        raise _Fail(f"ag trace: --max-calls must be >= 0 (0 for all), got {args.max_calls}", 2)
    for option, out in (("-o", args.output), ("--html", args.html)):
        if out:
            _check_trace_output(Path(out), path, option)  # before the program runs, and again below
    t, failure = _run_file(path, quiet=args.quiet, max_calls=args.max_calls, names=args.names)
    runs = t.runs
    sys.stdout.flush()
    if not runs:
        if failure:
            raise _Fail(failure)
        raise _Fail(
            f"ag trace: {path} made no backward() call, so there is nothing to trace. "
            "Call .backward() on the output (for example `z3.backward()`); a trace records "
            "the calls of the program's main thread, not those of threads it starts."
        )
    n = len(runs)
    chunks = []  # the trace alone: to --output, or after the program's own output on stdout
    for i, run in enumerate(runs, 1):
        if n > 1:
            chunks.append(f"== backward call {i} of {n} ==\n")
        if args.format == "markdown":
            chunks.append(run.markdown(args.digits, max_elements=args.max_elements) + "\n\n")
        elif args.format == "latex":
            chunks.append(run.latex(args.digits, max_elements=args.max_elements) + "\n\n")
        else:
            chunks.append(run.text(args.digits, max_elements=args.max_elements) + "\n\n")
    if t.skipped:
        chunks.append(f"({t.skipped} more backward() call{'s' if t.skipped > 1 else ''} ran "
                      f"untraced: only the first {len(runs)} are shown; raise --max-calls to see "
                      "more)\n")
    if args.output:
        out_path = Path(args.output)
        _check_trace_output(out_path, path, "-o")  # the program may have made it meanwhile
        try:
            out_path.parent.mkdir(parents=True, exist_ok=True)
            out_path.write_text("".join(chunks), encoding="utf-8")
        except OSError as err:
            raise _Fail(f"ag trace: cannot write {out_path}: {err}") from None
        print(f"wrote the trace to {out_path}")
    else:
        sys.stdout.write("".join(chunks))
    try:
        if args.html:
            for i, run in enumerate(runs, 1):
                target = _suffixed(Path(args.html), i, n)
                _check_trace_output(target, path, "--html")
                out = stepper.write_html(run, target, digits=args.digits)
                print(f"wrote {out} (open it in a browser; arrow keys step through the iterations)")
        if args.svg:
            folder = Path(args.svg)
            for i, run in enumerate(runs, 1):
                prefix = f"call{i}-" if n > 1 else ""
                viz.render(viz.draw(run.root), folder / f"{prefix}graph.svg")
                for k, g in enumerate(viz.frames(run)):
                    viz.render(g, folder / f"{prefix}iteration-{k:02d}.svg")
            print(f"wrote SVG drawings to {folder}/")
    except viz.GraphvizNotFoundError as err:
        raise _Fail(f"ag trace: {err}") from None
    if failure:
        raise _Fail(failure)
    return 0


def _exam_controls(args: argparse.Namespace) -> dict:
    return {
        "ops": [op.strip() for op in args.ops.split(",") if op.strip()],
        "require": [op.strip() for op in args.require.split(",") if op.strip()],
        "nodes": args.nodes, "leaves": args.leaves, "reuse": args.reuse, "depth": args.depth,
        "max_abs": args.max_value, "difficulty": args.difficulty,
    }


def _print_sheet_pdf(page_html: str, output: str | None) -> None:
    """Print one sheet page to ``output`` (a .pdf) with headless Chromium."""
    import tempfile

    from ag.exam.handout import ChromiumNotFoundError, print_pdf

    if not (output and output.endswith(".pdf")):
        raise _Fail("ag exam: --pdf prints to the file given with -o NAME.pdf "
                    "(or a batch with --seeds and --out)", 2)
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "sheet.html"
        page.write_text(page_html, encoding="utf-8")
        try:
            print_pdf(page, output)
        except ChromiumNotFoundError as err:
            raise _Fail(f"ag exam: {err}") from None


def _cmd_exam_question(args: argparse.Namespace) -> int:
    """The finals' other problem types (--kind): every format, a PDF, or a batch folder."""
    import random

    from ag.exam.handout import (
        ChromiumNotFoundError,
        parse_seeds,
        question_latex,
        question_sheets_html,
        write_question_batch,
    )
    from ag.exam.questions import question

    try:
        seeds = (parse_seeds(args.seeds) if args.seeds is not None else
                 [args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)])
        questions = [question(args.kind, s) for s in seeds]
    except ValueError as err:
        raise _Fail(str(err), 2) from None
    answers = not args.no_answers
    try:
        if args.seeds is not None:
            if not args.out:
                raise _Fail("ag exam: --seeds writes a batch of files; say where with --out DIR", 2)
            written = write_question_batch(questions, args.out, paper=args.paper, pdf=args.pdf,
                                           template=args.template)
            print(f"wrote {len(written)} files to {args.out}/: {len(questions)} {args.kind} sheets, answer "
                  f"templates, sheets.html, key.html, key.json, {args.kind}-questions.md, {args.kind}-key.md"
                  + (", sheets.pdf, key.pdf" if args.pdf else ""))
            print(f"every key checked: {sum(q.checks for q in questions)} answers against the kit")
            return 0
        if args.pdf:
            _print_sheet_pdf(question_sheets_html(questions, paper=args.paper), args.output)
            print(f"wrote {args.output} ({args.kind}, seed {questions[0].seed})")
            return 0
    except ChromiumNotFoundError as err:
        raise _Fail(f"ag exam: {err}") from None
    if args.format == "html":
        text = question_sheets_html(questions, answers=answers, paper=args.paper)
    elif args.format == "latex":
        text = question_latex(questions[0], answers=answers, paper=args.paper)
    elif args.format == "markdown":
        text = "\n\n".join(q.markdown(answers) for q in questions) + "\n"
    else:
        text = "\n\n".join(q.text(answers) for q in questions) + "\n"
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output} ({args.kind}, seed {questions[0].seed})")
    else:
        print(text, end="")
    return 0


def _cmd_exam_batch(args: argparse.Namespace) -> int:
    from ag.exam import generate
    from ag.exam.handout import ChromiumNotFoundError, parse_seeds, write_batch

    if not args.out:
        raise _Fail("ag exam: --seeds writes a batch of files; say where with --out DIR", 2)
    try:
        seeds = parse_seeds(args.seeds)
        problems = [generate(seed=s, **_exam_controls(args)) for s in seeds]
    except ValueError as err:
        raise _Fail(str(err), 2) from None
    codes = {p.code for p in problems}
    try:
        written = write_batch(problems, args.out, paper=args.paper, show_order=not args.hide_order,
                              pdf=args.pdf, template=args.template)
    except ChromiumNotFoundError as err:
        raise _Fail(f"ag exam: {err}") from None
    checked = sum(p.keys_checked for p in problems)
    print(f"wrote {len(written)} files to {args.out}/: {len(problems)} sheets ({len(codes)} distinct "
          f"problems), answer templates, sheets.html, key.html, key.json"
          + (", sheets.pdf, key.pdf" if args.pdf else ""))
    print(f"every key checked: {checked} grads against central finite differences")
    first = Path(args.out) / f"answers-seed-{problems[0].seed}.{args.template}"
    print(f"grade a student: ag grade {Path(args.out) / 'key.json'} {first}")
    return 0


def _cmd_exam(args: argparse.Namespace) -> int:
    from ag import viz
    from ag.exam import generate
    from ag.exam.handout import sheet_html, sheet_latex

    if args.kind != "scalar":
        return _cmd_exam_question(args)
    if args.seeds is not None:
        return _cmd_exam_batch(args)
    try:
        problem = generate(seed=args.seed, **_exam_controls(args))
    except ValueError as err:
        raise _Fail(str(err), 2) from None
    answers = not args.no_answers
    show_order = not args.hide_order
    if args.pdf:
        _print_sheet_pdf(sheet_html(problem, show_order=show_order, paper=args.paper), args.output)
        print(f"wrote {args.output} (seed {problem.seed})")
        return 0
    try:
        if args.format == "html":
            text = (problem.html(answers=True) if answers
                    else sheet_html(problem, show_order=show_order, paper=args.paper))
        elif args.format == "latex":
            text = sheet_latex(problem, show_order=show_order, paper=args.paper, answers=answers)
        else:
            text = getattr(problem, args.format)(answers=answers)
    except viz.GraphvizNotFoundError as err:
        raise _Fail(f"ag exam: {err}") from None
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
        print(f"wrote {args.output} (seed {problem.seed})")
    else:
        print(text)
    return 0


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def _refuse_overwrite(outputs: list[Path], inputs: list[Path]) -> None:
    """Never write over an input (a typo in --gradescope must not destroy answers or the key)."""
    for out in outputs:
        for inp in inputs:
            if _same_file(out, inp):
                raise _Fail(f"ag grade: refusing to write {out}: it is an input file ({inp}); "
                            "choose another name", 2)
    for i, out in enumerate(outputs):
        for other in outputs[i + 1:]:
            if _same_file(out, other):
                raise _Fail(f"ag grade: two outputs would go to the same file {out}", 2)


def _write_json(path: Path, data: object) -> None:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def _cmd_grade_op(args: argparse.Namespace) -> int:
    from ag.exam.grade_op import grade_op

    if len(args.files) != 1:
        raise _Fail("ag grade --op NAME takes one file: the student's FILE.py", 2)
    if args.gradescope:
        _refuse_overwrite([Path(args.gradescope)], [Path(args.files[0])])
    try:
        report = grade_op(args.op, args.files[0], examples=args.examples, time_limit=args.time_limit)
    except (ValueError, FileNotFoundError) as err:
        raise _Fail(str(err), 2) from None
    print(report.text())
    if args.gradescope:  # always written, also when the student's code misbehaved
        _write_json(Path(args.gradescope), report.gradescope())
        print(f"wrote {args.gradescope}")
    return 0


def _cmd_grade(args: argparse.Namespace) -> int:
    import csv

    from ag.exam import grade as grading

    if args.op:
        return _cmd_grade_op(args)
    if len(args.files) < 2:
        raise _Fail("ag grade: give the key (key.json) and at least one answers file", 2)
    if not 0 <= args.other_order_credit <= 1:
        raise _Fail("ag grade: --other-order-credit must be between 0 and 1", 2)
    key_path, answer_files = Path(args.files[0]), [Path(f) for f in args.files[1:]]
    # where each file's results.json goes: decided (and refused) before anything is graded
    results_paths: list[Path] = []
    if args.gradescope:
        target = Path(args.gradescope)
        if len(answer_files) == 1 and not target.is_dir():
            results_paths = [target]
        elif len(answer_files) > 1 and (target.suffix.lower() == ".json" or target.is_file()):
            raise _Fail(f"ag grade: --gradescope {target} with {len(answer_files)} answers files: Gradescope "
                        "grades one submission per results.json, so give a folder (one FILE.json per "
                        "answers file is written there), or grade one file at a time", 2)
        else:
            results_paths = [target / f"{f.stem}.json" for f in answer_files]
            by_name: dict[Path, Path] = {}
            for f, out in zip(answer_files, results_paths):
                if out in by_name:
                    raise _Fail(f"ag grade: {by_name[out]} and {f} would both write {out}; rename one", 2)
                by_name[out] = f
    outputs = results_paths + ([Path(args.summary)] if args.summary else [])
    _refuse_overwrite(outputs, [key_path, *answer_files])
    try:
        keys = grading.load_key(key_path)
    except grading.AnswerFormatError as err:
        raise _Fail(f"ag grade: {err}") from None
    results = []
    for i, name in enumerate(answer_files):
        result = grading.grade_file(keys, name, other_order_credit=args.other_order_credit)
        results.append(result)
        if result.report is None:
            print(f"ag grade: not graded: {result.error}", file=sys.stderr)
        else:
            text = result.report.text()
            print(f"{name}: " + (text.splitlines()[0] if args.quiet else text))
        if results_paths:
            data = (grading.gradescope_results(result.report) if result.report is not None
                    else grading.gradescope_results([], error=result.error))
            _write_json(results_paths[i], data)
    if results_paths:
        print(f"wrote {results_paths[0]}" if len(results_paths) == 1 else
              f"wrote {len(results_paths)} results files (one per answers file) in {args.gradescope}")
    if args.summary:
        summary = Path(args.summary)
        summary.parent.mkdir(parents=True, exist_ok=True)
        with summary.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["file", "seed", "score", "max_score", "error"])
            for r in results:
                writer.writerow([r.file, "" if r.seed is None else r.seed,
                                 "" if r.score is None else f"{r.score:g}",
                                 "" if r.max_score is None else f"{r.max_score:g}", r.error])
        print(f"wrote {summary}")
    failed = [r for r in results if r.report is None]
    if failed:
        sys.stdout.flush()
        print(f"ag grade: {len(failed)} of {len(results)} answers files could not be graded "
              "(each is named above)", file=sys.stderr)
        return 1
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from ag.exam import check

    try:
        problem = check.load_problem(args.problem, ops=args.ops, nodes=args.nodes, leaves=args.leaves,
                                     difficulty=args.difficulty)
    except check.CheckError as err:
        raise _Fail(f"ag check: {err}", 2) from None
    if args.template:
        print(problem.template, end="")
        return 0
    if not args.answers:
        raise _Fail("ag check: give your answers file (or --template for a blank one)", 2)
    try:
        result = check.check(problem, args.answers, show_answer=args.show_answer)
    except check.CheckError as err:
        raise _Fail(f"ag check: {err}") from None
    print(result.text())
    return 0 if result.all_right else 1


def _cmd_remat(demo_args: list[str]) -> int:
    demo = Path(__file__).resolve().parent.parent / "exercises" / "remat_demo.py"
    if not demo.exists():
        print("ag remat: the demo is exercises/remat_demo.py in a checkout of the ag repository "
              "(it is not part of the installed package); run it from there", file=sys.stderr)
        return 1
    return runpy.run_path(str(demo), run_name="remat_demo")["main"](demo_args)


def main(argv: list[str] | None = None) -> int:
    """Run the ``ag`` command with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    >>> main(["exam", "--seed", "5", "--ops", "add", "--nodes", "1", "--leaves", "2", "--format", "markdown"])
    ... # doctest: +ELLIPSIS
    ## Exam problem (seed 5)
    ...
    0
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["remat"]:  # the demo parses its own options
        return _cmd_remat(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        if args.command == "trace":
            return _cmd_trace(args)
        if args.command == "grade":
            return _cmd_grade(args)
        if args.command == "check":
            return _cmd_check(args)
        return _cmd_exam(args)
    except _Fail as fail:
        sys.stdout.flush()
        print(str(fail), file=sys.stderr)
        return fail.code
    except KeyboardInterrupt:  # Ctrl-C while printing or drawing: one line, no traceback
        print(f"ag {args.command}: interrupted (Ctrl-C)", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `ag exam | head`: the reader left; stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
