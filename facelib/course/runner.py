"""Run the lesson notebooks headless: one line per notebook, HTML whose formulas render offline.

``python -m facelib.course.runner`` executes ``notebooks/*.ipynb`` in teaching order into
``build/notebooks/`` (the executed ``.ipynb`` and a readable ``.html`` for each) and prints one
line per notebook. ``python -m facelib.course.runner --in-place PATH ...`` runs the given notebooks and
saves their outputs back into them (how the committed notebooks get their outputs).

Each kernel's own console output (the kernel's warnings) goes to ``build/notebooks/logs/NAME.log``
instead of the terminal, and TensorFlow's C++ log lines, which the kernel captures into cell
outputs, are removed from the saved notebooks; a failing notebook names its log.
The HTML pages load MathJax from the copy that the ``jupyter-server-mathjax`` package installs,
linked as ``build/notebooks/mathjax``, so the formulas render with no network.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import nbformat

from facelib.course import ROOT
from facelib.errors import MissingFileError

BUILD = ROOT / "build" / "notebooks"
# MathJax 2's entry point and the one combined configuration the package ships.
MATHJAX_ENTRY = "MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"


def notebooks(folder: Path = ROOT / "notebooks") -> list[Path]:
    """The lesson notebooks (``NN_*.ipynb``) in teaching order."""
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def rewrite_notebooks(paths: list[Path], transform, check: bool = False) -> list[Path]:
    """Apply ``transform(nb) -> nb`` to each notebook; write those it changes unless ``check``.

    Returns the notebooks that were (with ``check``: are) out of date.
    """
    changed = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        updated = transform(nb)
        if updated != nb:
            changed.append(path)
            if not check:
                nbformat.write(updated, path)
    return changed


def mathjax_folder() -> Path:
    """The folder holding ``MathJax.js`` installed by the ``jupyter-server-mathjax`` package.

    Raises
    ------
    MissingFileError
        If the package is not installed (it is in ``requirements.txt``).
    """
    spec = importlib.util.find_spec("jupyter_server_mathjax")
    folder = Path(spec.origin).parent / "static" if spec and spec.origin else None
    if folder is None or not (folder / "MathJax.js").is_file():
        raise MissingFileError("MathJax for offline HTML comes from the package jupyter-server-mathjax; "
                               "install it with `pip install -r requirements.txt` (or `make setup`).")
    return folder


def link_mathjax(dest: Path) -> str:
    """Make ``dest/mathjax`` point at the installed MathJax; return the URL the HTML pages use."""
    link = dest / "mathjax"
    target = mathjax_folder()
    if link.is_symlink() or link.exists():
        if link.resolve() == target.resolve():
            return f"mathjax/{MATHJAX_ENTRY}"
        link.unlink()
    link.symlink_to(os.path.relpath(target, dest), target_is_directory=True)
    return f"mathjax/{MATHJAX_ENTRY}"


# TensorFlow's C++ logging (absl): "I0000 00:00:1796131504.970771   19607 port.cc:153] oneDNN ...", and the
# line absl prints before its first message. The kernel captures them into the running cell's output.
_NATIVE_LOG = re.compile(r"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w.]+:\d+\] .*"
                         r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR)$")


def strip_native_logs(nb: nbformat.NotebookNode) -> int:
    """Remove TensorFlow's C++ log lines from the notebook's stderr outputs; return how many were removed.

    They say nothing about the lesson (start-up notices, a known harmless graph-attribute message),
    and their timestamps would change the saved notebook on every run.
    """
    removed = 0
    for cell in nb.cells:
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                lines = out.text.splitlines(keepends=True)
                clean = [line for line in lines if not _NATIVE_LOG.match(line.rstrip("\n"))]
                removed += len(lines) - len(clean)
                if not "".join(clean).strip():
                    continue
                out.text = "".join(clean)
            kept.append(out)
        if cell.cell_type == "code":
            cell.outputs = kept
    return removed


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def strip_widget_views(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``nb`` without saved widget state or widget views: read without a kernel (GitHub, nbconvert, the web),
    they show "Error displaying widget"; the controls come back when a learner runs the cell."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [out for out in cell.outputs if WIDGET_VIEW not in out.get("data", {})]
    return nb


def execute(path: Path, log: Path, timeout: int = 900) -> nbformat.NotebookNode:
    """Run one notebook top to bottom in its own folder and return it with its outputs.

    The kernel process writes its stderr (C++ logging, warnings outside any cell) to ``log``.
    """
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as sink:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        client.execute(stdout=sink, stderr=subprocess.STDOUT)
    strip_native_logs(nb)
    return nb


# The package ships MathJax's STIX-Web fonts only (not its default TeX fonts): say so before it loads.
_MATHJAX_FONTS = ('<script type="text/x-mathjax-config">MathJax.Hub.Config({"HTML-CSS": {availableFonts: '
                  '["STIX-Web"], preferredFont: "STIX-Web", webFont: "STIX-Web", imageFont: null}});</script>\n')


def to_html(nb: nbformat.NotebookNode, mathjax_url: str) -> str:
    """The notebook as one HTML page that loads MathJax from ``mathjax_url``."""
    from nbconvert import HTMLExporter

    html, _ = HTMLExporter(mathjax_url=mathjax_url).from_notebook_node(nb)
    tag = f'<script src="{mathjax_url}">'
    if tag not in html:
        raise RuntimeError(f"nbconvert's HTML no longer loads MathJax with {tag!r}; update facelib.course.runner.")
    return html.replace(tag, _MATHJAX_FONTS + tag, 1)


def _first_line(error: Exception) -> str:
    """One line that says why a notebook stopped: the exception line of a cell, or the error's own first line."""
    from nbclient.exceptions import CellExecutionError

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip()          # the traceback's colours
    if not text:
        return type(error).__name__
    lines = text.splitlines()
    return lines[-1] if isinstance(error, CellExecutionError) else f"{type(error).__name__}: {lines[0]}"


