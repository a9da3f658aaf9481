"""FaceDatabase: identification against a NumPy reference, round trips, clear errors, atomic saves."""

from __future__ import annotations

import numpy as np
import pytest

from facelib.errors import ArgumentError
from facelib.recognition import database
from facelib.recognition.database import DatabaseError, FaceDatabase


@pytest.fixture
def db():
    rng = np.random.default_rng(0)
    db = FaceDatabase()
    db.enroll("ada", rng.normal(size=8))
    db.enroll("bob", rng.normal(size=(3, 8)))
    db.enroll("Zoë O'Neil-Ñúñez", rng.normal(size=(2, 8)))
    return db


def test_identify_matches_a_numpy_nearest_neighbour(db):
    rng = np.random.default_rng(1)
    queries = rng.normal(size=(20, 8))
    stored = np.concatenate([db.encodings_of(n) for n in db.names]).astype(np.float64)
    owners = np.repeat(db.names, [1, 3, 2])
    d = np.linalg.norm(queries[:, None, :] - stored[None], axis=-1)
    tau = float(np.median(d.min(axis=1)))
    matches = db.identify(queries, threshold=tau)
    for q, match in enumerate(matches):
        k = int(np.argmin(d[q]))
        assert match.distance == pytest.approx(d[q, k], rel=1e-5)
        assert match.name == (owners[k] if d[q, k] <= tau else None)
    assert any(m.name is None for m in matches) and any(m.name is not None for m in matches)


def test_identify_finds_noisy_copies_and_rejects_strangers(db):
    noisy = db.encodings_of("bob")[1] + 0.01
    assert db.identify(noisy, threshold=0.1)[0].name == "bob"
    assert db.identify(noisy + 100, threshold=0.1)[0].name is None


def test_enroll_remove_len_names(db):
    assert len(db) == 3 and db.names == ["ada", "bob", "Zoë O'Neil-Ñúñez"] and db.n_encodings == 6
    db.remove("bob")
    assert "bob" not in db and len(db) == 2
    with pytest.raises(KeyError, match="bob"):
        db.remove("bob")


def test_round_trip(tmp_path, db):
    path = db.save(tmp_path / "faces.npz")
    back = FaceDatabase.load(path)
    assert back.names == db.names and back.dim == 8
    for name in db.names:
        np.testing.assert_array_equal(back.encodings_of(name), db.encodings_of(name))
    with np.load(path, allow_pickle=False) as archive:
        assert int(archive["format_version"]) == database.FORMAT_VERSION


def test_empty_database_round_trips_and_refuses_to_identify(tmp_path):
    empty = FaceDatabase(dim=4)
    back = FaceDatabase.load(empty.save(tmp_path / "empty.npz"))
    assert len(back) == 0 and back.dim == 4
    with pytest.raises(DatabaseError, match="empty"):
        back.identify(np.zeros(4))


@pytest.mark.parametrize("name, message", [
    ("", "empty"), ("   ", "empty"), ("a/b", "path separators"), ("a\\b", "path separators"),
    ("..", "path separators"), ("bad\nname", "control"), ("tab\there", "control"), ("x" * 101, "at most 100"),
    (42, "must be a string"),
])
def test_invalid_names_are_refused(db, name, message):
    with pytest.raises(DatabaseError, match=message):
        db.enroll(name, np.zeros(8))


def test_duplicate_name_is_refused(db):
    with pytest.raises(DatabaseError, match="already enrolled"):
        db.enroll("ada", np.zeros(8))


@pytest.mark.parametrize("encodings, message", [
    (np.zeros(5), "8-dimensional"), (np.zeros((2, 3, 8)), "shape"), (np.zeros((0, 8)), "shape"),
    (np.array(["a"] * 8), "dtype"), (np.ones(8, dtype=bool), "dtype"), (np.full(8, np.nan), "NaN"),
    (np.full(8, np.inf), "NaN or infinite"),
])
def test_bad_encodings_are_refused(db, encodings, message):
    with pytest.raises(DatabaseError, match=message):
        db.enroll("carol", encodings)
    with pytest.raises(DatabaseError, match=message):
        db.identify(encodings)


