"""Concurrent writers: two processes enrolling into one database at the same time lose nobody.

Each round starts two writer processes on the same file. Both read the database, wait until the
other has read it too (so each holds a copy without the other's person), then enrol one person
and save: without the writers' lock and the merge under it, the second save would drop the first
writer's person. Twenty rounds run the library's read-enrol-save path directly (no TensorFlow, so
a round takes about a second); one more runs two real ``facelib enroll`` commands, which encode a
photo for several seconds between reading and saving, on an empty model cache (both convert and
cache the models at the same time).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import require_asset

from facelib.course import ROOT
from facelib.recognition.database import FaceDatabase

pytestmark = pytest.mark.system  # make test-system (see pyproject.toml's markers)

ROUNDS = 20
_WRITER = """
import sys, time
from pathlib import Path
import numpy as np
from facelib.course import ROOT
from facelib.recognition.database import FaceDatabase

database, name, seed, barrier = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
db = FaceDatabase.open(database, dim=128)
(barrier / name).touch()                              # this writer has read the file
deadline = time.monotonic() + 30
while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:
    time.sleep(0.01)                                  # wait until the other writer has read it too
db.enroll(name, np.random.default_rng(seed).normal(size=(1, 128)))
db.save(database)
"""


def _run_pair(commands: list[list[str]], env: dict[str, str]) -> None:
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for command in commands]
    for run in runs:
        _, err = run.communicate(timeout=600)
        assert run.returncode == 0, err


def test_concurrent_writers_lose_nobody(tmp_path):
    database = tmp_path / "people.npz"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    expected: list[str] = []
    for i in range(ROUNDS):
        barrier = tmp_path / f"barrier{i}"
        barrier.mkdir()
        names = [f"round {i} person {side}" for side in "ab"]
        _run_pair([[sys.executable, "-c", _WRITER, str(database), name, str(2 * i + k), str(barrier)]
                   for k, name in enumerate(names)], env)
        expected += names
        assert sorted(FaceDatabase.load(database).names) == sorted(expected), f"round {i}"
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_concurrent_enroll_commands_lose_nobody(tmp_path):
    photo = require_asset("lfw") / "lfw_funneled" / "George_W_Bush" / "George_W_Bush_0001.jpg"
    database = tmp_path / "people.npz"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FACELIB_HOME": str(tmp_path / "home")}
    names = ["first person", "second person"]
    _run_pair([[sys.executable, "-m", "facelib", "enroll", str(database), name, str(photo)] for name in names], env)
    assert sorted(FaceDatabase.load(database).names) == sorted(names)
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
