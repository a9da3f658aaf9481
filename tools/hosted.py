"""The hosted-notebook path (Colab, Kaggle, a JupyterHub image): its setup cell, its links, its test.

``python tools/hosted.py cells``
    Put the setup cell (:data:`CELL`) before the first code cell of every notebook (or bring an
    existing one up to date), and the "open in Colab" links into the README between its
    ``hosted-links`` markers. Run it again after editing notebooks, or after setting the public
    repository URL (``[project.urls] Repository`` in pyproject.toml, the one place it is written).
    ``--check`` only lists what is out of date.
``python tools/hosted.py simulate``
    A simulated host: a fresh virtual environment under ``build/hosted`` gets TensorFlow (the full
    distribution, a minor version older than the lock, as hosted images lag) and Keras first, then
    runs the setup cell's own install with this checkout as the source. Every distribution the host
    had must be unchanged afterwards; then nbval passes notebooks 00 and 06, copied to a folder
    outside the checkout.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from facelib.course.runner import rewrite_notebooks

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
README = ROOT / "README.md"
CELL_ID = "hosted-setup"
HOST = ("tensorflow==2.20.0", "keras==3.10.0")  # what the simulated host ships before the course arrives
SIMULATED = ("00_setup_check.ipynb", "06_style_transfer_costs.ipynb")
CELL = '''\
# Hosted notebooks (Colab, Kaggle, a JupyterHub image) without facelib: install it with the course
# tools, keeping the host's TensorFlow and Keras, then fetch the data. Elsewhere this does nothing.
import importlib.util

if importlib.util.find_spec("facelib") is None:
    import importlib.metadata
    import subprocess
    import sys

    SOURCE = "git+{repository}"
    host = {{(d.metadata["Name"] or "").lower(): d.version for d in importlib.metadata.distributions()}}
    keep = [f"{{name}}=={{host[name]}}" for name in ("tensorflow", "tensorflow-cpu", "keras") if name in host]
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"facelib[course] @ {{SOURCE}}", *keep], check=True)
    subprocess.run([sys.executable, "-m", "facelib.assets", "fetch", "--all"], check=True)
    importlib.invalidate_caches()  # this kernel sees the new package without a restart'''
LINKS = re.compile(r"(<!-- hosted-links -->\n).*?(<!-- /hosted-links -->)", re.S)


def repository() -> str:
    """The public repository URL from pyproject.toml (a placeholder until it is decided)."""
    return re.search(r'^Repository = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)[1]


def setup_cell(source: str | None = None) -> str:
    """The cell's code; ``source`` replaces the pip source ``git+<repository>`` (the simulation's checkout)."""
    cell = CELL.format(repository=repository())
    return cell if source is None else cell.replace(f'"git+{repository()}"', repr(source))


def with_setup_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``nb`` with the setup cell, output-free, before its first code cell (replacing an older one)."""
    cells = [cell for cell in nb.cells if cell.get("id") != CELL_ID]
    first_code = next(i for i, cell in enumerate(cells) if cell.cell_type == "code")
    cell = nbformat.v4.new_code_cell(setup_cell())
    cell.id = CELL_ID
    cells.insert(first_code, cell)
    return nbformat.from_dict({**nb, "cells": cells})


def colab_links() -> str:
    """The README's table of "open in Colab" links, one per notebook."""
    owner_name = repository().removeprefix("https://github.com/").removesuffix(".git")
    rows = [f"| {p.stem} | [open in Colab](https://colab.research.google.com/github/{owner_name}/blob/main/"
            f"notebooks/{p.name}) |" for p in NOTEBOOKS]
    return "\n".join(["| notebook | hosted |", "|---|---|", *rows]) + "\n"


def cells(check: bool = False) -> list[Path]:
    """Bring the setup cells and the README's links up to date; the files that were (or are) out of date."""
    stale = rewrite_notebooks(NOTEBOOKS, with_setup_cell, check)
    text = README.read_text()
    if not LINKS.search(text):
        raise SystemExit(f"{README} has no <!-- hosted-links --> ... <!-- /hosted-links --> markers")
    linked = LINKS.sub(lambda m: m[1] + colab_links() + m[2], text)
    if linked != text:
        stale.append(README)
        if not check:
            README.write_text(linked)
    return stale


def _freeze(python: Path) -> set[str]:
    out = subprocess.run([python, "-m", "pip", "freeze", "--all"], capture_output=True, text=True, check=True)
    return set(out.stdout.splitlines())


def simulate() -> int:
    """Build the simulated host, install the course the way the setup cell does, run nbval; 0 on success."""
    start = time.perf_counter()
    venv = ROOT / "build" / "hosted"
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    python = venv / "bin" / "python"
    quiet = ("-m", "pip", "install", "--quiet")
    subprocess.run([python, *quiet, "--no-compile", *HOST], check=True)  # no .pyc for its thousands of modules
    before = _freeze(python)
    print(f"hosted: host with {', '.join(HOST)} ready ({time.perf_counter() - start:.0f} s)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:  # the setup cell runs outside the checkout, as on a host
        subprocess.run([python, "-c", setup_cell(f"{ROOT.as_uri()}")], check=True, cwd=tmp)
    after = _freeze(python)
    changed = sorted(before - after)
    print(f"hosted: course installed ({time.perf_counter() - start:.0f} s); "
          f"{len(after - before)} distributions added, {len(changed)} of the host's changed")
    if changed:
        print("hosted: the install replaced the host's " + ", ".join(changed), file=sys.stderr)
        return 1
    subprocess.run([python, "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3"],
                   check=True, capture_output=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in SIMULATED:
            shutil.copy(ROOT / "notebooks" / name, tmp)
        shutil.copy(ROOT / "tests" / "nbval_sanitize.cfg", tmp)
        env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
        run = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                              "--nbval-cell-timeout=900", "--sanitize-with", "nbval_sanitize.cfg", *SIMULATED],
                             cwd=tmp, env=env)
    print(f"hosted: nbval on {', '.join(SIMULATED)} {'passed' if run.returncode == 0 else 'FAILED'}; "
          f"{time.perf_counter() - start:.0f} s in all")
    return run.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/hosted.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cells_p = sub.add_parser("cells", help="write the setup cell into every notebook and the Colab links")
    cells_p.add_argument("--check", action="store_true", help="only list what is out of date (exit 1 if any)")
    sub.add_parser("simulate", help="install the course on a simulated host and run nbval on 00 and 06")
    args = parser.parse_args(argv)
    if args.command == "simulate":
        return simulate()
    stale = cells(check=args.check)
    for path in stale:
        print(f"{'out of date' if args.check else 'updated'}: {path.relative_to(ROOT)}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
