"""The notebooks' hosted setup cell: present and current everywhere, silent where facelib is installed.

The install path itself runs in ``make test-hosted`` (a simulated host; see tools/hosted.py).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("hosted", ROOT / "tools" / "hosted.py")
hosted = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hosted)


def test_every_notebook_and_the_readme_are_up_to_date():
    assert hosted.cells(check=True) == [], "run `python tools/hosted.py cells`"
    for path in hosted.NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        first_code = next(cell for cell in nb.cells if cell.cell_type == "code")
        assert first_code.id == hosted.CELL_ID and first_code.outputs == [], path.name
    text = (ROOT / "README.md").read_text()
    assert all(f"notebooks/{path.name})" in text for path in hosted.NOTEBOOKS)


def test_the_cell_prints_nothing_and_installs_nothing_where_facelib_is_installed(tmp_path):
    run = subprocess.run([sys.executable, "-c", hosted.setup_cell()], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert (run.returncode, run.stdout, run.stderr) == (0, "", "")


def test_the_simulation_runs_the_cells_own_install_with_another_source():
    cell, local = hosted.setup_cell(), hosted.setup_cell("file:///checkout")
    assert f'SOURCE = "git+{hosted.repository()}"' in cell
    assert local == cell.replace(f'"git+{hosted.repository()}"', "'file:///checkout'") and local != cell
