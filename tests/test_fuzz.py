"""Property and fuzz tests: random bytes never crash the image loader or the database reader, never
run anything, and a save killed at a random moment leaves the old or the new database, never a mix.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import pickle
import signal
import subprocess
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from facelib.images import ImageError, load_image
from facelib.recognition.database import DatabaseError, FaceDatabase

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
MAGIC = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*", b"P6\n",
         b"RIFF\x00\x00\x00\x00WEBP", b"%!PS-Adobe-3.0 EPSF-3.0\n", b"\x00\x00\x01\x00", b"8BPS", b"PK\x03\x04",
         b"\x93NUMPY"]


def _small_files() -> list[bytes]:
    rng = np.random.default_rng(0)
    out = []
    for fmt, mode in [("PNG", "RGB"), ("JPEG", "RGB"), ("GIF", "P"), ("BMP", "RGB"), ("TIFF", "RGB")]:
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)).convert(mode).save(buffer, fmt)
        out.append(buffer.getvalue())
    return out


VALID_IMAGES = _small_files()


@pytest.fixture
def no_child_processes(monkeypatch):
    """Fail if anything tries to start a program (e.g. a decoder handing a file to Ghostscript)."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"a program was started: {args[:1]}")

    for name in ("Popen", "run", "call", "check_call", "check_output"):
        monkeypatch.setattr(subprocess, name, refuse)
    monkeypatch.setattr(os, "system", refuse)


def _check_image_bytes(data: bytes) -> None:
    try:
        pixels = load_image(data)
    except ImageError:
        return
    assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3 and pixels.size > 0


@FUZZ
@given(data=st.binary(max_size=4096))
@example(data=b"")
def test_random_bytes_never_crash_the_image_loader(data, no_child_processes):
    _check_image_bytes(data)


@FUZZ
@given(magic=st.sampled_from(MAGIC), tail=st.binary(max_size=2048))
def test_random_bytes_behind_a_format_signature(magic, tail, no_child_processes):
    _check_image_bytes(magic + tail)


@FUZZ
@given(which=st.integers(0, len(VALID_IMAGES) - 1), flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)),
                                                                      max_size=8), cut=st.floats(0, 1))
def test_damaged_real_images(which, flips, cut, no_child_processes):
    data = bytearray(VALID_IMAGES[which])
    for where, value in flips:
        data[min(int(where * len(data)), len(data) - 1)] = value
    _check_image_bytes(bytes(data[: max(1, int(cut * len(data)))]) if cut < 1 else bytes(data))


# -- the database reader ------------------------------------------------------------------------
def _database(n_people: int, n_per_person: int = 1, seed: int = 0) -> FaceDatabase:
    rng = np.random.default_rng(seed)
    db = FaceDatabase()
    for i in range(n_people):
        db.enroll(f"person {i}", rng.normal(size=(n_per_person, 128)))
    return db


@pytest.fixture(scope="module")
def database_bytes(tmp_path_factory) -> bytes:
    return _database(3, 2).save(tmp_path_factory.mktemp("db") / "source.npz").read_bytes()


def _check_database_bytes(data: bytes, folder) -> None:
    path = folder / "fuzzed.npz"
    path.write_bytes(data)
    try:
        db = FaceDatabase.load(path)
    except DatabaseError:
        return
    assert all(db.encodings_of(name).shape[1] == db.dim for name in db.names)


@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes_never_crash_the_database_reader(data, tmp_path, no_child_processes):
    _check_database_bytes(data, tmp_path)


@FUZZ
@given(flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=6), cut=st.floats(0, 1))
def test_damaged_database_files(flips, cut, tmp_path, database_bytes, no_child_processes):
    data = bytearray(database_bytes)
    for where, value in flips:
        data[min(int(where * len(data)), len(data) - 1)] = value
    _check_database_bytes(bytes(data[: int(cut * len(data))]) if cut < 1 else bytes(data), tmp_path)


class _Payload:
    """Unpickling this would create a marker file: proof that code ran."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_code_in_a_database_is_never_run(tmp_path):
    marker = tmp_path / "pwned"
    payload = np.empty(1, dtype=object)
    payload[0] = _Payload(str(marker))
    path = tmp_path / "evil.npz"
    np.savez(path, format_version=np.array(1), names=payload, encodings=np.zeros((1, 128), np.float32),
             owners=np.zeros(1, np.int64))
    with pytest.raises(DatabaseError, match="pickled"):
        FaceDatabase.load(path)
    assert not marker.exists()
    pickle.loads(pickle.dumps(_Payload(str(marker))))  # the payload is live: unpickling it does run code
    assert marker.exists()


# -- saves killed at random moments -------------------------------------------------------------
def _save_forever(db: FaceDatabase, path, ready, done) -> None:
    ready.set()
    db.save(path)
    done.set()
    time.sleep(60)  # the parent kills us; never exit on our own during the test


@pytest.mark.system  # kills writer processes: make test-system
def test_killed_saves_leave_the_old_or_the_new_database(tmp_path):
    """Kill a child process at random moments while it saves; the file must load as old or new."""
    context = multiprocessing.get_context("fork")
    old, new = _database(200, 2, seed=1), _database(250, 2, seed=2)  # ~0.25 MB: a save takes a few ms
    path = old.save(tmp_path / "people.npz")
    old_bytes = path.read_bytes()
    want = {"old": old, "new": new}

    start = time.perf_counter()
    new.save(tmp_path / "timing.npz")
    save_s = time.perf_counter() - start
    (tmp_path / "timing.npz").unlink()

    rng = np.random.default_rng(0)
    seen = {"old": 0, "new": 0, "mid_write": 0}
    for round_ in range(100):
        path.write_bytes(old_bytes)  # start each round from the old state (a save would merge, not revert)
        ready, done = context.Event(), context.Event()
        child = context.Process(target=_save_forever, args=(new, path, ready, done))
        child.start()
        assert ready.wait(30)
        if round_ % 10 == 9:  # every tenth kill lands after the save, whatever the machine's speed
            assert done.wait(30)
        else:
            time.sleep(rng.uniform(0, 1.5 * save_s))
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
        assert child.exitcode == -signal.SIGKILL
        back = FaceDatabase.load(path)
        state = "new" if len(back) == len(new) else "old"
        expected = want[state]
        assert back.names == expected.names
        for name in expected.names:
            np.testing.assert_array_equal(back.encodings_of(name), expected.encodings_of(name))
        seen[state] += 1
        for leftover in tmp_path.glob(".people.npz.*.tmp"):  # killed while writing: it cannot tidy up
            leftover.unlink()
            seen["mid_write"] += 1
    assert min(seen.values()) > 0, seen  # kills landed before, during and after the write
