"""NearestIndex: exact search against a NumPy brute force, the FAISS index against exact search."""

from __future__ import annotations

import numpy as np
import pytest

from facelib.recognition.ann import NearestIndex


def _unit(rng, n, d=16):
    x = rng.normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _brute_force(stored, queries, k):
    d = np.linalg.norm(queries[:, None, :] - stored[None].astype(np.float32).astype(np.float64), axis=-1)
    ids = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, ids, 1), ids


def test_exact_search_matches_brute_force():
    rng = np.random.default_rng(0)
    stored, queries = _unit(rng, 300), rng.normal(size=(40, 16))
    index = NearestIndex().fit(stored)
    distances, ids = index.search(queries, k=3)
    want_d, want_ids = _brute_force(stored, queries, 3)
    assert index.exact and len(index) == 300
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(distances, want_d, rtol=1e-12)


def test_faiss_index_above_the_switch_finds_noisy_copies():
    rng = np.random.default_rng(1)
    stored = _unit(rng, 4000)
    rows = rng.choice(4000, 200, replace=False)
    queries = stored[rows] + rng.normal(scale=0.3 / 4, size=(200, 16))
    approx = NearestIndex(exact_below=1000).fit(stored)
    distances, ids = approx.search(queries, k=2)
    want_d, want_ids = _brute_force(stored, queries, 2)
    assert not approx.exact
    assert np.mean(ids[:, 0] == want_ids[:, 0]) >= 0.99
    hit = ids[:, 0] == want_ids[:, 0]
    np.testing.assert_allclose(distances[hit, 0], want_d[hit, 0], rtol=1e-12)  # distances recomputed exactly
    assert np.all(np.diff(distances, axis=1) >= 0)


def test_every_cell_probed_is_exact():
    rng = np.random.default_rng(2)
    stored, queries = _unit(rng, 2000), rng.normal(size=(30, 16))
    index = NearestIndex(exact_below=100, n_lists=20, n_probe=20).fit(stored)
    np.testing.assert_array_equal(index.search(queries, k=5)[1], _brute_force(stored, queries, 5)[1])


@pytest.mark.parametrize(
    ("vectors", "message"),
    [
        (np.zeros((0, 4)), "shape"),
        (np.zeros((2, 2, 2)), "shape"),
        (np.array([[0.0, np.nan]]), "NaN"),
        (np.array([["a", "b"]]), "dtype"),
        (np.ones((2, 2), bool), "dtype"),
    ],
)
def test_bad_vectors_are_refused(vectors, message):
    with pytest.raises(ValueError, match=message):
        NearestIndex().fit(vectors)


def test_bad_arguments_and_queries():
    with pytest.raises(ValueError, match="exact_below"):
        NearestIndex(exact_below=-1)
    with pytest.raises(ValueError, match="n_probe"):
        NearestIndex(n_probe=0)
    with pytest.raises(RuntimeError, match="fit"):
        NearestIndex().search([0.0, 1.0])
    index = NearestIndex().fit(np.eye(3))
    with pytest.raises(ValueError, match="3-d"):
        index.search([0.0, 1.0])
    with pytest.raises(ValueError, match="exceeds"):
        index.search([0.0, 1.0, 0.0], k=4)
    with pytest.raises(ValueError, match="infinite"):
        index.search([0.0, np.inf, 0.0])


def test_face_database_switches_to_the_index_above_its_size():
    from facelib.recognition.database import FaceDatabase

    rng = np.random.default_rng(3)
    stored = _unit(rng, 3000, 128)
    exact, approx = FaceDatabase(), FaceDatabase(exact_below=1000)
    for i, vector in enumerate(stored):
        exact.enroll(f"p{i}", vector)
        approx.enroll(f"p{i}", vector)
    queries = stored[:100] + rng.normal(scale=0.3 / np.sqrt(128), size=(100, 128))
    want, got = exact.identify(queries, threshold=0.5), approx.identify(queries, threshold=0.5)
    assert approx._index.exact is False and exact._index.exact is True
    assert [m.name for m in got] == [m.name for m in want] == [f"p{i}" for i in range(100)]
    approx.remove("p0")  # a change drops the index; the next query rebuilds it without p0
    assert approx.identify(queries[0], threshold=0.5)[0].name is None
