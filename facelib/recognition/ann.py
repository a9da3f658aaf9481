"""Nearest-neighbour search for 1:K identification: exact NumPy search for small K, FAISS above.

Exact search computes every Euclidean distance from a query q to the K stored vectors e_k,

    d(q, e_k) = sqrt(||q||^2 - 2 q . e_k + ||e_k||^2),

which costs O(K d) per query (about 0.1 s at K = 10^6, d = 128 on two CPU cores). From
``exact_below`` stored vectors on, :class:`NearestIndex` builds an inverted-file index (FAISS
``IndexIVFFlat``): k-means splits the vectors into ``n_lists`` cells, and a query is compared only
with the vectors of its ``n_probe`` nearest cells. By default there are sqrt(K) cells, and a
query probes an eighth of them, or more cells when an eighth holds fewer than 25,000 vectors (at
K = 10^5, LFW encodings among look-alike distractors, an eighth gave recall@1 0.98 and a quarter
0.996; at K = 10^6 an eighth gives 1.0). That is approximate: when the true nearest
vector lies in a cell not probed it is missed (recall@1 < 1); ``benchmarks/identify_scale.py``
measures the recall and the speed against exact search. The distances returned are always
recomputed exactly (float64) for the candidates found.
"""

from __future__ import annotations

import math

import numpy as np

from facelib.errors import ArgumentError, FacelibError
from facelib.validation import check_int

__all__ = ["NearestIndex", "NotFittedError", "EXACT_BELOW", "check_vectors"]

EXACT_BELOW = 50_000
_MIN_PER_LIST = 39  # FAISS's k-means wants at least 39 training points per cell
_MIN_SCANNED = 25_000  # default n_probe reads at least this many vectors per query
_CHUNK_BYTES = 64 * 2**20  # exact search: at most this much memory for one block of distances


class NotFittedError(FacelibError, RuntimeError):
    """The index holds no vectors yet: call fit first."""


def check_vectors(vectors, argument: str, dim: int | None = None) -> np.ndarray:
    """``vectors`` as a finite real (n, d) array (one (d,) vector becomes (1, d)); ArgumentError names ``argument``."""
    try:
        array = np.asarray(vectors)
    except (ValueError, TypeError) as error:
        raise ArgumentError(f"{argument} must be an (n, d) array of numbers, not a ragged list ({error})") from None
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ArgumentError(f"{argument} must hold real numbers, got dtype {array.dtype}")
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ArgumentError(f"{argument} must have shape (d,) or (n, d) with n, d >= 1, got {np.shape(vectors)}")
    if dim is not None and array.shape[1] != dim:
        raise ArgumentError(f"{argument} have {array.shape[1]} values each, but {dim}-dimensional vectors are stored")
    if not np.all(np.isfinite(array)):
        raise ArgumentError(f"{argument} contain NaN or infinite values")
    return array