def run_notebooks(paths: list[Path] | None = None, dest: Path | None = BUILD, timeout: int = 900) -> int:
    """Execute notebooks in order; return how many failed.

    With ``dest`` a folder, each notebook goes there as ``.ipynb`` and ``.html``; with
    ``dest=None`` each is written back in place (to commit it with its outputs). A notebook fails
    when a cell raises, a cell runs longer than ``timeout`` seconds, or its kernel dies; each failure
    is one line, and the next notebook still runs.
    """
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    paths = paths or notebooks()
    logs = (dest or BUILD) / "logs"
    mathjax_url = None
    if dest is not None:
        dest.mkdir(parents=True, exist_ok=True)
        mathjax_url = link_mathjax(dest)
    failed, total = 0, time.perf_counter()
    for i, path in enumerate(paths, 1):
        start, log = time.perf_counter(), logs / f"{path.stem}.log"
        try:
            nb = execute(path, log, timeout)
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
            failed += 1
            print(f"[{i}/{len(paths)}] {path.name}: FAILED after {time.perf_counter() - start:.1f} s: "
                  f"{_first_line(error)} (kernel log: {log.relative_to(ROOT) if log.is_relative_to(ROOT) else log})",
                  flush=True)
            continue
        strip_widget_views(nb)
        if dest is None:
            nbformat.write(nb, path)
            where = path
        else:
            nbformat.write(nb, dest / path.name)
            where = dest / path.with_suffix(".html").name
            where.write_text(to_html(nb, mathjax_url), encoding="utf-8")
        shown = where.relative_to(ROOT) if where.is_relative_to(ROOT) else where
        print(f"[{i}/{len(paths)}] {path.name}: {time.perf_counter() - start:.1f} s -> {shown}", flush=True)
    print(f"{len(paths) - failed} of {len(paths)} notebooks ran in {time.perf_counter() - total:.1f} s")
    return failed


def _quiet_clients() -> None:
    """Keep the Jupyter client side's own warnings (e.g. about unencrypted local TCP) off the console."""
    warnings.filterwarnings("ignore", module=r"jupyter_client(\..*)?")
    warnings.filterwarnings("ignore", module=r"zmq(\..*)?")
    logging.getLogger("traitlets").setLevel(logging.ERROR)


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m facelib.course.runner", description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks to run (default: every lesson)")
    parser.add_argument("--in-place", action="store_true",
                        help="save the outputs back into the given notebooks instead of build/notebooks")
    args = parser.parse_args(argv)
    if args.in_place and not args.paths:
        parser.error("--in-place needs the notebooks to run")
    _quiet_clients()
    paths = [p.resolve() for p in args.paths] or None
    return 1 if run_notebooks(paths, dest=None if args.in_place else BUILD) else 0


if __name__ == "__main__":
    sys.exit(_main())
