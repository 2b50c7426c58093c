"""The ``ag`` command: ``ag trace FILE.py`` and ``ag exam``.

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
        help="write the trace to FILE (only the trace: the program's own output stays on the terminal)",
    )
    t.add_argument("-q", "--quiet", action="store_true", help="hide what the traced program itself prints")
    t.add_argument("--digits", type=int, default=6, help="significant digits of numbers (default 6)")
    t.add_argument(
        "--max-elements", type=int, default=36, metavar="N",
        help="arrays with at most N elements are printed in full as matrices; larger ones as "
        "their shape, min/max/mean and a corner (default 36)",
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
    e.add_argument("--seed", type=int, default=None, help="random seed (default: a fresh one, printed)")
    e.add_argument(
        "--ops", default=",".join(DEFAULT_OPS),
        help=f"comma-separated ops to draw from (default {','.join(DEFAULT_OPS)}; "
        f"available: {','.join(OPS)}); as many distinct ones appear as --nodes allows",
    )
    e.add_argument("--require", default="", metavar="OPS",
                   help="comma-separated ops that must appear (added to --ops if missing)")
    e.add_argument("--difficulty", choices=tuple(DIFFICULTIES), default="exam",
                   help="easy: 4 nodes, integers; exam (default): 6 nodes, up to 2 decimals; "
                   "hard: 10 nodes, more leaves and values")
    e.add_argument("--nodes", type=int, default=None,
                   help="number of op nodes, 1..60 (default: from --difficulty)")
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
        help="text (default), markdown, latex, or html (a self-contained page with the stepper)",
    )
    e.add_argument("--no-answers", action="store_true", help="print the problem without its answer key")
    e.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
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


def _capped_trace(max_calls: int):
    """A Trace that records the first ``max_calls`` backward calls (all for 0) and counts the rest."""
    from ag.trace import Trace

    class CappedTrace(Trace):
        skipped = 0
        _skipping = False

        def begin(self, root, order):
            self._skipping = 0 < max_calls <= len(self.runs)
            if self._skipping:
                self.skipped += 1
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

    return CappedTrace()


def _run_file(path: Path, quiet: bool = False, max_calls: int = 0):
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
        with _capped_trace(max_calls) as t, \
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


def _cmd_trace(args: argparse.Namespace) -> int:
    from ag import stepper, viz

    if args.max_elements < 0 or args.digits < 1:
        raise _Fail("ag trace: --max-elements must be >= 0 and --digits >= 1", 2)
    path = Path(args.file)
    if args.max_calls < 0:
        raise _Fail(f"ag trace: --max-calls must be >= 0 (0 for all), got {args.max_calls}", 2)
    t, failure = _run_file(path, quiet=args.quiet, max_calls=args.max_calls)
    runs = t.runs
    sys.stdout.flush()
    if not runs:
        if failure:
            raise _Fail(failure)
        raise _Fail(
            f"ag trace: {path} made no backward() call, so there is nothing to trace. "
            "Call .backward() on the output (for example `z3.backward()`)."
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
                out = stepper.write_html(run, _suffixed(Path(args.html), i, n), digits=args.digits)
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


def _cmd_exam(args: argparse.Namespace) -> int:
    from ag import viz
    from ag.exam import generate

    ops = [op.strip() for op in args.ops.split(",") if op.strip()]
    require = [op.strip() for op in args.require.split(",") if op.strip()]
    try:
        problem = generate(seed=args.seed, ops=ops, nodes=args.nodes, leaves=args.leaves, require=require,
                           reuse=args.reuse, depth=args.depth, max_abs=args.max_value,
                           difficulty=args.difficulty)
    except ValueError as err:
        raise _Fail(str(err), 2) from None
    answers = not args.no_answers
    try:
        if args.format == "html":
            text = problem.html(answers=answers)
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
