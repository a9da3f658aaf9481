"""Round three of the bad-input matrix (issue 21): each case failed before the fix and passes after it.

=============================  ================================================================
case                           outcome
=============================  ================================================================
data lost or silently wrong
db_mode_kept                   a save keeps the file's mode (0644 stays 0644, 0640 too); a new file
                               and its index get the umask's; another user can still read it
db_symlink                     enroll through a link writes (and locks) the target: one database
stylize_output_is_input        -o CONTENT (or STYLE, or a link to it): exit 2, the photo unchanged
atomic_write_full_disk         a write that fails (file size limit) leaves the old file whole
same_face_two_names            enroll refuses a face that matches another person; --force warns
crashes and tracebacks
exif_odd_tag_type              a rotated JPEG whose ResolutionUnit is ASCII: loaded, rotated
long_file_name                 verify, identify, stylize -o with a 300-byte name: exit 2, a message
db_text_encodings              encodings of text or dates: DatabaseError "damaged", file named
db_header_claims_huge          a 1.5 KB file whose header claims 10^12 x 128: "damaged", no allocation
db_extra_member_ignored        an extra (here unreadable) member is never read
stylize_unwritable_folder      -o into a read-only folder: exit 2 before any work
broken_pipe                    identify / assets list into a closed pipe: exit 141, no traceback
ctrl_c_during_assets_fetch     exit 130, "interrupted", no traceback, no partial download left
killed_download                a SIGKILLed fetch's partial folder is removed by the next successful fetch
unclear or unfinished
identify_batch_finishes        identify db a.jpg broken.jpg c.jpg: c answered, exit 2 at the end
enroll_lock_wait               says that it waits; gives up after --wait seconds with exit 2
zwj_names                      ZWJ/ZWNJ between letters or in emoji sequences allowed; others refused
faiss_index_persisted          the CLI saves the FAISS index it built; the next run reads it
avif_and_big_icc_png           an AVIF photo and a PNG with a 2 MB colour profile load
steps_message                  --steps 1e9 names --steps, never a private helper
misspelt_option                --treshold: "unrecognized arguments ... did you mean --threshold?"
unknown_asset_exit_2           (tests/test_bad_input.py::test_unknown_asset_offline)
stdout_closed                  identify with stdout closed: exit 2, "standard output is closed"
no_progress_bar_in_logs        stylize with stderr redirected: no progress bar in it
=============================  ================================================================
"""

from __future__ import annotations

import fcntl
import http.server
import os
import resource
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from PIL import Image

from facelib.cli import main
from facelib.images import load_image
from facelib.recognition.database import DatabaseError, FaceDatabase, index_path, lock_path, normalize_name

ROOT = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(3)


def _facelib(*argv, stdout=subprocess.PIPE, prefix=()) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([*prefix, sys.executable, "-m", "facelib", *map(str, argv)], stdout=stdout,
                          stderr=subprocess.PIPE, text=True, env=env, timeout=600)


@pytest.fixture
def lfw(asset_dir):
    root = asset_dir("lfw") / "lfw_funneled"
    return lambda name, i: root / name / f"{name}_{i:04d}.jpg"


def _random_db(path, people=2) -> Path:
    db = FaceDatabase()
    for k in range(people):
        db.enroll(f"person {k}", RNG.normal(size=(1, 128)))
    return db.save(path)


