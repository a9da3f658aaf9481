# Two commands do everything: `make run` and `make test`; each sets itself up first.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
PIP     := $(PY) -m pip
# Use the shared mirror next to the checkout when there is one (CI and course machines).
FACELIB_MIRROR ?= $(if $(wildcard ../shared/mirror),$(abspath ../shared/mirror),)
export FACELIB_MIRROR
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: setup assets run lab test unit test-system notebooks assignments grade bench lint clean test-browser lock lock-check test-hosted

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-peer.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet -r requirements.txt -r requirements-dev.txt
	$(PIP) install --quiet --no-deps -r requirements-peer.txt
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $@

setup: $(VENV)/.installed

assets: setup
	$(PY) -m facelib.assets fetch --all

run: assets
	$(PY) -m facelib.course.runner

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

# Each lesson runs once: nbval executes the instructor's notebooks (solutions, visible and hidden tests, each
# cell within nbgrader's timeout), which is what `nbgrader validate` checks; then the release is built.
# `make assignments` still runs nbgrader validate itself.
test: assets unit notebooks
	$(PY) -m facelib.course.grading assignments

# The unit tests in parallel (pytest-xdist), one worker per core up to 4, each test file on one worker;
# the whole-system tier (tests marked `system`) is `make test-system`.
unit: setup
	$(PY) -m pytest -q -n auto --maxprocesses=4 --dist loadfile -m "not system"

# Whole-system tests: fake classes graded in bubblewrap sandboxes, the wheel installed into a throwaway
# venv, every asset downloaded through a local server, peak memory, killed and concurrent writers, exit
# codes and pipes of real processes (pyproject.toml's `system` marker).
test-system: assets
	$(PY) -m pytest -q -n auto --maxprocesses=4 --dist loadfile -m system

# --nbval-cell-timeout is nbgrader's c.Execute.timeout (tests/test_notebooks_once.py checks that they agree).
notebooks: setup
	$(PY) -m pytest -q -p no:cacheprovider --nbval-lax --nbval-cell-timeout=180 \
		--sanitize-with tests/nbval_sanitize.cfg notebooks/

# Headless Chromium drives JupyterLab (notebooks 01 and 04); skips, saying how, without Debian's chromium.
test-browser: assets
	mkdir -p build/browser
	$(PY) -m pytest -q -s -p no:cacheprovider tests/browser_jupyterlab.py

# A simulated hosted notebook (tensorflow 2.20 and keras first, then the setup cell's install from this
# checkout): fails if the host's packages change; then nbval on notebooks 00 and 06 outside the checkout.
test-hosted: assets
	$(PY) tools/hosted.py simulate

# Student copies (nbgrader release) under build/course/release, then nbgrader validate on every lesson.
assignments: setup
	$(PY) -m facelib.course.grading assignments
	$(PY) -m facelib.course.grading validate

# Autograde SUBMISSIONS/<student>/<notebook>.ipynb, each kernel in its own bubblewrap sandbox (MINUTES per
# notebook): build/grades/grades.csv and feedback/<student>/*.html.
JOBS ?= 1
MINUTES ?= 10
grade: setup
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=DIR [JOBS=N] [MINUTES=M]" >&2; exit 2; }
	@command -v bwrap > /dev/null || { echo "make grade runs each submission in a bubblewrap sandbox;" \
		"install it first: sudo apt-get install bubblewrap (Debian/Ubuntu)" >&2; exit 2; }
	test -f build/course/gradebook.db || $(PY) -m facelib.course.grading assignments
	$(PY) -m facelib.course.grading grade "$(SUBMISSIONS)" --jobs $(JOBS) --minutes $(MINUTES)

bench: assets
	for script in benchmarks/[!_]*.py; do $(PY) $$script || exit 1; done

lint: setup
	$(VENV)/bin/ruff check facelib tests benchmarks tools

# Regenerate the lock (requirements.txt, requirements-dev.txt) from pyproject.toml and lock/ with uv:
# one file for Linux, macOS and Windows, Python 3.10-3.13, through environment markers. Versions
# already pinned are kept while they still fit; LOCK_FLAGS=--upgrade moves everything to the newest.
UV_COMPILE = $(VENV)/bin/uv pip compile --no-config --no-python-downloads --universal --python-version 3.10 --quiet \
	--custom-compile-command "make lock" $(LOCK_FLAGS)
lock: setup
	$(UV_COMPILE) pyproject.toml lock/tensorflow.in --extra course --overrides lock/overrides.txt -o requirements.txt
	$(UV_COMPILE) --group pyproject.toml:dev -c requirements.txt -o requirements-dev.txt

# The lock resolves from wheels on Linux x86_64, macOS arm64 and Windows amd64 for Python 3.10-3.13.
lock-check: setup
	$(PY) tools/lock_check.py

clean:
	rm -rf build
