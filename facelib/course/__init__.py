"""The course machinery: notebook checkers, widgets, the notebook runner and nbgrader grading.

:data:`ROOT` is the checkout that holds ``notebooks/`` and ``build/`` (facelib is installed from
it in editable mode); the runner, the grading commands and the tests find the lessons there.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