class NearestIndex:
    """The k nearest stored vectors of each query, by Euclidean distance.

    Parameters
    ----------
    exact_below : int
        Stored-vector count from which an approximate FAISS index replaces exact search
        (default 50,000, where exact search takes about 5 ms per query on two cores).
    n_lists : int, optional
        Number of k-means cells; default ``sqrt(K)``, at most ``K / 39``.
    n_probe : int, optional
        Cells searched per query; more is slower and more accurate. Default: an eighth of
        the cells, and at least enough cells for 25,000 vectors.
    seed : int
        Seed of the k-means training.

    Examples
    --------
    >>> index = NearestIndex().fit([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    >>> distances, ids = index.search([[0.9, 0.1]], k=2)
    >>> ids.tolist(), distances.round(4).tolist()
    ([[1, 0]], [[0.1414, 0.9055]])
    """

    def __init__(self, exact_below: int = EXACT_BELOW, n_lists: int | None = None, n_probe: int | None = None,
                 seed: int = 0):
        self.exact_below = check_int("exact_below", exact_below, minimum=0)
        self.n_lists = None if n_lists is None else check_int("n_lists", n_lists, minimum=1)
        self.n_probe = None if n_probe is None else check_int("n_probe", n_probe, minimum=1)
        self.seed = check_int("seed", seed, minimum=0)
        self._vectors: np.ndarray | None = None
        self._exact_cache: tuple[np.ndarray, np.ndarray] | None = None
        self._faiss_index = None

    def __len__(self) -> int:
        return 0 if self._vectors is None else len(self._vectors)

    @property
    def exact(self) -> bool:
        """True when searches are exact (fewer than ``exact_below`` vectors stored)."""
        return self._faiss_index is None

    def fit(self, vectors, faiss_bytes: np.ndarray | None = None) -> NearestIndex:
        """Store ``vectors`` (K, d) and, when K >= ``exact_below``, train and fill the FAISS index.

        ``faiss_bytes`` (from :meth:`faiss_bytes` of an index fitted to the same vectors) restores
        that index instead of training a new one; the caller vouches that the vectors are the same.
        """
        array = check_vectors(vectors, "vectors")
        self._vectors = np.ascontiguousarray(array, dtype=np.float32)
        self._exact_cache = self._faiss_index = None
        if len(array) >= self.exact_below and faiss_bytes is not None:
            self._faiss_index = self._restore_ivf(faiss_bytes)
        elif len(array) >= self.exact_below:
            self._faiss_index = self._build_ivf(self._vectors)
        else:
            stored = self._vectors.astype(np.float64)
            self._exact_cache = stored, np.sum(stored**2, axis=1)
        return self

    def _build_ivf(self, vectors: np.ndarray):
        import faiss

        count, dim = vectors.shape
        n_lists = self.n_lists or round(math.sqrt(count))
        n_lists = max(1, min(n_lists, count // _MIN_PER_LIST))
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, n_lists, faiss.METRIC_L2)
        index.cp.seed = self.seed
        index.cp.max_points_per_centroid = 64  # trains on a sample of at most 64 vectors per cell
        index.train(vectors)
        index.add(vectors)
        default = max(math.ceil(n_lists / 8), math.ceil(_MIN_SCANNED * n_lists / count))
        index.nprobe = min(self.n_probe or default, n_lists)
        return index

    def faiss_bytes(self) -> np.ndarray | None:
        """The FAISS index serialised to bytes (a uint8 array, no pickle); None for exact search."""
        if self._faiss_index is None:
            return None
        import faiss

        return faiss.serialize_index(self._faiss_index)

    def _restore_ivf(self, state: np.ndarray):
        import faiss

        state = np.asarray(state)
        if state.dtype != np.uint8 or state.ndim != 1:
            raise ArgumentError(f"faiss_bytes must be a 1-D uint8 array, got {state.dtype} of shape {state.shape}")
        index = faiss.deserialize_index(state)
        if index.ntotal != len(self._vectors) or index.d != self._vectors.shape[1]:
            raise ArgumentError(f"faiss_bytes holds an index of {index.ntotal} {index.d}-d vectors, not of the "
                                f"{len(self._vectors)} {self._vectors.shape[1]}-d vectors given")
        return index

    def search(self, queries, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Distances and row numbers of the ``k`` nearest stored vectors of each query.

        Returns
        -------
        distances : np.ndarray, shape (n, k), float64, ascending along each row
        ids : np.ndarray, shape (n, k), int64 (row numbers in the fitted ``vectors``)
        """
        if self._vectors is None:
            raise NotFittedError("the index is empty: call fit(vectors) first")
        queries = check_vectors(queries, "queries", self._vectors.shape[1]).astype(np.float64)
        k = check_int("k", k, minimum=1)
        if k > len(self):
            raise ArgumentError(f"k={k} exceeds the {len(self)} stored vectors")
        if self._faiss_index is None:
            ids = self._exact_ids(queries, k)
        else:
            _, ids = self._faiss_index.search(queries.astype(np.float32), k)
            ids = ids.astype(np.int64)
        found = ids >= 0  # FAISS pads with -1 when the probed cells hold fewer than k vectors
        candidates = self._vectors[np.where(found, ids, 0)].astype(np.float64)
        distances = np.where(found, np.linalg.norm(candidates - queries[:, None, :], axis=-1), np.inf)
        order = np.argsort(distances, axis=1, kind="stable")
        return np.take_along_axis(distances, order, 1), np.take_along_axis(ids, order, 1)

    def _exact_ids(self, queries: np.ndarray, k: int) -> np.ndarray:
        stored, stored_sq = self._exact_cache
        rows = max(1, _CHUNK_BYTES // (8 * len(stored)))
        out = []
        for start in range(0, len(queries), rows):
            block = queries[start : start + rows]
            d2 = stored_sq[None, :] - 2 * block @ stored.T  # ||q||^2 is the same along a row
            out.append(np.argpartition(d2, k - 1, axis=1)[:, :k])
        return np.concatenate(out).astype(np.int64)
