"""facelib as `pip install <checkout>` gives it: a built wheel, run from another folder.

A throwaway environment (``venv --without-pip``) reuses this environment's packages through a
``.pth`` line (TensorFlow and the rest are not downloaded again) and gets facelib itself from a
non-editable ``pip install --no-deps`` of a copy of the checkout, so nothing outside the wheel
(the checkout's files, the editable install) can stand in for what the wheel lacks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from conftest import require_asset

import facelib
from facelib import assets

pytestmark = pytest.mark.system  # make test-system (see pyproject.toml's markers)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``run(*command)`` -> CompletedProcess in a folder outside the checkout, with the wheel's facelib."""
    tmp = tmp_path_factory.mktemp("packaging")
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "facelib", source / "facelib", ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "project_environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--ignore-installed", str(source)], check=True, cwd=tmp)
    shutil.rmtree(source)  # the installed copy must not lean on the sources it was built from
    work = tmp / "elsewhere"
    work.mkdir()

    def run(*command: str) -> subprocess.CompletedProcess:
        executable = venv / "bin" / command[0]
        return subprocess.run([str(executable), *command[1:]], cwd=work, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": ""}, timeout=600)

    run.venv = venv
    return run


def test_the_wheel_is_what_runs_and_names_one_version(installed):
    probe = installed("python", "-c", "import importlib.metadata as m, facelib, facelib.assets as a; "
                      "print(facelib.__file__); print(a.DATA_DIR); print(facelib.__version__, m.version('facelib'))")
    assert probe.returncode == 0, probe.stderr
    module, data, versions = probe.stdout.splitlines()
    assert Path(module).is_relative_to(installed.venv) and Path(data).is_relative_to(installed.venv)
    assert versions.split() == [facelib.__version__, facelib.__version__]
    version = installed("facelib", "--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"facelib {facelib.__version__}")


def test_the_installed_package_lists_and_verifies_every_asset(installed):
    for name in assets.manifest():
        require_asset(name)  # fails in CI, skips on a machine without the mirror
    listing = installed("python", "-m", "facelib.assets", "list")
    assert listing.returncode == 0 and "MISSING" not in listing.stdout, listing.stdout + listing.stderr
    verify = installed("python", "-m", "facelib.assets", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert [line.split()[:2] for line in verify.stdout.splitlines()] == [[name, "OK"] for name in assets.manifest()]


def test_the_installed_command_verifies_two_lfw_photos(installed):
    photos = require_asset("lfw") / "lfw_funneled" / "George_W_Bush"
    require_asset("dlib_models")
    a, b = (str(photos / f"George_W_Bush_000{i}.jpg") for i in (1, 2))
    same = installed("facelib", "verify", a, b)
    assert same.returncode == 0 and "same person" in same.stdout, same.stdout + same.stderr
