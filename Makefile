# Flamethrower: the two commands a newcomer needs are `make demo` and `make test`.
# Every target bootstraps .venv from pyproject.toml first; nothing else is installed by hand.
PYTHON ?= python3
# Optional dependency groups from pyproject.toml; EXTRAS=dev,torch adds the PyTorch comparisons,
# EXTRAS=dev,torch,peers tinygrad and JAX in make bench's model rows.
EXTRAS ?= dev
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
export PATH := $(VENV)/bin:$(PATH)

HANDOUTS := hw0 hw1_autograd hw2_nn hw3_ndarray_backend hw4_gpu_cuda hw5_models

# A sanitized build loads only with its runtime preloaded, which the handouts' and solutions'
# `make test SANITIZE=...` does; here it is for `make build` and `make test-hwN` alone.
ifneq ($(SANITIZE),)
ifneq ($(filter-out build test-hw0 test-hw1 test-hw2 test-hw3 test-hw4 test-hw5,$(or $(MAKECMDGOALS),help)),)
$(error SANITIZE=$(SANITIZE) works with `make build` and `make test-hw0..5` here; for solutions' tests: make -C solutions test SANITIZE=$(SANITIZE) HW=hw3)
endif
endif

.PHONY: help venv build demo test lint test-slow test-solutions test-grader test-hw0 test-hw1 test-hw2 test-hw3 test-hw4 test-hw5 \
        check-hw0 check-hw1 check-hw2 check-hw3 check-hw4 check-hw5 \
        submit-hw0 submit-hw1 submit-hw2 submit-hw3 submit-hw4 submit-hw5 test-torch shell data bench bench-profile docs docs-student handouts check-handouts grade release export-gradescope export-nbgrader lab carry-forward clean

help:
	@echo "make demo            train the reference models on the MNIST and news samples and CartPole, plot the curves"
	@echo "make test            every test: solutions, handouts, notebooks, grader, check-handouts"
	@echo "make test-hw0..5     a handout's public tests, as its students run them"
	@echo "                     (SANITIZE=address,undefined: its C++ under ASan and UBSan)"
	@echo "make test-slow       the slow tests make test skips: training to an error bound, filled hw3-5 handouts"
	@echo "make lint            ruff and mypy on solutions/ and grader/ (part of make test)"
	@echo "make test-torch      install PyTorch (CPU) and run the comparisons with it that make test skips"
	@echo "make shell           a shell inside .venv (or: source .venv/bin/activate), for the handouts' commands"
	@echo "make lab             JupyterLab in this folder, for the homework notebooks"
	@echo "make bench           needle's backends against NumPy/PyTorch, as ratios (bench-results/)"
	@echo "                     (ARGS='--threads 2 --quick'; unset OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE for it)"
	@echo "                     tinygrad and JAX columns for the model rows with the peers extra:"
	@echo "                     make venv EXTRAS=dev,torch,peers (bench/peers.py; not installed by default)"
	@echo "make bench-profile   where needle's time goes in each model row: kernels by name, copies,"
	@echo "                     allocation, NDArray/ops Python (bench/profiler.py; ARGS='--rows conv2d')."
	@echo "                     Not 'make bench --profile' (make reads --profile as its own option):"
	@echo "                     make bench-profile, or make bench ARGS=--profile"
	@echo "make docs            the course site in site/ (open site/index.html): chapters, notation, API"
	@echo "                     reference, instructor guide; offline, every warning an error (mkdocs.yml)"
	@echo "make docs-student    the students' edition in site-student/ (no instructor guide): the one to publish"
	@echo "make handouts        regenerate the handouts from solutions/"
	@echo "make check-handouts  fail if a committed handout is stale or leaks solution text"
	@echo "make check-hw0..5    a handout folder's public tests, run the way the grader runs tests"
	@echo "                     (ARGS='--timeout 30 -- -k topo': a test's time limit, a pytest selection)"
	@echo "make submit-hw0..5   submissions/hwN.zip: the files the grader takes, checked and graded locally"
	@echo "make data            download the full MNIST, CIFAR-10 and Penn Treebank into data/ (says what first)"
	@echo "make carry-forward TO=hw2_nn        move your filled functions from the previous handout"
	@echo "make grade HW=hw1 SUBMISSIONS=dir   grade a folder of submissions (one per student)"
	@echo "make export-nbgrader HW=hw1 [COURSE=nbgrader-course]  hw1 as an nbgrader assignment (JupyterHub)"
	@echo "make release DEST=path [REPO_URL=url] [HOMEWORKS=hw0,hw1] [UPDATE=1]"
	@echo "                                    write (or update) the student edition, a git repository"
	@echo "make export-gradescope HW=hw1       a Gradescope autograder bundle in dist/"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10+ is needed, found " + sys.version.split()[0] + ": run make PYTHON=python3.X")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	@touch $@

venv: $(STAMP)

# SANITIZE=address,undefined: solutions' simple_ml_ext and CPU backend built with ASan and
# UBSan (solutions/Makefile); `make test SANITIZE=...` in solutions/ or a handout runs tests on it.
build: $(STAMP)
	$(MAKE) -C solutions build PYTHON=$(PY) SANITIZE=$(SANITIZE)

demo: build
	$(PY) solutions/apps/train_mnist.py --out demo-output
	$(PY) solutions/apps/models.py lm --seq-model lstm --epochs 2 --out demo-output
	$(PY) solutions/apps/rl.py --method a2c --episodes 3000 --out demo-output

test: check-handouts lint test-solutions test-grader
	@$(PY) -c 'import importlib.util as u; u.find_spec("torch") or print("PyTorch is not installed, so the comparisons with it were skipped (counted above); make test-torch runs them.")'

# The gates: ruff (rules in pyproject.toml) on the code the instructor keeps, mypy --strict on
# the grader, which handles hostile input, and check_untyped_defs on needle. Zero findings.
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy --strict grader
	$(PY) -m mypy --check-untyped-defs -p needle

# The training runs to an error bound (marked slow) and the filled hw3-hw5 handouts are left to
# make test-slow, which CI skips: run it before a release, or after changing a model or a handout.
test-solutions: build
	cd solutions && $(PY) -m pytest tests python/needle --doctest-modules -m "not slow"

test-slow: build
	cd solutions && $(PY) -m pytest tests -m slow
	$(PY) -m pytest grader/tests -m slow --runslow

test-grader: build
	$(PY) -m pytest grader/tests --durations=12

test-hw0: $(STAMP)
	$(MAKE) -C hw0 test PYTHON=$(PY)

test-hw1: $(STAMP)
	$(MAKE) -C hw1_autograd test PYTHON=$(PY)

test-hw2: $(STAMP)
	$(MAKE) -C hw2_nn test PYTHON=$(PY)

test-hw3: $(STAMP)
	$(MAKE) -C hw3_ndarray_backend test PYTHON=$(PY)

test-hw4: $(STAMP)
	$(MAKE) -C hw4_gpu_cuda test PYTHON=$(PY)

test-hw5: $(STAMP)
	$(MAKE) -C hw5_models test PYTHON=$(PY)

check-hw0: $(STAMP)
	$(PY) -m grader.check hw0 $(ARGS)

check-hw1: $(STAMP)
	$(PY) -m grader.check hw1 $(ARGS)

check-hw2: $(STAMP)
	$(PY) -m grader.check hw2 $(ARGS)

check-hw3: $(STAMP)
	$(PY) -m grader.check hw3 $(ARGS)

check-hw4: $(STAMP)
	$(PY) -m grader.check hw4 $(ARGS)

check-hw5: $(STAMP)
	$(PY) -m grader.check hw5 $(ARGS)

# submissions/hwN.zip: the files the grader takes from hwN's folder, read back and graded locally.
submit-hw0: $(STAMP)
	$(PY) -m grader.submit hw0

submit-hw1: $(STAMP)
	$(PY) -m grader.submit hw1

submit-hw2: $(STAMP)
	$(PY) -m grader.submit hw2

submit-hw3: $(STAMP)
	$(PY) -m grader.submit hw3

submit-hw4: $(STAMP)
	$(PY) -m grader.submit hw4

submit-hw5: $(STAMP)
	$(PY) -m grader.submit hw5

# The full data sets, never needed by the tests (they use the samples in data/).
data: $(STAMP)
	$(PY) data/fetch.py

# A shell inside .venv, where the handouts' own commands (python -m pytest ...) work.
shell: $(STAMP)
	@echo "In $(VENV): the handouts' commands (python -m pytest ...) work here; exit leaves it."
	@exec bash --init-file "$(VENV)/bin/activate" -i

# PyTorch (the pinned CPU build) and the tests that compare needle with it, which `make test`
# skips without it (saying how many). CI runs this after `make test` and `make demo`.
test-torch:
	$(MAKE) build EXTRAS=dev,torch
	cd solutions && $(PY) -m pytest tests -m torch

carry-forward: $(STAMP)
	@test -n "$(TO)" || { echo "usage: make carry-forward TO=hw2_nn"; exit 2; }
	$(PY) -m grader.carry $(TO)

grade: $(STAMP)
	@test -n "$(HW)" -a -n "$(SUBMISSIONS)" || { echo "usage: make grade HW=hw1 SUBMISSIONS=folder"; exit 2; }
	$(PY) -m grader grade $(HW) --dir $(SUBMISSIONS)

# REPO_URL: the student repository (default: course.toml's repo_url); HOMEWORKS=hw0,hw1: only
# those (default: all; with UPDATE=1, those already released); UPDATE=1: a new commit in DEST.
release: $(STAMP)
	@test -n "$(DEST)" || { echo "usage: make release DEST=path [REPO_URL=url] [HOMEWORKS=hw0,hw1] [UPDATE=1]"; exit 2; }
	$(PY) -m grader release $(DEST) $(if $(REPO_URL),--repo-url $(REPO_URL)) \
	    $(if $(HOMEWORKS),--homeworks $(HOMEWORKS)) $(if $(UPDATE),--update)

export-gradescope: $(STAMP)
	@test -n "$(HW)" || { echo "usage: make export-gradescope HW=hw1"; exit 2; }
	$(PY) -m grader export-gradescope $(HW)

# An nbgrader course directory (default nbgrader-course/) holding HW, autograded by this grader.
export-nbgrader: $(STAMP)
	@test -n "$(HW)" || { echo "usage: make export-nbgrader HW=hw1 [COURSE=nbgrader-course]"; exit 2; }
	$(PY) -m grader export-nbgrader $(HW) --course-dir $(or $(COURSE),nbgrader-course)

# JupyterLab, started here: open hwN_*/hwN.ipynb from its file browser.
lab: $(STAMP)
	$(PY) -m jupyterlab

bench: build
	$(PY) bench/run.py $(ARGS)

bench-profile: build
	$(PY) bench/profiler.py $(ARGS)

# The course site (mkdocs.yml, docs/) in site/: `mkdocs build --strict`, so that a broken link or
# anchor, or any other warning, fails it. Offline; grader/tests/test_docs.py builds it in make test.
# NO_MKDOCS_2_WARNING: Material's banner about MkDocs 2.0, printed on every build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

# The students' edition, to publish to them: the same site without the instructor guide.
docs-student: $(STAMP)
	DOCS_EDITION=student NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site-student

handouts: $(STAMP)
	$(PY) -m grader handouts

check-handouts: $(STAMP)
	$(PY) -m grader check-handouts

clean:
	rm -rf demo-output site site-student $(foreach d,solutions $(HANDOUTS),$(d)/build $(d)/build.log $(d)/src/*.so $(d)/python/needle/backend_ndarray/*.so)