def test_bad_threshold_and_path(db, tmp_path):
    with pytest.raises(ArgumentError, match="threshold"):
        db.identify(np.zeros(8), threshold=-1)
    with pytest.raises(DatabaseError, match=".npz"):
        db.save(tmp_path / "faces.pkl")
    with pytest.raises(DatabaseError, match="does not exist"):
        db.save(tmp_path / "missing" / "faces.npz")


def test_interrupted_save_leaves_the_old_file_intact(tmp_path, db, monkeypatch):
    path = db.save(tmp_path / "faces.npz")
    before = path.read_bytes()
    db.enroll("carol", np.ones(8))

    def crash_midway(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(database.np, "savez", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        db.save(path)
    assert path.read_bytes() == before
    assert FaceDatabase.load(path).names == ["ada", "bob", "Zoë O'Neil-Ñúñez"]
    # no temporary file left behind; the writers' lock file stays (it is never renamed)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces.npz", "faces.npz.lock"]


def test_newer_format_is_refused(tmp_path, db):
    path = tmp_path / "future.npz"
    np.savez(path, format_version=np.array(database.FORMAT_VERSION + 1), names=np.array(["ada"]),
             encodings=np.zeros((1, 8), np.float32), owners=np.zeros(1, np.int64))
    with pytest.raises(DatabaseError, match="upgrade facelib"):
        FaceDatabase.load(path)


def test_pickled_or_foreign_files_are_refused(tmp_path):
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, format_version=np.array(1), names=np.array([{"evil": 1}], dtype=object),
             encodings=np.zeros((1, 2)), owners=np.zeros(1, np.int64))
    with pytest.raises(DatabaseError, match="pickled"):
        FaceDatabase.load(pickled)
    other = tmp_path / "other.npz"
    np.savez(other, weights=np.zeros(3))
    with pytest.raises(DatabaseError, match="missing"):
        FaceDatabase.load(other)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(b"not a zip")
    with pytest.raises(DatabaseError):
        FaceDatabase.load(truncated)
    with pytest.raises(FileNotFoundError):
        FaceDatabase.load(tmp_path / "nothing.npz")


def test_dim_must_be_an_integer():
    for dim in (True, 0, 2.5, "8"):
        with pytest.raises(ArgumentError, match="dim"):
            FaceDatabase(dim=dim)


# -- two writers --------------------------------------------------------------------------------
def test_two_writers_both_keep_their_people(tmp_path):
    path = tmp_path / "people.npz"
    first, second = FaceDatabase.open(path), FaceDatabase.open(path)  # both read "no file yet"
    first.enroll("ada", np.zeros(8))
    second.enroll("bob", np.ones(8))
    first.save(path)
    second.save(path)  # re-reads under the lock and adds bob to what is there now
    assert FaceDatabase.load(path).names == ["ada", "bob"] and second.names == ["ada", "bob"]
    np.testing.assert_array_equal(FaceDatabase.load(path).encodings_of("ada"), np.zeros((1, 8)))


def test_a_removal_is_not_undone_by_another_writer(tmp_path, db):
    path = db.save(tmp_path / "people.npz")
    remover, enroller = FaceDatabase.load(path), FaceDatabase.load(path)
    remover.remove("bob")
    enroller.enroll("carol", np.full(8, 2.0))
    remover.save(path)
    enroller.save(path)  # carol is added; bob, removed meanwhile, is not brought back
    assert FaceDatabase.load(path).names == ["ada", "Zoë O'Neil-Ñúñez", "carol"]


def test_the_same_new_name_from_two_writers_is_refused(tmp_path):
    path = tmp_path / "people.npz"
    first, second = FaceDatabase.open(path), FaceDatabase.open(path)
    first.enroll("ada", np.zeros(8))
    second.enroll("ada", np.ones(8))
    first.save(path)
    before = path.read_bytes()
    with pytest.raises(DatabaseError, match="enrolled .* by another writer meanwhile"):
        second.save(path)
    assert path.read_bytes() == before


def test_saving_elsewhere_replaces_the_file(tmp_path, db):
    path = tmp_path / "people.npz"
    other = FaceDatabase()
    other.enroll("eve", np.zeros(8))
    other.save(path)
    db.save(path)  # db was not loaded from this file: it replaces it
    assert FaceDatabase.load(path).names == db.names


def test_stale_temporaries_are_removed_under_the_lock(tmp_path, db):
    path = tmp_path / "people.npz"
    for stale in (f".{path.name}.abc123.tmp", f".{path.name}.index.xyz.tmp"):
        (tmp_path / stale).write_bytes(b"left by a killed save")
    db.save(path)
    assert not list(tmp_path.glob(".*.tmp"))


# -- the saved index ----------------------------------------------------------------------------
def _large(tmp_path, count=2000, exact_below=1000):
    rng = np.random.default_rng(5)
    stored = rng.normal(size=(count, 16)).astype(np.float32)
    db = FaceDatabase(exact_below=exact_below)
    for i, vector in enumerate(stored):
        db.enroll(f"p{i}", vector)
    queries = stored[:50] + rng.normal(scale=0.01, size=(50, 16)).astype(np.float32)
    return db, queries, tmp_path / "people.npz"


def test_the_index_is_saved_and_used_after_load(tmp_path, capfd):
    db, queries, path = _large(tmp_path)
    want = db.identify(queries)  # builds the FAISS index
    db.save(path)
    assert database.index_path(path).is_file()
    with np.load(database.index_path(path), allow_pickle=False) as saved:  # plain arrays: nothing to unpickle
        assert saved["faiss_index"].dtype == np.uint8 and int(saved["format_version"]) == 1
    capfd.readouterr()
    loaded = FaceDatabase.load(path, exact_below=1000)
    assert capfd.readouterr().err == ""
    assert loaded._index is not None and not loaded._index.exact  # read back, not rebuilt
    assert loaded.identify(queries) == want


def test_a_stale_or_missing_index_is_rebuilt_with_a_message(tmp_path, capfd):
    db, queries, path = _large(tmp_path)
    db.identify(queries)
    db.save(path)
    index = database.index_path(path).read_bytes()
    db.remove("p0")
    db.enroll("p0", np.zeros(16))  # other encodings, the same count
    db.save(path)
    database.index_path(path).write_bytes(index)  # the old index beside the new database
    capfd.readouterr()
    stale = FaceDatabase.load(path, exact_below=1000)
    assert "stale" in capfd.readouterr().err and stale._index is None
    database.index_path(path).unlink()
    missing = FaceDatabase.load(path, exact_below=1000)
    assert "missing" in capfd.readouterr().err and missing._index is None
    assert [m.name for m in missing.identify(queries)] == [m.name for m in stale.identify(queries)]
    assert not missing._index.exact  # rebuilt on the first query


def test_nearest_is_the_brute_force_nearest_person():
    """FaceDatabase.nearest against a NumPy reference: argmin over every stored encoding, no threshold."""
    rng = np.random.default_rng(7)
    db = FaceDatabase()
    stored = {f"p{k}": rng.normal(size=(k % 3 + 1, 16)) for k in range(12)}
    for name, encodings in stored.items():
        db.enroll(name, encodings)
    queries = rng.normal(size=(30, 16)) * 3
    names = [name for name, encodings in stored.items() for _ in encodings]
    everything = np.concatenate(list(stored.values()))
    distances = np.linalg.norm(queries[:, None, :] - everything[None], axis=-1)
    matches = db.nearest(queries)
    assert [m.name for m in matches] == [names[k] for k in distances.argmin(1)]
    np.testing.assert_allclose([m.distance for m in matches], distances.min(1), rtol=1e-5)
    threshold = float(np.median(distances.min(1)))
    assert [m.name for m in db.identify(queries, threshold=threshold)] == [
        names[k] if d <= threshold else None for k, d in zip(distances.argmin(1), distances.min(1), strict=True)]


@pytest.mark.parametrize("threshold", [0, -0.5, float("nan"), float("inf"), "0.6", None, True])
def test_one_threshold_check_everywhere(threshold):
    from facelib import faces
    from facelib.course import widgets
    from facelib.decision import check_threshold
    from facelib.errors import ArgumentError

    db = FaceDatabase()
    db.enroll("ada", np.zeros(128))
    for call in (lambda: check_threshold(threshold), lambda: db.identify(np.zeros(128), threshold=threshold),
                 lambda: faces.compare_faces(np.zeros(128), np.zeros(128), threshold=threshold),
                 lambda: widgets.identify_photo(np.zeros((8, 8, 3), np.uint8), db, threshold=threshold)):
        with pytest.raises(ArgumentError, match="threshold"):
            call()
