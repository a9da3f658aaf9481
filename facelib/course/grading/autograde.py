"""nbgrader's cell executor, made to survive a submission that kills, wedges or outlasts its kernel.

nbgrader stops grading a notebook when its kernel dies (a crash, ``os._exit``, the memory limit)
or does not answer after a cell was interrupted at the time limit (e.g. busy in C code drawing a
million labels), and every exercise scores 0. :class:`RestartingExecute` instead records what
happened in that cell's outputs, restarts the kernel, runs the cells before it again (outputs
discarded; a cell that kills or wedges the kernel during this replay is skipped from then on) and
goes on with the next cell, so the exercises before and after it keep their points.

It also holds the submission to a wall-clock limit (``submission_timeout``): no cell runs past it,
the cell running at that moment is interrupted, and the cells after it are not run (their
exercises score 0, with the reason in their outputs).

``python -m facelib.course.grading.autograde --kernel K --ip PREFIX ... -- ARGS`` runs ``nbgrader
autograde ARGS`` with it in place of nbgrader's ``Execute``, set in code rather than in a config file
(a config file that fails to load is skipped by nbgrader, which would grade with its own executor),
and the limits on its command line (they win over the course's ``nbgrader_config.py``).
It refuses to start any kernel but the sandbox's, over anything but Unix sockets.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Integer, Unicode
from traitlets.config import Config

from facelib.errors import FacelibError

STARTED = "facelib grading: the kernel answered"   # in the log once a kernel ran a cell (see classroom)
OVER_TIME = "SubmissionTimeLimit"
RESTARTED = "the kernel was restarted and the cells before this one run again"
WHY = {DeadKernelError: "the kernel died while running this cell (a crash, or the memory limit)",
       CellTimeoutError: "this cell ran past the time limit and the kernel stopped answering"}


def minutes(seconds: float) -> str:
    """``"10-minute"`` or ``"90-second"``: a limit as feedback names it."""
    return f"{seconds / 60:g}-minute" if seconds % 60 == 0 else f"{seconds:g}-second"


class SandboxRefusedError(FacelibError, RuntimeError):
    """A kernel would start outside the grading sandbox (or over TCP): grading refuses to run it."""


class RestartingExecute(Execute):
    """``Execute`` that restarts a dead or unanswering kernel, carries on after the cell at fault and
    stops at the submission's wall-clock limit."""

    max_restarts = Integer(3, help="kernel restarts per notebook before grading of it stops").tag(config=True)
    submission_timeout = Integer(0, help="seconds for the whole notebook, restarts included (0: none)"
                                 ).tag(config=True)

    sandbox = Unicode("", help="the module every kernel must be started by (empty: any)").tag(config=True)

    def create_kernel_manager(self):
        """nbclient's kernel manager, refused unless it starts the sandbox and talks over Unix sockets."""
        km = super().create_kernel_manager()
        argv = km.kernel_spec.argv
        if self.sandbox and (argv[1:3] != ["-m", self.sandbox] or km.transport != "ipc"):
            raise SandboxRefusedError(f"refusing to run a kernel outside the grading sandbox: {argv} over "
                                      f"{km.transport}")
        return km

    def preprocess(self, nb: NotebookNode, resources: dict | None = None, km=None) -> tuple[NotebookNode, dict]:
        self.fatal: set[int] = set()  # cells that killed or wedged the kernel: never run again
        self.restarts = 0
        self.deadline = time.monotonic() + self.submission_timeout if self.submission_timeout else math.inf
        self.announced = False
        return super().preprocess(nb, resources, km)

    def _get_timeout(self, cell: NotebookNode | None) -> int | None:
        """The per-cell limit, cut to what is left of the submission's."""
        timeout = super()._get_timeout(cell)
        if self.deadline == math.inf:
            return timeout
        left = max(1, math.ceil(self.deadline - time.monotonic()))
        return min(timeout, left) if timeout else left

    def _over_time(self, cell: NotebookNode) -> None:
        message = (f"the submission exceeded the {minutes(self.submission_timeout)} limit for the whole notebook: "
                   "this cell was stopped or not run")
        cell.outputs.append(new_output("error", ename=OVER_TIME, evalue=message, traceback=[message]))

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        if not self.announced:
            self.log.warning(STARTED)
            self.announced = True
        if time.monotonic() >= self.deadline:
            if cell.cell_type == "code":
                self._over_time(cell)
            return cell, resources
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except (DeadKernelError, CellTimeoutError) as error:
            kind = DeadKernelError if isinstance(error, DeadKernelError) else CellTimeoutError
            message = f"{WHY[kind]}: {RESTARTED}"
            cell.outputs.append(new_output("error", ename=kind.__name__, evalue=message, traceback=[message]))
            self.fatal.add(index)
            self.log.warning("%s in cell %d; restarting the kernel, running the cells before it again",
                             kind.__name__, index)
            self._restart(index)
        if time.monotonic() >= self.deadline and cell.cell_type == "code":
            self._over_time(cell)
        return cell, self.resources

    def _restart(self, index: int) -> None:
        """A fresh kernel that has run the cells before ``index`` (but those in ``fatal``) again.

        A cell that kills or wedges the kernel during the replay joins ``fatal`` and the replay starts
        over; after ``max_restarts`` restarts the error ends the grading of this notebook.
        """
        while True:
            if self.restarts >= self.max_restarts:
                raise DeadKernelError(f"the kernel was restarted {self.restarts} times")
            self.restarts += 1
            self.kc.stop_channels()
            run_sync(self.km.restart_kernel)(now=True)
            self.start_new_kernel_client()
            originals = list(self.nb.cells)
            try:
                for i, earlier in enumerate(originals[:index]):
                    if earlier.cell_type == "code" and i not in self.fatal and time.monotonic() < self.deadline:
                        try:
                            replayed = self.execute_cell(copy.deepcopy(earlier), i, store_history=True)
                        finally:
                            self.nb.cells[i] = earlier  # nbclient stored the copy as cell i
                        if any(out.get("ename") == "CellTimeoutError" for out in replayed.get("outputs", [])):
                            raise CellTimeoutError(f"cell {i} ran past the time limit while running it again")
                return
            except (DeadKernelError, CellTimeoutError):
                self.fatal.add(i)
                self.log.warning("the kernel died or stopped answering in cell %d while running it again", i)


