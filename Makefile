# The two commands of the README:
#   make demo   set up, then trace exam problem 1.3 and write its HTML stepper (the kit's main job)
#   make test   set up, then run the test suite (quick CI hypothesis profile)
PYTHON ?= python3

.PHONY: setup demo test thorough lint bench
setup: .setup-done

.setup-done: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch .setup-done

demo: setup
	$(PYTHON) -m ag.cli trace exercises/problem_1_3.py --html out/problem_1_3.html

test: setup
	HYPOTHESIS_PROFILE=ci $(PYTHON) -m pytest

thorough: setup
	HYPOTHESIS_PROFILE=thorough $(PYTHON) -m pytest

lint: setup
	ruff check .

bench: setup
	$(PYTHON) benchmarks/scalar_mlp.py
