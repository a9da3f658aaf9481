"""A face recognition database: enroll people's encodings, identify new faces 1:K, save and load.

Identification compares a query encoding q with every stored encoding e and answers the
person of the nearest one, if it is close enough:

    k* = argmin_k ||q - e_k||_2,   answer = name(k*) if ||q - e_k*||_2 <= tau else None ("not recognized").

The search is exact below ``exact_below`` stored encodings; above, a FAISS index finds k*
approximately (:mod:`facelib.ann`, built on the first query after a change).

Files are ``.npz`` archives of plain arrays (no pickle, read with ``allow_pickle=False``):
``format_version``, ``names`` (one per person), ``encodings`` (m, d) float32 and ``owners``
(m,) (the person of each encoding). Saving is atomic: the archive is written to a temporary
file in the same folder, flushed to disk, then renamed over the old file, so an interrupted
save leaves the previous file intact.
"""

from __future__ import annotations

import os
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facelib.ann import EXACT_BELOW, NearestIndex, check_vectors

FORMAT_VERSION = 1
MAX_NAME_LENGTH = 100
_KEYS = {"format_version", "names", "encodings", "owners"}


class DatabaseError(ValueError):
    """A database file or an operation on the database is not valid."""


@dataclass(frozen=True)
class Match:
    """The answer for one query: a name, or None for "not recognized", and the nearest distance."""

    name: str | None
    distance: float


def _check_name(name) -> str:
    if not isinstance(name, str):
        raise DatabaseError(f"name must be a string, got {type(name).__name__}")
    if not name.strip():
        raise DatabaseError("name must not be empty or only spaces")
    if len(name) > MAX_NAME_LENGTH:
        raise DatabaseError(f"name is {len(name)} characters long; at most {MAX_NAME_LENGTH} are allowed")
    if "/" in name or "\\" in name or name in (".", ".."):
        raise DatabaseError(f"name {name!r} must not contain path separators ('/' or '\\') or be '.' or '..'")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise DatabaseError(f"name {name!r} contains control or invisible characters; use printable text")
    return name


def _check_encodings(encodings, dim: int | None, what: str = "encodings") -> np.ndarray:
    try:
        return check_vectors(encodings, what, dim).astype(np.float32)
    except ValueError as error:
        raise DatabaseError(f"{error}; encode every face with the same encoder") from error