def _main(argv: list[str] | None = None) -> None:
    from nbgrader.apps import NbGraderApp
    from nbgrader.converters import Autograde

    from facelib.course.grading import sandbox

    parser = argparse.ArgumentParser(prog="python -m facelib.course.grading.autograde",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--kernel", required=True, help="the job's kernel spec (it must start the sandbox)")
    parser.add_argument("--ip", required=True, help="the job's socket prefix (jupyter's ipc transport)")
    parser.add_argument("--cell-seconds", type=int, required=True)
    parser.add_argument("--submission-seconds", type=int, required=True)
    parser.add_argument("nbgrader", nargs=argparse.REMAINDER, help="-- and nbgrader autograde's arguments")
    args = parser.parse_args(argv)
    c = Config()  # a list of classes cannot be given on the command line
    c.Autograde.autograde_preprocessors = [RestartingExecute if p is Execute else p
                                           for p in Autograde.class_traits()["autograde_preprocessors"].default()]
    settings = {"RestartingExecute.sandbox": sandbox.__name__, "RestartingExecute.submission_timeout":
                args.submission_seconds, "Execute.kernel_name": args.kernel, "Execute.timeout": args.cell_seconds,
                "KernelManager.transport": "ipc", "KernelManager.ip": args.ip}
    rest = args.nbgrader[1:] if args.nbgrader[:1] == ["--"] else args.nbgrader
    # on the command line, these win over the course's nbgrader_config.py (which sets Execute.timeout)
    rest += [f"--{key}={value}" for key, value in settings.items()]
    NbGraderApp.launch_instance(["autograde", *rest], config=c)


if __name__ == "__main__":
    sys.exit(_main())
