#!/usr/bin/env bash
# Set-up for the README's two commands on Debian/Ubuntu (and anywhere with make):
#
#   bash scripts/setup.sh demo   Graphviz (required: the demo draws the graph) + the package
#   bash scripts/setup.sh test   Graphviz and Chromium (wanted: the tests that need them skip
#                                without them, except under CI=true, where they are required)
#                                + the package with its dev extras
#   bash scripts/setup.sh docs   the package with the docs site's extras
#
# The package goes into the interpreter scripts/env_python.sh names: $PYTHON (default
# python3) when it runs inside a virtual environment, otherwise ./.venv, created from
# $PYTHON (stock Debian/Ubuntu python refuses system-wide pip installs, PEP 668).
# System packages come from apt-get as root, or through sudo when it is there.
set -euo pipefail
cd "$(dirname "$0")/.."

purpose="${1:-test}"
case "$purpose" in demo|test|docs) ;; *) echo "usage: bash scripts/setup.sh demo|test|docs" >&2; exit 2 ;; esac
base="${PYTHON:-python3}"
case "${CI:-}" in true|1) ci=1 ;; *) ci=0 ;; esac

say() { echo "setup: $*" >&2; }
die() { say "$*"; exit 1; }

# Run a command as root: directly, through non-interactive sudo, or through sudo at a
# terminal (it may ask for the password). Returns 1 when none of these is possible.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1 && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then sudo "$@"
  else return 1
  fi
}

apt_updated=0
apt_install() {  # apt_install PACKAGE...: 0 when installed, 1 when it could not be done
  command -v apt-get >/dev/null 2>&1 || return 1
  if [ "$apt_updated" = 0 ]; then
    as_root apt-get update -qq || return 1
    apt_updated=1
  fi
  say "installing $* (apt-get)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

how_to_install() {  # the one line a user on this system should run for a system package
  if command -v apt-get >/dev/null 2>&1; then echo "sudo apt-get install $*"
  elif command -v brew >/dev/null 2>&1; then echo "brew install $*"
  elif command -v dnf >/dev/null 2>&1; then echo "sudo dnf install $*"
  else echo "install $* with your system's package manager"
  fi
}

# --- 1. the interpreter -----------------------------------------------------------------
command -v "$base" >/dev/null 2>&1 ||
  die "no '$base' found. Install Python >= 3.10 ($(how_to_install python3 python3-venv)) or run make PYTHON=/path/to/python3"
"$base" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
  die "$base is Python $("$base" -c 'import platform; print(platform.python_version())'); ag needs >= 3.10 (make PYTHON=python3.11 ...)"

py="$(PYTHON="$base" bash scripts/env_python.sh)"
if [ "$py" = .venv/bin/python ] && [ ! -x .venv/bin/python ]; then
  say "creating .venv from $base (not inside a virtual environment)"
  if ! "$base" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    # Debian/Ubuntu ship venv's ensurepip in a separate package.
    ver="$("$base" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    apt_install "python$ver-venv" ||
      die "'$base -m venv' failed (Debian/Ubuntu: $(how_to_install "python$ver-venv")), or make one yourself: $base -m venv .venv"
    "$base" -m venv .venv || { rm -rf .venv; die "'$base -m venv .venv' failed"; }
  fi
fi

# --- 2. system tools --------------------------------------------------------------------
need_tool() {  # need_tool COMMAND PACKAGE WHY REQUIRED(0/1)
  local cmd="$1" pkg="$2" why="$3" required="$4"
  command -v "$cmd" >/dev/null 2>&1 && return 0
  [ "$cmd" = chromium ] && command -v chromium-browser >/dev/null 2>&1 && return 0
  apt_install "$pkg" 2>/dev/null && command -v "$cmd" >/dev/null 2>&1 && return 0
  if [ "$required" = 1 ]; then
    die "$why needs '$cmd' and it could not be installed here (not root, no sudo). Run: $(how_to_install "$pkg")"
  fi
  say "'$cmd' is missing ($(how_to_install "$pkg")): $why will be skipped"
}
need_tool dot graphviz "drawing the graph (Graphviz)" "$([ "$purpose" != test ] || [ "$ci" = 1 ] && echo 1 || echo 0)"
if [ "$purpose" = test ]; then
  need_tool chromium chromium "the headless-browser tests" "$ci"
  need_tool pdflatex texlive-latex-base "the LaTeX compile tests (answer keys, exam sheets)" "$ci"
  need_tool pdftotext poppler-utils "the tests that read what is on a printed PDF page" "$ci"
fi

# --- 3. the package ---------------------------------------------------------------------
# Each purpose installs the extras it needs (the demo: none). The stamp records the
# interpreter, pyproject.toml's checksum and the extras installed so far, so a later
# purpose installs only when it needs more (and keeps what was there).
case "$purpose" in
  demo) want="" ;;
  test) want="dev tutorials" ;;   # tutorials: the widget, scikit-learn, matplotlib, a kernel
  docs) want="docs tutorials" ;;  # the site runs the tutorials
esac
where="$(command -v "$py" 2>/dev/null || echo "$py") $(cksum < pyproject.toml)"
have=""
if [ -f .setup-done ] && [ "$(head -n 1 .setup-done)" = "$where" ] && "$py" -I -c 'import ag' 2>/dev/null; then
  have="$(sed -n 2p .setup-done)"
  missing=0
  for e in $want; do case " $have " in *" $e "*) ;; *) missing=1 ;; esac; done
  [ "$missing" = 0 ] && exit 0
fi
all="$(echo $have $want | tr ' ' '\n' | sort -u | tr '\n' ' ' | sed 's/ $//')"
spec="."; [ -n "$all" ] && spec=".[$(echo "$all" | tr ' ' ',')]"
say "installing ag (ag-autograd)${all:+ with its extras [$all]} into $py"
"$py" -m pip install -q --disable-pip-version-check -e "$spec"
printf '%s\n%s\n' "$where" "$all" > .setup-done