class FaceDatabase:
    """Named people, each with one or more face encodings, searched by Euclidean distance.

    Parameters
    ----------
    dim : int, optional
        Length of the encodings (128 for the course's encoder). Fixed by the first
        enrollment when not given.
    exact_below : int
        Stored-encoding count from which identification uses an approximate FAISS index
        instead of exact search (:class:`facelib.ann.NearestIndex`).

    Examples
    --------
    >>> db = FaceDatabase()
    >>> db.enroll("ada", [0.0, 0.0])
    >>> db.enroll("bob", [[1.0, 0.0], [1.0, 0.2]])
    >>> db.identify([[0.5, 0.0], [-4.0, 0.0]], threshold=0.6)
    [Match(name='ada', distance=0.5), Match(name=None, distance=4.0)]
    """

    def __init__(self, dim: int | None = None, exact_below: int = EXACT_BELOW):
        if dim is not None and (not isinstance(dim, (int, np.integer)) or dim < 1):
            raise DatabaseError(f"dim must be a positive integer or None, got {dim!r}")
        if isinstance(exact_below, bool) or not isinstance(exact_below, (int, np.integer)) or exact_below < 0:
            raise DatabaseError(f"exact_below must be an integer >= 0, got {exact_below!r}")
        self.dim = None if dim is None else int(dim)
        self.exact_below = int(exact_below)
        self._people: dict[str, np.ndarray] = {}
        self._index: tuple[NearestIndex, np.ndarray, list[str]] | None = None  # built by identify, dropped on change

    def __len__(self) -> int:
        return len(self._people)

    def __contains__(self, name) -> bool:
        return name in self._people

    def __repr__(self) -> str:
        return f"FaceDatabase({len(self)} people, {self.n_encodings} encodings, dim={self.dim})"

    @property
    def names(self) -> list[str]:
        """Enrolled names, in enrollment order."""
        return list(self._people)

    @property
    def n_encodings(self) -> int:
        return sum(len(e) for e in self._people.values())

    def encodings_of(self, name: str) -> np.ndarray:
        """A copy of the stored encodings of ``name``, shape (k, d)."""
        if name not in self._people:
            raise KeyError(f"{name!r} is not enrolled; enrolled: {self.names[:10]}")
        return self._people[name].copy()

    def enroll(self, name: str, encodings) -> None:
        """Add a person with one encoding (d,) or several (k, d).

        Raises
        ------
        DatabaseError
            For an invalid or already enrolled name, or encodings of the wrong shape or dtype,
            or containing NaN.
        """
        name = _check_name(name)
        if name in self._people:
            raise DatabaseError(f"{name!r} is already enrolled; call remove({name!r}) first to replace "
                                "their encodings")
        array = _check_encodings(encodings, self.dim)
        self.dim = array.shape[1]
        self._people[name] = array
        self._index = None

    def remove(self, name: str) -> None:
        """Forget a person."""
        if name not in self._people:
            raise KeyError(f"{name!r} is not enrolled; enrolled: {self.names[:10]}")
        del self._people[name]
        self._index = None

    def _stacked(self) -> tuple[np.ndarray, np.ndarray]:
        owners = np.concatenate([np.full(len(e), i) for i, e in enumerate(self._people.values())])
        return np.concatenate(list(self._people.values())), owners

    def identify(self, encodings, threshold: float = 0.6) -> list[Match]:
        """For each query encoding, the nearest enrolled person, or None when farther than ``threshold``.

        Parameters
        ----------
        encodings : array (d,) or (n, d)
            Query encodings (one or many).
        threshold : float
            Largest Euclidean distance tau still accepted as the same person (0.6 for the
            course's dlib encoder).

        Returns
        -------
        list of Match
            One per query, in order.
        """
        if not len(self):
            raise DatabaseError("the database is empty: enroll at least one person before identifying")
        if not np.isfinite(threshold) or threshold < 0:
            raise DatabaseError(f"threshold must be a finite number >= 0, got {threshold!r}")
        queries = _check_encodings(encodings, self.dim, "query encodings")
        if self._index is None:
            stored, owners = self._stacked()
            self._index = NearestIndex(exact_below=self.exact_below).fit(stored), owners, self.names
        index, owners, names = self._index
        distances, nearest = index.search(queries)
        return [Match(names[owners[k]] if d <= threshold else None, float(d))
                for d, k in zip(distances[:, 0], nearest[:, 0], strict=True)]

    def save(self, path: str | os.PathLike) -> Path:
        """Write the database to ``path`` (a ``.npz`` file) atomically; returns the path.

        The old file, if any, is replaced only once the new one is complete on disk.
        """
        path = Path(path)
        if path.suffix != ".npz":
            raise DatabaseError(f"path must end in .npz, got {path.name!r}")
        if not path.parent.is_dir():
            raise DatabaseError(f"folder {path.parent} does not exist; create it first")
        if len(self):
            encodings, owners = self._stacked()
        else:
            encodings, owners = np.zeros((0, self.dim or 0), np.float32), np.zeros(0, np.int64)
        arrays = {"format_version": np.array(FORMAT_VERSION), "names": np.array(self.names, dtype=str),
                  "encodings": encodings, "owners": owners.astype(np.int64)}
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> FaceDatabase:
        """Read a database written by :meth:`save` (never unpickles anything)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no database file at {path}")
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {k: archive[k] for k in archive.files}
        except ValueError as error:
            raise DatabaseError(f"{path} holds pickled objects or is not a FaceDatabase file ({error})") from error
        except (OSError, EOFError, zipfile.BadZipFile) as error:
            raise DatabaseError(f"{path} is not a readable .npz file ({error}); it may be truncated or "
                                "damaged: restore a backup or enroll the people again") from error
        if missing := _KEYS - set(arrays):
            raise DatabaseError(f"{path} is not a FaceDatabase file: missing {sorted(missing)}")
        version = arrays["format_version"]
        if version.shape != () or not np.issubdtype(version.dtype, np.integer):
            raise DatabaseError(f"{path} is damaged: format_version must be one integer, got {version!r}")
        version = int(version)
        if version > FORMAT_VERSION:
            raise DatabaseError(f"{path} uses database format {version}, but this facelib reads formats up to "
                                f"{FORMAT_VERSION}: upgrade facelib to read it")
        names, encodings, owners = arrays["names"], arrays["encodings"], arrays["owners"]
        if encodings.ndim != 2 or owners.shape != (encodings.shape[0],) or names.ndim != 1:
            raise DatabaseError(f"{path} is damaged: inconsistent shapes {names.shape}, {encodings.shape}, "
                                f"{owners.shape}")
        if not np.issubdtype(owners.dtype, np.integer) or np.any((owners < 0) | (owners >= len(names))):
            raise DatabaseError(f"{path} is damaged: owners must be integers in [0, {len(names)})")
        db = cls(dim=encodings.shape[1] or None)
        order = np.argsort(owners, kind="stable")
        bounds = np.searchsorted(owners[order], np.arange(len(names) + 1))
        for i, name in enumerate(names.tolist()):
            db.enroll(name, encodings[order[bounds[i] : bounds[i + 1]]])
        return db
