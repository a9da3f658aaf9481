"""nbgrader's cell executor, made to survive a submission that kills or wedges its kernel.

nbgrader stops grading a notebook when its kernel dies (a crash, ``os._exit``, the operating
system's out-of-memory killer) or does not answer after a cell was interrupted at the time limit
(e.g. busy in C code drawing a million labels), and every exercise scores 0.
:class:`RestartingExecute` instead records what happened in that cell's outputs, restarts the
kernel, runs the cells before it again (outputs discarded; cells that killed it skipped) and goes on
with the next cell, so the exercises before and after it keep their points.
``python -m facelib.course.grading grade`` puts it in place of nbgrader's ``Execute``.
"""

from __future__ import annotations

import copy

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Integer

RESTARTED = "the kernel was restarted and the cells before this one run again"
WHY = {DeadKernelError: "the kernel died while running this cell (a crash, or memory the grader could not refuse)",
       CellTimeoutError: "this cell ran past the time limit and the kernel stopped answering"}


class RestartingExecute(Execute):
    """``Execute`` that restarts a dead or unanswering kernel and carries on after the cell at fault."""

    max_restarts = Integer(3, help="kernel restarts per notebook before grading of it stops").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict | None = None, km=None) -> tuple[NotebookNode, dict]:
        self.fatal: set[int] = set()  # cells that killed the kernel: never run again
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        try:
            return super().preprocess_cell(cell, resources, index)
        except (DeadKernelError, CellTimeoutError) as error:
            if len(self.fatal) >= self.max_restarts:
                raise
            self.fatal.add(index)
            kind = DeadKernelError if isinstance(error, DeadKernelError) else CellTimeoutError
            message = f"{WHY[kind]}: {RESTARTED}"
            cell.outputs.append(new_output("error", ename=kind.__name__, evalue=message, traceback=[message]))
            self.log.warning("%s in cell %d; restarting the kernel, running the cells before it again",
                             kind.__name__, index)
            self.kc.stop_channels()
            run_sync(self.km.restart_kernel)(now=True)
            self.start_new_kernel_client()
            originals = list(self.nb.cells)
            for i, earlier in enumerate(originals[:index]):
                if earlier.cell_type == "code" and i not in self.fatal:
                    self.execute_cell(copy.deepcopy(earlier), i, store_history=True)
                    self.nb.cells[i] = earlier  # nbclient stored the copy as cell i
            return cell, self.resources
