"""scripts/setup.sh and tests/conftest.py's CI rule, run for real in throwaway folders.

The set-up is exercised where it has to speak: no Graphviz and no way to install it
(`make demo` must stop with the one command to run), no Chromium (`make test` warns and
goes on; under CI=true it stops), a virtual environment the user made (used as it is).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("bash", "env", "cat", "cksum", "sed", "head", "tr", "sort", "id", "rm", "dirname", "mktemp")


@pytest.fixture
def project(tmp_path):
    """A copy of the set-up scripts and pyproject.toml, a bin folder with only basic tools,
    and a bare virtual environment (no pip) standing for the user's own venv."""
    root = tmp_path / "project"
    (root / "scripts").mkdir(parents=True)
    for name in ("setup.sh", "env_python.sh"):
        shutil.copy(REPO / "scripts" / name, root / "scripts" / name)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        if found is None:
            pytest.skip(f"{tool} is not installed")
        (bin_dir / tool).symlink_to(found)
    env_dir = tmp_path / "user-venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env_dir)
    return root, bin_dir, env_dir / "bin" / "python"


def _setup(root: Path, bin_dir: Path, purpose: str, python: Path, ci: bool = False):
    env = {"PATH": str(bin_dir), "PYTHON": str(python), "HOME": str(root), "PIP_NO_INDEX": "1"}
    if ci:
        env["CI"] = "true"
    return subprocess.run(["bash", str(root / "scripts" / "setup.sh"), purpose], capture_output=True,
                          text=True, env=env, timeout=120, stdin=subprocess.DEVNULL)


def _fake_apt_get(bin_dir: Path) -> None:
    """An apt-get that fails, as it does for a user who is neither root nor a sudoer."""
    apt = bin_dir / "apt-get"
    apt.write_text("#!/bin/sh\necho 'E: Could not open lock file - are you root?' >&2\nexit 100\n")
    apt.chmod(0o755)


def test_env_python_uses_the_venv_you_are_in_and_dot_venv_otherwise(project):
    root, bin_dir, user_python = project
    script = root / "scripts" / "env_python.sh"
    inside = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=60,
                            env={"PATH": str(bin_dir), "PYTHON": str(user_python)})
    assert inside.stdout.strip() == str(user_python)
    base = getattr(sys, "_base_executable", sys.executable)
    probe = subprocess.run([base, "-c", "import sys; print(sys.prefix != sys.base_prefix)"],
                           capture_output=True, text=True, timeout=60)
    if probe.stdout.strip() != "False":
        pytest.skip("no interpreter outside a virtual environment to try")
    outside = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=60,
                             env={"PATH": str(bin_dir), "PYTHON": base})
    assert outside.stdout.strip() == ".venv/bin/python"


def test_demo_without_graphviz_and_without_root_says_what_to_run(project):
    root, bin_dir, user_python = project
    _fake_apt_get(bin_dir)
    done = _setup(root, bin_dir, "demo", user_python)
    assert done.returncode == 1
    assert "drawing the graph (Graphviz) needs 'dot'" in done.stderr
    assert "Run: sudo apt-get install graphviz" in done.stderr
    assert not (root / ".venv").exists()  # the user's venv is used, none is made


def test_tests_without_chromium_warn_and_go_on_but_ci_stops(project):
    root, bin_dir, user_python = project
    _fake_apt_get(bin_dir)
    dot = shutil.which("dot")
    if dot is None:
        pytest.skip("Graphviz's dot is not installed")
    (bin_dir / "dot").symlink_to(dot)
    done = _setup(root, bin_dir, "test", user_python)
    assert ("'chromium' is missing (sudo apt-get install chromium): the headless-browser tests will be "
            "skipped") in done.stderr
    assert "installing ag (ag-autograd) with its extras [dev tutorials]" in done.stderr  # it went on
    in_ci = _setup(root, bin_dir, "test", user_python, ci=True)
    assert in_ci.returncode == 1
    assert "the headless-browser tests needs 'chromium'" in in_ci.stderr
    assert "installing ag" not in in_ci.stderr


def test_a_missing_interpreter_is_named(project):
    root, bin_dir, _ = project
    done = _setup(root, bin_dir, "demo", Path("python3.99"))
    assert done.returncode == 1
    assert "no 'python3.99' found" in done.stderr


CI_PROBE = '''
import pytest

@pytest.mark.torch
def test_torch_missing():
    pytest.importorskip("a_module_that_is_not_there")

@pytest.mark.browser
def test_browser_missing():
    pytest.skip("chromium is not installed (Debian: apt-get install chromium)")

def test_other_skip():
    pytest.skip("no GPU")
'''


@pytest.mark.parametrize("ci", [False, True])
def test_ci_turns_missing_tool_skips_into_failures(tmp_path, ci):
    shutil.copy(REPO / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_probe.py").write_text(CI_PROBE, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    torch: t\n    browser: b\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    if ci:
        assert done.returncode == 1, done.stdout
        assert "2 failed, 1 skipped" in done.stdout
        assert "CI=true: this test must run in CI, but it skipped: chromium is not installed" in done.stdout
    else:
        assert done.returncode == 0, done.stdout
        assert "3 skipped" in done.stdout
