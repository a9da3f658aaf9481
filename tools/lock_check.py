"""Check that the lock installs on every platform the course supports, from wheels alone.

For each platform and Python version below, uv resolves ``requirements.txt`` with
``requirements-dev.txt`` (exact pins; environment markers evaluated for that target, not for
this machine) allowing wheels only, and ``requirements-peer.txt`` without dependencies, as the
Makefile installs it. A resolution fails when a pinned version has no wheel for the target, and
this check fails when it needs a package that the lock does not pin (an incomplete lock).
``face_recognition_models`` publishes only a source archive (model files, no code to compile,
no dependencies): it is left out of the wheel-only resolutions and checked once for being on the
package index.

Run ``make lock-check`` (it needs the package index); ``make lock`` regenerates the lock.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLATFORMS = {  # uv's name for the target -> what the learner has
    "x86_64-manylinux_2_28": "Linux x86_64 (glibc 2.28+)",
    "aarch64-apple-darwin": "macOS 14+ arm64",  # faiss-cpu's wheels need macOS 14 (MACOSX_DEPLOYMENT_TARGET)
    "x86_64-pc-windows-msvc": "Windows amd64",
}
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
SOURCE_ONLY = "face-recognition-models"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)")


def normalise(name: str) -> str:
    """A distribution name as indexes compare them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> set[tuple[str, str]]:
    """The ``(name, version)`` pairs pinned in requirements text (markers ignored)."""
    return {(normalise(m[1]), m[2]) for line in text.splitlines() if (m := _PIN.match(line))}


def uv(*args: str) -> subprocess.CompletedProcess:
    """Run uv (the one installed beside this Python): no configuration file, no interpreter downloads."""
    command = [str(Path(sys.executable).with_name("uv")), *args]
    env = {**os.environ, "UV_NO_CONFIG": "1", "UV_PYTHON_DOWNLOADS": "never", "MACOSX_DEPLOYMENT_TARGET": "14.0"}
    return subprocess.run(command, capture_output=True, text=True, env=env)


def resolve(platform: str, python: str, wheels_only: Path, peer: Path) -> str | None:
    """None when the lock resolves for ``platform`` and ``python``, else what went wrong."""
    target = ("--python-platform", platform, "--python-version", python, "--no-header", "--no-annotate")
    run = uv("pip", "compile", str(wheels_only), "--only-binary", ":all:", *target)
    if run.returncode != 0:
        return run.stderr.strip()
    extra = pins(run.stdout) - pins(wheels_only.read_text())
    if extra:
        missing = ", ".join(sorted(f"{name}=={version}" for name, version in extra))
        return f"the resolution needs packages the lock does not pin: {missing}"
    run = uv("pip", "compile", str(peer), "--no-deps", "--only-binary", ":all:", *target)
    return run.stderr.strip() if run.returncode != 0 else None


def main() -> int:
    start = time.perf_counter()
    lock = (ROOT / "requirements.txt").read_text() + (ROOT / "requirements-dev.txt").read_text()
    source_only = [line for line in lock.splitlines() if (m := _PIN.match(line)) and normalise(m[1]) == SOURCE_ONLY]
    with tempfile.TemporaryDirectory() as tmp:
        wheels_only = Path(tmp) / "wheels-only.txt"
        wheels_only.write_text("\n".join(line for line in lock.splitlines() if line not in source_only) + "\n")
        targets = [(platform, python) for platform in PLATFORMS for python in PYTHONS]
        with ThreadPoolExecutor(max_workers=4) as pool:
            problems = list(pool.map(lambda t: resolve(*t, wheels_only, ROOT / "requirements-peer.txt"), targets))
    failed = 0
    for (platform, python), problem in zip(targets, problems, strict=True):
        print(f"{PLATFORMS[platform]:28s} Python {python}: {'ok' if problem is None else 'FAILED'}")
        if problem is not None:
            failed += 1
            print("    " + problem.replace("\n", "\n    "))
    for line in source_only:  # an sdist: platform-independent, so one look at the index suffices
        name, version = _PIN.match(line).groups()
        index = subprocess.run([sys.executable, "-m", "pip", "index", "versions", name, "--no-cache-dir"],
                               capture_output=True, text=True, env={**os.environ, "PIP_CONFIG_FILE": os.devnull,
                                                                    "PIP_FIND_LINKS": ""})
        found = re.search(r"Available versions: (.*)", index.stdout)
        ok = found is not None and version in [v.strip() for v in found[1].split(",")]
        print(f"{name}=={version} (source archive) on the index: {'ok' if ok else 'NOT FOUND'}")
        failed += not ok
    print(f"lock-check: {len(targets)} platform x Python resolutions, {failed} failed, "
          f"{time.perf_counter() - start:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
