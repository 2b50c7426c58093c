#!/usr/bin/env bash
# Print the Python interpreter the Makefile installs ag into and runs it with.
#
#   $PYTHON (default python3) inside a virtual environment or a conda env -> that interpreter
#   otherwise                                                              -> .venv/bin/python
#
# Why: stock Debian 12 / Ubuntu 24.04 python refuses `pip install` outside a venv
# (PEP 668, "externally-managed-environment"), and a user's own venv should be used
# as it is. scripts/setup.sh creates .venv from $PYTHON when this prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
base="${PYTHON:-python3}"
if ! command -v "$base" >/dev/null 2>&1; then
  echo ".venv/bin/python"   # setup.sh reports the missing interpreter
  exit 0
fi
in_env=$("$base" - <<'EOF'
import os, sys
venv = sys.prefix != getattr(sys, "base_prefix", sys.prefix)
conda = bool(os.environ.get("CONDA_PREFIX")) and os.path.realpath(sys.prefix) == os.path.realpath(os.environ["CONDA_PREFIX"])
print(1 if venv or conda else 0)
EOF
)
if [ "$in_env" = 1 ]; then
  "$base" -c 'import sys; print(sys.executable)'
else
  echo ".venv/bin/python"
fi
