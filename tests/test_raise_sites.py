"""Every error facelib raises on purpose is a FacelibError (README: "Errors"), checked raise site by raise site.

Each module of facelib is imported and its source parsed; every ``raise X(...)`` / ``raise X`` must name
a class that derives from :class:`facelib.errors.FacelibError`. A bare ``raise`` and re-raising the
exception bound by ``except ... as name`` pass on someone else's error and are fine. The few other
sites are listed in ``ALLOWED`` with the reason, by module and the raise statement's source text.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil

import pytest

import facelib
from facelib.errors import FacelibError

ALLOWED = {
    ("facelib.cli", "raise argparse.ArgumentTypeError"):
        "argparse's protocol for a bad option value: argparse turns it into a usage message and exit 2",
    ("facelib.convnets.style", "raise StopIteration"):
        "ends the optimiser's loop from its callback (control flow, never reaches the caller)",
    ("facelib.dlibport.landmarks", "raise KeyError"):
        "caught just below: a cache that lacks arrays is rebuilt from the .dat file, with a note",
    ("facelib.dlibport.encoder", "raise ValueError"):
        "caught just below: converted weights whose checksum differs are converted again, with a note",
    ("facelib.recognition.encoding_cache", "raise ValueError"):
        "caught just below: an encodings cache of the wrong shape is rebuilt, with a note",
    ("facelib.course.grading.autograde", "raise DeadKernelError"):
        "nbclient's own signal, raised to nbclient/nbgrader when the replay after a restart gives up",
    ("facelib.course.grading.autograde", "raise CellTimeoutError"):
        "nbclient's own signal for a cell over its limit during the replay, handled by the restart loop",
    ("facelib.course.grading.sandbox", "raise OSError"):
        "caught just below: a cgroup without a memory controller is not used (the sandbox falls back to rlimits)",
    ("facelib.course.runner", "raise RuntimeError"):
        "an invariant about nbconvert's HTML: a bug to fix in facelib (a traceback), not a user error",
}


def _modules() -> list[str]:
    names = [facelib.__name__]
    for info in pkgutil.walk_packages(facelib.__path__, prefix="facelib."):
        if not info.name.endswith(("__main__", "nbgrader_config")):
            names.append(info.name)
    return sorted(names)


def _resolve(node: ast.expr, namespace: dict):
    """The object a (dotted) name refers to in the module's namespace, or None."""
    if isinstance(node, ast.Name):
        return namespace.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, namespace)
        return getattr(owner, node.attr, None) if owner is not None else None
    return None


def _rebound(tree: ast.AST) -> set[str]:
    """Names bound by ``except ... as name`` anywhere in the module (re-raising them passes an error on)."""
    return {handler.name for handler in ast.walk(tree) if isinstance(handler, ast.ExceptHandler) and handler.name}


def _sites(module_name: str) -> list[tuple[int, str, object]]:
    """(line, source of ``raise X``, what X resolves to) for every raise that names an exception."""
    module = importlib.import_module(module_name)
    source = inspect.getsource(module)
    tree = ast.parse(source)
    rebound, sites = _rebound(tree), []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        if isinstance(exc, ast.Name) and exc.id in rebound and not isinstance(node.exc, ast.Call):
            continue
        sites.append((node.lineno, f"raise {ast.unparse(exc)}", _resolve(exc, vars(module))))
    return sites


def _factory_of_facelib_errors(module_name: str, text: str) -> bool:
    """``raise obj.error(...)``: every method of that name in the module is annotated to return a FacelibError."""
    module = importlib.import_module(module_name)
    attr = text.rsplit(".", 1)[-1]
    if "." not in text:
        return False
    methods = [getattr(cls, attr) for cls in vars(module).values()
               if isinstance(cls, type) and cls.__module__ == module_name and callable(getattr(cls, attr, None))]
    returns = [vars(module).get(m.__annotations__.get("return"), None) for m in methods]
    return bool(returns) and all(isinstance(r, type) and issubclass(r, FacelibError) for r in returns)


@pytest.mark.parametrize("module_name", _modules())
def test_every_raise_is_a_facelib_error(module_name):
    wrong = []
    for line, text, target in _sites(module_name):
        if (module_name, text) in ALLOWED:
            continue
        if not (isinstance(target, type) and issubclass(target, FacelibError)) \
                and not _factory_of_facelib_errors(module_name, text):
            wrong.append(f"{module_name}:{line}: {text} (not a FacelibError)")
    assert not wrong, "\n".join(wrong)


def test_the_allowlist_has_no_stale_entries():
    present = {(name, text) for name in {m for m, _ in ALLOWED} for _, text, _ in _sites(name)}
    assert set(ALLOWED) <= present
