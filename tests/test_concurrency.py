"""Concurrent writers: two ``facelib enroll`` commands on one database at the same time lose nobody.

Each round starts two enroll commands (separate processes, each encoding for several seconds
between reading the database and saving it) on the same file; afterwards the file must hold
everyone enrolled so far. The first round also starts both on an empty cache folder, so the two
processes convert and cache the models at the same time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import require_asset

from facelib.database import FaceDatabase

ROUNDS = 20


def test_concurrent_enrolls_lose_nobody(tmp_path):
    photo = require_asset("lfw") / "lfw_funneled" / "George_W_Bush" / "George_W_Bush_0001.jpg"
    database = tmp_path / "people.npz"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "FACELIB_HOME": str(tmp_path / "home")}
    expected = []
    for i in range(ROUNDS):
        names = [f"round {i} person {side}" for side in "ab"]
        runs = [subprocess.Popen([sys.executable, "-m", "facelib", "enroll", str(database), name, str(photo)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for name in names]
        for run in runs:
            out, err = run.communicate(timeout=600)
            assert run.returncode == 0, err
        expected += names
        assert sorted(FaceDatabase.load(database).names) == sorted(expected), f"round {i}"
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