# -- data lost or silently wrong ----------------------------------------------------------------
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o664])
def test_db_mode_kept(tmp_path, mode):
    path = _random_db(tmp_path / "people.npz")
    path.chmod(mode)
    db = FaceDatabase.load(path)
    db.enroll("new", RNG.normal(size=128))
    db.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_db_new_file_gets_the_umask(tmp_path):
    from facelib.storage import umask

    old = os.umask(0o022)
    try:
        path = _random_db(tmp_path / "people.npz")
        assert umask() == 0o022
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(lock_path(path).stat().st_mode) == 0o644


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root")
def test_db_shared_with_another_user_stays_readable():
    folder = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        folder.chmod(0o755)
        path = _random_db(folder / "people.npz")
        path.chmod(0o644)
        db = FaceDatabase.load(path)
        db.enroll("third", RNG.normal(size=128))
        db.save(path)
        code = "from facelib.recognition.database import FaceDatabase as F; import sys; print(len(F.load(sys.argv[1])))"
        run = subprocess.run(["setpriv", "--reuid", "61001", "--regid", "61001", "--clear-groups", sys.executable,
                              "-c", code, str(path)], capture_output=True, text=True, timeout=300,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert run.returncode == 0 and run.stdout.strip() == "3", run.stderr
        path.chmod(0o600)  # unreadable for them now: the message says so, and never blames damage
        run = subprocess.run(["setpriv", "--reuid", "61001", "--regid", "61001", "--clear-groups", sys.executable,
                              "-c", code, str(path)], capture_output=True, text=True, timeout=300,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert "permission denied" in run.stderr and "damaged" not in run.stderr.split("DatabaseError")[-1]
    finally:
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()


def test_db_symlink(tmp_path, lfw):
    (tmp_path / "shared").mkdir()
    (tmp_path / "home").mkdir()
    target = _random_db(tmp_path / "shared" / "people.npz")
    link = tmp_path / "home" / "people.npz"
    link.symlink_to(target)
    code, out, err = run_cli("enroll", link, "George", lfw("George_W_Bush", 1))
    assert code == 0, err
    assert link.is_symlink() and "holds 3 people" in out
    assert len(FaceDatabase.load(target)) == 3 and "George" in FaceDatabase.load(target)
    assert lock_path(target).exists() and not lock_path(link).exists()  # the lock is the target's


def test_db_symlink_library(tmp_path):
    target = _random_db(tmp_path / "people.npz")
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    db = FaceDatabase.open(link)
    db.enroll("x", RNG.normal(size=128))
    db.save(link)
    assert link.is_symlink() and len(FaceDatabase.load(target)) == 3


@pytest.fixture
def style_pair(tmp_path):
    content, style = tmp_path / "photo.png", tmp_path / "painting.jpg"
    Image.fromarray(RNG.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(content)
    Image.fromarray(RNG.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(style)
    return content, style


@pytest.mark.parametrize("which", ["content", "style", "link"])
def test_stylize_output_is_input(style_pair, tmp_path, which):
    content, style = style_pair
    before = content.read_bytes(), style.read_bytes()
    output = {"content": content, "style": style, "link": tmp_path / "link.png"}[which]
    if which == "link":
        output.symlink_to(content)
    code, _, err = run_cli("stylize", content, style, "-o", output, "--steps", "1")
    assert code == 2 and "would destroy that image" in err
    assert (content.read_bytes(), style.read_bytes()) == before


def test_atomic_write_full_disk(tmp_path):
    """A write over the file size limit fails (as on a full disk): the old file stays whole, no temporary left."""
    target = tmp_path / "out.png"
    target.write_bytes(b"old result" * 10)
    script = ("import resource, signal, sys; from facelib.storage import atomic_write\n"
              "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
              f"with atomic_write({str(target)!r}) as f: f.write(b'x' * 100_000)\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode != 0 and "File too large" in run.stderr
    assert target.read_bytes() == b"old result" * 10
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
    assert resource.getrlimit(resource.RLIMIT_FSIZE)  # (the limit was the child's only)


def test_same_face_two_names(tmp_path, lfw):
    db = tmp_path / "people.npz"
    assert run_cli("enroll", db, "George", lfw("George_W_Bush", 1))[0] == 0
    before = db.read_bytes()
    code, _, err = run_cli("enroll", db, "Dubya", lfw("George_W_Bush", 2))
    assert code == 2 and "matches 'George'" in err and "--force" in err
    assert db.read_bytes() == before
    code, _, err = run_cli("enroll", db, "Dubya", lfw("George_W_Bush", 2), "--force")
    assert code == 0 and "warning:" in err and "matches 'George'" in err
    assert FaceDatabase.load(db).names == ["George", "Dubya"]


# -- crashes and tracebacks -----------------------------------------------------------------------
def _exif(orientation: int) -> bytes:
    """A little-endian EXIF block: Orientation (SHORT) and ResolutionUnit stored as ASCII (a SHORT in the spec)."""
    import struct

    entries = [struct.pack("<HHI4s", 0x0112, 3, 1, struct.pack("<H", orientation) + b"\0\0"),
               struct.pack("<HHI4s", 0x0128, 2, 2, b"2\0\0\0")]
    ifd = struct.pack("<H", len(entries)) + b"".join(entries) + struct.pack("<I", 0)
    return b"Exif\0\0" + b"II*\0" + struct.pack("<I", 8) + ifd


def test_exif_odd_tag_type(tmp_path):
    pixels = np.zeros((20, 30, 3), np.uint8)
    pixels[:5, :5] = 255  # a white top-left corner
    path = tmp_path / "rotated.jpg"
    Image.fromarray(pixels).save(path, exif=_exif(6), quality=95)
    out = load_image(path)
    assert out.shape == (30, 20, 3)  # orientation 6: turned 90 degrees clockwise
    assert out[:5, -5:].mean() > 200 and out[-5:, :5].mean() < 50  # the corner went to the top right


def test_exif_unreadable_falls_back_to_the_pixels(tmp_path, capfd):
    path = tmp_path / "broken_exif.jpg"
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(path, exif=b"Exif\0\0II*\0\xff\xff\xff\x7f")
    assert load_image(path).shape == (20, 30, 3)


@pytest.mark.parametrize("command", ["verify", "identify", "stylize"])
def test_long_file_name(tmp_path, style_pair, command):
    long = tmp_path / ("x" * 300 + ".jpg")
    db = _random_db(tmp_path / "people.npz")
    argv = {"verify": ["verify", long, long], "identify": ["identify", db, long],
            "stylize": ["stylize", *style_pair, "-o", tmp_path / ("y" * 300 + ".png")]}[command]
    code, _, err = run_cli(*argv)
    assert code == 2 and ("name too long" in err.lower() or "bytes long" in err), err


def _npz(path, **arrays) -> Path:
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def _good_arrays() -> dict:
    return {"format_version": np.array(1), "names": np.array(["ada"]), "encodings": np.zeros((1, 128), np.float32),
            "owners": np.zeros(1, np.int64)}


@pytest.mark.parametrize("encodings", [np.array([["a"] * 128]), np.zeros((1, 128), "datetime64[s]"),
                                       np.zeros((1, 128), "timedelta64[s]"), np.zeros((1, 128), complex)],
                         ids=["text", "datetime", "timedelta", "complex"])
def test_db_text_encodings(tmp_path, encodings):
    path = _npz(tmp_path / "people.npz", **{**_good_arrays(), "encodings": encodings})
    with pytest.raises(DatabaseError, match=f"{path} is damaged: encodings must be"):
        FaceDatabase.load(path)


def test_db_header_claims_huge(tmp_path):
    """A header that claims 10^12 x 128 floats (466 TiB) is refused from the header, in well under a second."""
    import zipfile

    path = _npz(tmp_path / "people.npz", **_good_arrays())
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["encodings.npy"] = members["encodings.npy"].replace(b"(1, 128)", b"(1000000000000, 128)")
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    assert path.stat().st_size < 2000
    start = time.perf_counter()
    with pytest.raises(DatabaseError, match="damaged: the header of encodings claims shape"):
        FaceDatabase.load(path)
    assert time.perf_counter() - start < 1


def test_db_extra_member_ignored(tmp_path):
    """An extra member is never read: here its data is not even an array, and the load still works."""
    import zipfile

    path = _npz(tmp_path / "people.npz", **_good_arrays())
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("huge.npy", b"\x93NUMPY garbage that np.load could not parse" * 1000)
    assert FaceDatabase.load(path).names == ["ada"]


def test_stylize_unwritable_folder(tmp_path, style_pair):
    from test_bad_input import _read_only_prefix

    folder = tmp_path / "ro"
    folder.mkdir()
    run = _facelib("stylize", *style_pair, "-o", folder / "out.png", "--steps", "1", prefix=_read_only_prefix(folder))
    assert run.returncode == 2 and "cannot write into the output folder" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.system  # real processes: make test-system
@pytest.mark.parametrize("command", ["identify", "assets"])
def test_broken_pipe(tmp_path, command, lfw):
    db = _random_db(tmp_path / "people.npz")
    argv = ["identify", db, lfw("George_W_Bush", 1)] if command == "identify" else ["assets", "list"]
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written: every write fails with EPIPE
    try:
        run = _facelib(*argv, stdout=write)
    finally:
        os.close(write)
    assert run.returncode == 141 and "Traceback" not in run.stderr, run.stderr


# -- unclear or unfinished ----------------------------------------------------------------------
def test_identify_batch_finishes(tmp_path, lfw):
    db = tmp_path / "people.npz"
    assert run_cli("enroll", db, "Colin", lfw("Colin_Powell", 1))[0] == 0
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(lfw("Colin_Powell", 2).read_bytes()[:300])
    code, out, err = run_cli("identify", db, lfw("Colin_Powell", 2), broken, lfw("Colin_Powell", 3))
    assert code == 2 and f"{broken} could not be decoded" in err and "1 of 3 photos could not be read" in err
    lines = out.splitlines()
    assert len(lines) == 2 and all("Colin (distance" in line for line in lines)
    assert lines[1].startswith(str(lfw("Colin_Powell", 3)))


def test_enroll_lock_wait(tmp_path, lfw):
    db = _random_db(tmp_path / "people.npz")
    before = db.read_bytes()
    with open(lock_path(db), "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another writer
        start = time.perf_counter()
        code, _, err = run_cli("enroll", db, "George", lfw("George_W_Bush", 1), "--wait", "1")
        waited = time.perf_counter() - start
    assert code == 2 and "waiting for another writer" in err and "gave up after 1 s" in err
    assert waited >= 1 and db.read_bytes() == before


def test_lock_wait_then_success(tmp_path):
    path = _random_db(tmp_path / "people.npz")
    db = FaceDatabase.load(path)
    db.enroll("late", RNG.normal(size=128))
    held = open(lock_path(path), "a")  # noqa: SIM115
    fcntl.flock(held, fcntl.LOCK_EX)
    threading.Timer(0.5, held.close).start()  # the other writer finishes after half a second
    db.save(path, lock_timeout=30)
    assert "late" in FaceDatabase.load(path)


@pytest.mark.parametrize("name", ["محمد\u200cرضا", "\U0001F469\u200d\U0001F4BB",
                                  "\U0001F468\u200d\U0001F469\u200d\U0001F467", "\u0915\u094d\u200d\u0937",
                                  "\U0001F3F3\ufe0f\u200d\U0001F308"])
def test_zwj_names_allowed(name):
    assert normalize_name(name) == name


@pytest.mark.parametrize("name", ["a\u200bb", "\u200dab", "ab\u200c", "a\u200d\u200db", "a\u2060b", "a b\u200d1",
                                  "a\u00adb"])
def test_other_invisible_characters_refused(name):
    with pytest.raises(DatabaseError, match="control or invisible"):
        normalize_name(name)


def test_faiss_index_persisted(tmp_path, lfw, capsys):
    pytest.importorskip("faiss")
    from facelib.recognition.ann import EXACT_BELOW

    db = FaceDatabase()
    people = RNG.normal(size=(EXACT_BELOW, 128)).astype(np.float32)
    people /= np.linalg.norm(people, axis=1, keepdims=True)
    for start in range(0, EXACT_BELOW, 5000):  # a few big "people" keep the test quick
        db.enroll(f"group {start}", people[start:start + 5000])
    path = db.save(tmp_path / "people.npz")
    assert not index_path(path).exists()  # never searched: no index yet
    code, _, err = run_cli("identify", path, lfw("George_W_Bush", 1))
    assert code == 0 and "rebuilding it" in err and "saved the search index" in err
    assert index_path(path).exists()
    code, _, err = run_cli("identify", path, lfw("George_W_Bush", 1))
    assert code == 0 and "rebuilding" not in err


def test_avif_loads(tmp_path):
    from PIL import features

    if not features.check("avif"):
        pytest.skip("this Pillow cannot decode AVIF")
    y, x = np.mgrid[:32, :48]
    pixels = np.stack([x * 5, y * 7, (x + y) * 3], axis=-1).astype(np.uint8)  # smooth, as photos are
    Image.fromarray(pixels).save(tmp_path / "photo.avif", quality=90)
    out = load_image(tmp_path / "photo.avif")
    assert out.shape == (32, 48, 3) and np.abs(out.astype(int) - pixels).mean() < 8


def test_png_with_a_big_colour_profile(tmp_path):
    pixels = RNG.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    profile = RNG.integers(0, 256, 2 * 2**20, dtype=np.uint8).tobytes()  # 2 MB, incompressible
    Image.fromarray(pixels).save(tmp_path / "big_icc.png", icc_profile=profile)
    np.testing.assert_array_equal(load_image(tmp_path / "big_icc.png"), pixels)
    np.testing.assert_array_equal(load_image((tmp_path / "big_icc.png").read_bytes()), pixels)


@pytest.mark.parametrize(("value", "message"), [("1e9", "argument --steps: must be a whole number"),
                                                ("0", "argument --steps: must be a whole number at least 1")])
def test_steps_message(value, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["stylize", "a.png", "b.png", "-o", "c.png", "--steps", value])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and "_positive" not in err and "_whole" not in err


def test_misspelt_option(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["identify", "--treshold", "0.5", "people.npz", "a.jpg"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "unrecognized arguments: --treshold (did you mean --threshold?)" in err
    assert ".npz" not in err


def test_stdout_closed(tmp_path, lfw):
    db = _random_db(tmp_path / "people.npz")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(f'"{sys.executable}" -m facelib identify "{db}" "{lfw("George_W_Bush", 1)}" >&-',
                         shell=True, capture_output=False, stderr=subprocess.PIPE, text=True, env=env, timeout=300)
    assert run.returncode == 2 and "standard output is closed" in run.stderr


@pytest.mark.system  # real processes: make test-system
def test_no_progress_bar_in_logs(style_pair, tmp_path):
    log = tmp_path / "log.txt"
    with open(log, "w") as stderr:
        run = subprocess.run([sys.executable, "-m", "facelib", "stylize", *map(str, style_pair), "-o",
                              str(tmp_path / "out.png"), "--size", "32", "--steps", "3"], stderr=stderr,
                             stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
                             timeout=600)
    assert run.returncode == 0, log.read_text()
    assert "stylize (adam" not in log.read_text() and "it/s" not in log.read_text()


def test_assets_help_names_the_program(capsys):
    with pytest.raises(SystemExit):
        main(["assets", "--help"])
    assert capsys.readouterr().out.startswith("usage: facelib assets")


def test_stylize_atomic_and_steps_default(style_pair, tmp_path, capsys):
    from facelib.cli import _parse

    assert _parse(["stylize", "a.png", "b.png", "-o", "c.png"]).steps is None  # the recipe decides
    out = tmp_path / "out.png"
    out.write_bytes(b"previous result")
    code, text, err = run_cli("stylize", *style_pair, "-o", out, "--size", "48", "--steps", "2", "-q")
    assert code == 0 and Image.open(out).size == (48, 40) and err == ""
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# -- assets fetch: Ctrl-C and a killed download -------------------------------------------------
class _Stalling(http.server.BaseHTTPRequestHandler):
    """Sends the headers and the first 64 KiB of a 1 MiB file, then stalls for 30 s: a download in progress."""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(2**20))
        self.end_headers()
        self.wfile.write(b"\0" * 2**16)
        self.wfile.flush()
        self.server.started.set()
        time.sleep(30)


@pytest.fixture
def stalling_fetch(tmp_path):
    """``start()`` -> a ``facelib assets fetch att_faces`` subprocess whose download is in progress, and its home."""
    import http.server
    import signal

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Stalling)
    server.started = threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    home = tmp_path / "home"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FACELIB_HOME": str(home), "FACELIB_MIRROR": "",
           "FACELIB_DOWNLOAD_ORIGIN": f"http://127.0.0.1:{server.server_port}", "NO_PROXY": "127.0.0.1"}
    processes = []

    def start() -> tuple[subprocess.Popen, Path]:
        # Ctrl-C's default handling, also where this test runs in the background (which ignores SIGINT)
        process = subprocess.Popen([sys.executable, "-m", "facelib", "assets", "fetch", "att_faces"], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        processes.append(process)
        assert server.started.wait(120), "the download never started"
        server.started.clear()
        time.sleep(0.5)  # the client is now waiting for the rest of the file
        assert process.poll() is None and list(home.glob(".att_faces-*/.download"))
        return process, home

    yield start
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.communicate()
    server.shutdown()
    server.server_close()


def test_ctrl_c_during_assets_fetch(stalling_fetch):
    import signal

    process, home = stalling_fetch()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    assert list(home.iterdir()) == []  # the partial download is gone


def test_killed_download_is_removed_by_the_next_fetch(stalling_fetch, tmp_path, monkeypatch):
    import signal

    from test_downloads import publish

    from facelib import assets

    process, home = stalling_fetch()
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=120)
    assert [p.name.startswith(".att_faces-") for p in home.iterdir()] == [True]  # left behind by the kill
    site = tmp_path / "site"
    publish("att_faces", site)
    import functools
    import http.server

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("FACELIB_HOME", str(home))
        monkeypatch.setenv("FACELIB_MIRROR", "")
        monkeypatch.setenv("FACELIB_DOWNLOAD_ORIGIN", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assets.forget()
        assert assets.fetch("att_faces") == home / "att_faces"
    finally:
        server.shutdown()
        server.server_close()
        assets.forget()
    assert [p.name for p in home.iterdir()] == ["att_faces"]  # the killed download's folder is gone
