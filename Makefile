# The two commands of the README:
#   make demo   set up, then trace exam problem 1.3, draw its graph and write its HTML stepper
#   make test   set up, then run the test suite (quick CI hypothesis profile)
#
# Set-up (scripts/setup.sh) installs ag into the interpreter scripts/env_python.sh names:
# $(PYTHON) itself when it runs inside a virtual environment, otherwise ./.venv made from it
# (stock Debian/Ubuntu python is externally managed, PEP 668). Choose the base interpreter
# with `make PYTHON=python3.12 test`.
PYTHON ?= python3
PY := $(shell PYTHON='$(PYTHON)' bash scripts/env_python.sh)
SETUP = PYTHON='$(PYTHON)' bash scripts/setup.sh

.PHONY: setup demo test docs dist thorough lint bench python-path
setup:
	@$(SETUP) test

demo:
	@$(SETUP) demo
	$(PY) -m ag.cli trace exercises/problem_1_3.py --html out/problem_1_3.html --svg out/problem_1_3
	@echo "demo: open out/problem_1_3.html (the stepper); drawings in out/problem_1_3/"

test:
	@$(SETUP) test
	HYPOTHESIS_PROFILE=ci $(PY) -m pytest

# The API reference and tutorials site, warnings as errors, into site/ (open site/index.html).
docs:
	@$(SETUP) docs
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

# The wheel and the sdist, into dist/.
dist:
	@$(SETUP) test
	rm -rf dist
	$(PY) -m build

thorough:
	@$(SETUP) test
	HYPOTHESIS_PROFILE=thorough $(PY) -m pytest

lint:
	@$(SETUP) test
	$(PY) -m ruff check .

bench:
	@$(SETUP) test
	$(PY) benchmarks/scalar_mlp.py

# The interpreter the targets above use (.ci/run installs torch into it).
python-path:
	@echo $(PY)
