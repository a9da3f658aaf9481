"""A face recognition database: enroll people's encodings, identify new faces 1:K, save and load.

Identification compares a query encoding q with every stored encoding e and answers the
person of the nearest one, if it is close enough (:func:`facelib.decision.same_person`):

    k* = argmin_k ||q - e_k||_2,   answer = name(k*) if ||q - e_k*||_2 <= tau else None ("not recognized").

The search is exact below ``exact_below`` stored encodings; above, a FAISS index finds k*
approximately (:mod:`facelib.recognition.ann`, built on the first query after a change, or read back from
the index saved beside the database).

Files are ``.npz`` archives of plain arrays (no pickle, read with ``allow_pickle=False``):
``format_version``, ``names`` (one per person), ``encodings`` (m, d) float32, ``owners`` (m,)
(the person of each encoding) and ``encodings_sha256`` (a checksum of ``encodings``, taken at
save time). Names are stored in Unicode NFC form without surrounding spaces, so ``"José"``
typed either way is one person.

Saving, safe against crashes and other writers:

- the archive is written to a temporary file in the same folder, flushed to disk, then
  renamed over the old file (:func:`facelib.storage.atomic_write`): a reader sees the old
  file or the new one, never half of one;
- writers take an exclusive lock on a separate file, ``people.npz.lock`` (the rename swaps
  the database file itself, so it cannot carry the lock), then re-read the file and apply
  *this* database's changes since it was loaded (an enrol adds, a removal removes), so that
  nothing another writer saved meanwhile is lost or brought back. Temporary files left by a
  killed writer are removed while holding the lock.
- with a FAISS index built, it is saved beside the file (``people.npz.index``: the FAISS
  index serialised to bytes, never pickled, with the checksum of the encodings it was built
  from); :meth:`FaceDatabase.load` uses it only when that checksum equals the database's,
  and otherwise rebuilds the index on the first query, saying so.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facelib.assets import note
from facelib.decision import check_threshold, same_person
from facelib.errors import FacelibError
from facelib.recognition.ann import EXACT_BELOW, NearestIndex, check_vectors
from facelib.storage import atomic_write, remove_stale_temporaries, sha256_arrays
from facelib.validation import check_bool, check_float, check_int

__all__ = ["FORMAT_VERSION", "INDEX_FORMAT_VERSION", "MAX_NAME_LENGTH", "LOCK_TIMEOUT", "DatabaseError",
           "DatabaseNotFoundError", "DatabaseLockedError", "NotEnrolledError", "Match", "FaceDatabase",
           "normalize_name", "lock_path", "index_path"]

FORMAT_VERSION = 1
INDEX_FORMAT_VERSION = 1
MAX_NAME_LENGTH = 100
LOCK_TIMEOUT = 60.0
"""Seconds a save waits for another writer's lock before it gives up (:class:`DatabaseLockedError`)."""
# member -> (dtype kinds, number of axes) of a database file and of its index, checked in the .npy headers
_MEMBERS = {"format_version": ("iu", 0), "names": ("U", 1), "encodings": ("fiu", 2), "owners": ("iu", 1),
            "encodings_sha256": ("U", 0)}
_INDEX_MEMBERS = {"format_version": ("iu", 0), "encodings_sha256": ("U", 0), "exact_below": ("iu", 0),
                  "faiss_index": ("u", 1)}
_KEYS = {"format_version", "names", "encodings", "owners"}
_KIND_WORDS = {"iu": "integers", "U": "text", "fiu": "real numbers", "u": "bytes (uint8)"}
_JOINERS = {"\u200c": "zero-width non-joiner", "\u200d": "zero-width joiner"}
# in "/name/name/.../": an empty name, ".", "..", or a space at either end of a name (other white
# space is not printable, which sends the names to the check one by one)
_UNUSUAL_PARTS = ("//", "/./", "/../", "/ ", " /")


class DatabaseError(FacelibError, ValueError):
    """A database file or an operation on the database is not valid."""


class DatabaseNotFoundError(DatabaseError, FileNotFoundError):
    """There is no database file at the path given."""


class DatabaseLockedError(DatabaseError, TimeoutError):
    """Another process held the writers' lock for longer than the wait allowed."""


class NotEnrolledError(DatabaseError, KeyError):
    """The name is not enrolled in the database."""


@dataclass(frozen=True)
class Match:
    """The answer for one query: a name (None for "not recognized" in :meth:`FaceDatabase.identify`) and the
    distance to the nearest stored encoding."""

    name: str | None
    distance: float


def normalize_name(name) -> str:
    """``name`` in the form it is stored and compared in: Unicode NFC, without surrounding white space.

    A zero-width joiner or non-joiner is kept where Unicode uses it: between two letters (Persian
    "محمد‌رضا") or, for the joiner, inside an emoji sequence; every other control or invisible
    character is refused.

    Raises
    ------
    DatabaseError
        For a name that is not a string, empty, too long, a path, or holds control characters.

    Examples
    --------
    >>> normalize_name(" Jose\\u0301 ") == "Jos\\u00e9"
    True
    """
    if not isinstance(name, str):
        raise DatabaseError(f"name must be a string, got {type(name).__name__}")
    name = unicodedata.normalize("NFC", name).strip()
    if not name:
        raise DatabaseError("name must not be empty or only spaces")
    if len(name) > MAX_NAME_LENGTH:
        raise DatabaseError(f"name is {len(name)} characters long; at most {MAX_NAME_LENGTH} are allowed")
    if "/" in name or "\\" in name or name in (".", ".."):
        raise DatabaseError(f"name {name!r} must not contain path separators ('/' or '\\') or be '.' or '..'")
    if not name.isprintable():
        for i, c in enumerate(name):
            if unicodedata.category(c).startswith("C") and not _joins(name, i):
                what = _JOINERS.get(c, f"U+{ord(c):04X}")
                raise DatabaseError(f"name {name!r} contains control or invisible characters ({what} at position {i});"
                                    " use printable text (a zero-width joiner or non-joiner only between letters, "
                                    "or a joiner inside an emoji sequence)")
    return name


def _joins(name: str, i: int) -> bool:
    """Whether ``name[i]`` is a zero-width (non-)joiner where Unicode uses one: between letters (with their marks),
    or a joiner between two emoji (pictographs, with their modifiers and variation selectors)."""
    if name[i] not in _JOINERS or not 0 < i < len(name) - 1:
        return False
    before, after = unicodedata.category(name[i - 1]), unicodedata.category(name[i + 1])
    letters = before[0] in "LM" and after[0] in "LM"
    emoji = name[i] == "\u200d" and before in ("So", "Sk", "Mn") and after == "So"
    return letters or emoji


def lock_path(path: str | os.PathLike) -> Path:
    """The lock file that serialises writers of the database at ``path``: ``people.npz.lock``."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


def index_path(path: str | os.PathLike) -> Path:
    """Where the FAISS index of the database at ``path`` is saved: ``people.npz.index``."""
    path = Path(path)
    return path.with_name(path.name + ".index")


@contextlib.contextmanager
def _locked(path: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold an exclusive lock on ``people.npz.lock`` (created if needed).

    When another writer holds it, say so once and wait up to ``timeout`` seconds, then give up
    with :class:`DatabaseLockedError`.
    """
    import fcntl

    try:
        handle = open(lock_path(path), "a")  # noqa: SIM115 (closed below, after unlocking)
    except OSError as error:
        raise DatabaseError(f"cannot write the database {path}: {error.strerror or error} in {path.parent}; "
                            "choose a folder you can write to") from error
    with handle:
        deadline, waiting = time.monotonic() + timeout, False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise DatabaseLockedError(
                        f"gave up after {timeout:g} s waiting for another writer of {path} (it holds "
                        f"{lock_path(path)}); nothing was changed: try again once it has finished") from None
                if not waiting:
                    note(f"waiting for another writer of {path} to finish (at most {timeout:g} s)")
                    waiting = True
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
        instead of exact search (:class:`facelib.recognition.ann.NearestIndex`).

    Examples
    --------
    >>> db = FaceDatabase()
    >>> db.enroll("ada", [0.0, 0.0])
    >>> db.enroll("bob", [[1.0, 0.0], [1.0, 0.2]])
    >>> db.identify([[0.5, 0.0], [-4.0, 0.0]], threshold=0.6)
    [Match(name='ada', distance=0.5), Match(name=None, distance=4.0)]
    """

    def __init__(self, dim: int | None = None, exact_below: int = EXACT_BELOW):
        self.dim = None if dim is None else check_int("dim", dim, minimum=1)
        self.exact_below = check_int("exact_below", exact_below, minimum=0)
        self._by_name: dict[str, np.ndarray] | None = {}  # None after load: made on first use (see _people)
        self._order: list[str] | None = []  # names in enrollment order, cached
        self._stack: tuple[np.ndarray, np.ndarray] | None = None  # (encodings, owners), dropped on change
        self._digest: str | None = None  # checksum of the stacked encodings, when known
        self._index: NearestIndex | None = None  # built by identify or read by load, dropped on change
        self._changes: list[tuple[str, str, np.ndarray | None]] = []  # since load or save, replayed by save
        self._source: Path | None = None  # the file this database was loaded from or saved to (links resolved)
        self._index_built = False  # a FAISS index was built by a query since load or save (see save_index)

    def __len__(self) -> int:
        return len(self._names())

    def __contains__(self, name) -> bool:
        try:
            key = normalize_name(name)
        except DatabaseError:
            return False
        return key in self._people if self._by_name is not None else key in set(self._names())

    def __repr__(self) -> str:
        return f"FaceDatabase({len(self)} people, {self.n_encodings} encodings, dim={self.dim})"

    @property
    def names(self) -> list[str]:
        """Enrolled names, in enrollment order."""
        return list(self._names())

    @property
    def n_encodings(self) -> int:
        return len(self._stacked()[1])

    def encodings_of(self, name: str) -> np.ndarray:
        """A copy of the stored encodings of ``name``, shape (k, d)."""
        key = normalize_name(name)
        if key not in self._people:
            raise NotEnrolledError(f"name {key!r} is not enrolled; enrolled: {self.names[:10]}")
        return self._people[key].copy()

    def enroll(self, name: str, encodings) -> None:
        """Add a person with one encoding (d,) or several (k, d), under the name :func:`normalize_name` gives.

        Raises
        ------
        DatabaseError
            For an invalid or already enrolled name, or encodings of the wrong shape or dtype,
            or containing NaN.
        """
        name = normalize_name(name)
        if name in self._people:
            raise DatabaseError(f"{name!r} is already enrolled; call remove({name!r}) first to replace "
                                "their encodings")
        array = _check_encodings(encodings, self.dim)
        self.dim = array.shape[1]
        self._people[name] = array
        self._changed(("enroll", name, array))

    def remove(self, name: str) -> None:
        """Forget a person."""
        key = normalize_name(name)
        if key not in self._people:
            raise NotEnrolledError(f"name {key!r} is not enrolled; enrolled: {self.names[:10]}")
        del self._people[key]
        self._changed(("remove", key, None))

    @property
    def _people(self) -> dict[str, np.ndarray]:
        """Name -> encodings (k, d); after :meth:`load`, views into the stacked encodings, made on first use."""
        if self._by_name is None:
            encodings, owners = self._stack
            bounds = np.searchsorted(owners, np.arange(len(self._order) + 1)).tolist()
            self._by_name = {name: encodings[start:stop]
                             for name, start, stop in zip(self._order, bounds[:-1], bounds[1:], strict=True)}
        return self._by_name

    def _names(self) -> list[str]:
        if self._order is None:
            self._order = list(self._people)
        return self._order

    def _changed(self, change: tuple[str, str, np.ndarray | None]) -> None:
        self._changes.append(change)
        self._stack = self._digest = self._index = self._order = None
        self._index_built = False

    def _stacked(self) -> tuple[np.ndarray, np.ndarray]:
        if self._stack is None:
            if not self._people:
                self._stack = np.zeros((0, self.dim or 0), np.float32), np.zeros(0, np.int64)
            else:
                counts = [len(e) for e in self._people.values()]
                self._stack = (np.concatenate(list(self._people.values())),
                               np.repeat(np.arange(len(counts), dtype=np.int64), counts))
        return self._stack

    def nearest(self, encodings) -> list[Match]:
        """For each query encoding, the enrolled person of the nearest stored encoding and its distance.

        :math:`k^* = \\arg\\min_k \\lVert q - e_k \\rVert_2`, with no threshold: ``name`` is never None
        (:meth:`identify` applies the decision rule to these distances).

        Parameters
        ----------
        encodings : array (d,) or (n, d)
            Query encodings (one or many).

        Returns
        -------
        list of Match
            One per query, in order.

        Raises
        ------
        DatabaseError
            For an empty database, or queries of the wrong shape or dtype, or containing NaN.
        """
        if not len(self):
            raise DatabaseError("the database is empty: enroll at least one person before identifying")
        queries = _check_encodings(encodings, self.dim, "query encodings")
        stored, owners = self._stacked()
        if self._index is None:
            self._index = NearestIndex(exact_below=self.exact_below).fit(stored)
            self._index_built = not self._index.exact
        distances, nearest = self._index.search(queries)
        names = self._names()
        return [Match(names[owners[k]], float(d)) for d, k in zip(distances[:, 0], nearest[:, 0], strict=True)]

    def identify(self, encodings, threshold: float = 0.6) -> list[Match]:
        """For each query encoding, the nearest enrolled person, or None when farther than ``threshold``.

        Parameters
        ----------
        encodings : array (d,) or (n, d)
            Query encodings (one or many).
        threshold : float
            Largest Euclidean distance tau still accepted as the same person, > 0 (0.6 for the
            course's dlib encoder; :func:`facelib.decision.check_threshold`).

        Returns
        -------
        list of Match
            One per query, in order (:meth:`nearest`, with ``name`` None where
            :func:`facelib.decision.same_person` says no).
        """
        threshold = check_threshold(threshold)
        return [m if same_person(m.distance, threshold) else Match(None, m.distance) for m in self.nearest(encodings)]

    @classmethod
    def open(cls, path: str | os.PathLike, dim: int | None = None) -> FaceDatabase:
        """The database saved at ``path``, or an empty one bound to it when there is no file yet.

        Either way :meth:`save` to ``path`` then merges this database's changes into what is on disk.
        """
        path = _resolve(_check_path(path))
        if path.exists():
            return cls.load(path)
        db = cls(dim=dim)
        db._source = path
        return db

    def save(self, path: str | os.PathLike, lock_timeout: float = LOCK_TIMEOUT) -> Path:
        """Write the database to ``path`` (a ``.npz`` file) atomically, under the writers' lock; returns the path.

        A symbolic link is followed once: the lock is taken beside, and the file written at, its
        target, so a database shared through links stays one file. The file keeps its permission
        bits and group (a new one gets those of the umask), as do the lock and index files.

        When this database was loaded from ``path`` (or opened at it, or saved there before), its
        enrolments and removals since then are applied to the file as it is now, so that
        people another process saved meanwhile are kept; otherwise the file is replaced by this
        database. The old file is replaced only once the new one is complete on disk.

        Raises
        ------
        DatabaseError
            If ``path`` does not end in .npz, its folder is missing or not writable (naming the
            database), or another writer enrolled one of this database's new names meanwhile.
        DatabaseLockedError
            When another writer held the lock for more than ``lock_timeout`` seconds (a message
            says that it waits as soon as it starts waiting).
        """
        path = _resolve(_check_path(path))
        lock_timeout = check_float("lock_timeout", lock_timeout, minimum=0.0)
        if not path.parent.is_dir():
            raise DatabaseError(f"the folder of path {path} does not exist; create {path.parent} first")
        with _locked(path, lock_timeout):
            remove_stale_temporaries(path)
            remove_stale_temporaries(index_path(path))
            if self._source is not None and self._source == path and path.exists():
                self._merge_into(FaceDatabase.load(path, use_index=False))
            encodings, owners = self._stacked()
            if self._digest is None:
                self._digest = sha256_arrays(encodings)
            arrays = {"format_version": np.array(FORMAT_VERSION), "names": np.array(self.names, dtype=str),
                      "encodings": encodings, "owners": owners, "encodings_sha256": np.array(self._digest)}
            try:
                with atomic_write(path) as f:
                    np.savez(f, **arrays)
            except OSError as error:
                raise DatabaseError(f"cannot write the database {path}: {error.strerror or error}") from error
            self._save_index(path)
        self._changes, self._source, self._index_built = [], path, False
        return path

    def save_index(self, lock_timeout: float = LOCK_TIMEOUT) -> bool:
        """Keep the FAISS index that a query built, beside the unchanged file this database was loaded from.

        Above ``exact_below`` encodings, a database loaded without a valid saved index builds one on
        its first query; this saves it (``people.npz.index``) so the next load reads it instead.
        Nothing is written when no index was built, when the database changed since it was
        loaded (:meth:`save` keeps the index then), or when the file on disk has changed
        meanwhile. Returns whether the index was written.
        """
        if not self._index_built or self._changes or self._source is None or self._digest is None:
            return False
        with _locked(self._source, check_float("lock_timeout", lock_timeout, minimum=0.0)):
            try:
                on_disk = _read_npz(self._source, "FaceDatabase", {"encodings_sha256": _MEMBERS["encodings_sha256"]})
            except DatabaseError:
                return False
            if str(on_disk.get("encodings_sha256")) != self._digest:
                return False
            self._save_index(self._source)
        self._index_built = False
        return True

    def _merge_into(self, current: FaceDatabase) -> None:
        """Replay this database's changes onto ``current`` (the file as it is now) and take its state."""
        for kind, name, array in self._changes:
            if kind == "remove":
                if name in current._people:
                    current.remove(name)
            elif name in current._people:
                raise DatabaseError(f"{name!r} was enrolled in {self._source} by another writer meanwhile; the "
                                    "file was not changed: load it again to see their encodings")
            else:
                current.enroll(name, array)
        same = not self._changes and self._digest is not None and self._digest == current._digest
        self._by_name, self._order, self.dim = current._by_name, current._order, current.dim
        self._stack, self._digest = current._stack, current._digest
        self._index = self._index if same else None

    def _save_index(self, path: Path) -> None:
        """Save the FAISS index beside the database, when one is built for these encodings; else drop a stale one."""
        target = index_path(path)
        state = None if self._index is None else self._index.faiss_bytes()
        if state is None:
            target.unlink(missing_ok=True)
            return
        arrays = {"format_version": np.array(INDEX_FORMAT_VERSION), "encodings_sha256": np.array(self._digest),
                  "exact_below": np.array(self.exact_below), "faiss_index": state}
        with atomic_write(target) as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike, use_index: bool = True, exact_below: int = EXACT_BELOW) -> FaceDatabase:
        """Read a database written by :meth:`save` (never unpickles anything).

        With ``use_index``, a FAISS index saved beside the file is read too when it was built from
        exactly these encodings (and ``exact_below``); a missing or stale one is rebuilt on the first
        query, with a message.
        """
        path = _resolve(_check_path(path))
        if not path.is_file():
            raise DatabaseNotFoundError(f"no database file at path {path}")
        exact_below = check_int("exact_below", exact_below, minimum=0)
        use_index = check_bool("use_index", use_index)
        arrays = _read_npz(path, "FaceDatabase", _MEMBERS)
        if missing := _KEYS - set(arrays):
            raise DatabaseError(f"{path} is not a FaceDatabase file: missing {sorted(missing)}")
        _check_version(path, arrays["format_version"], FORMAT_VERSION, "database")
        names, encodings, owners = arrays["names"], arrays["encodings"], arrays["owners"]
        if encodings.ndim != 2 or owners.shape != (encodings.shape[0],) or names.ndim != 1:
            raise DatabaseError(f"{path} is damaged: inconsistent shapes {names.shape}, {encodings.shape}, "
                                f"{owners.shape}")
        if not np.issubdtype(owners.dtype, np.integer) or np.any((owners < 0) | (owners >= len(names))):
            raise DatabaseError(f"{path} is damaged: owners must be integers in [0, {len(names)})")
        if encodings.size and not np.isfinite(encodings.sum(dtype=np.float64)):  # NaN and inf survive a sum
            raise DatabaseError(f"{path} is damaged: encodings contain NaN or infinite values")
        keys = _stored_names(path, names.tolist())
        db = cls(dim=encodings.shape[1] or None, exact_below=exact_below)
        encodings = encodings.astype(np.float32, copy=False)
        owners = owners.astype(np.int64, copy=False)
        if np.any(owners[1:] < owners[:-1]):  # save writes them person by person; sort anything else
            order = np.argsort(owners, kind="stable")
            stacked, owners = encodings[order], owners[order]
        else:
            stacked = encodings
        if np.any(np.bincount(owners, minlength=len(keys)) == 0):
            raise DatabaseError(f"{path} is damaged: a person without encodings")
        db._by_name, db._order = None, keys  # per-person views are made on first use, not here
        db._stack, db._source = (stacked, owners), path
        if "encodings_sha256" in arrays and stacked is encodings:
            db._digest = str(arrays["encodings_sha256"])
        if use_index:
            db._index = db._read_index(path)
        return db

    def _read_index(self, path: Path) -> NearestIndex | None:
        """The saved FAISS index, if it was built from these encodings; None (with a message) otherwise."""
        if self.n_encodings < self.exact_below:
            return None
        target = index_path(path)
        why = "missing"
        if target.is_file():
            try:
                arrays = _read_npz(target, "FaceDatabase index", _INDEX_MEMBERS)
                _check_version(target, arrays["format_version"], INDEX_FORMAT_VERSION, "index")
                if self._digest is None or str(arrays["encodings_sha256"]) != self._digest:
                    why = "stale (built from other encodings)"
                elif int(arrays["exact_below"]) != self.exact_below:
                    why = "stale (built with another exact_below)"
                else:
                    return NearestIndex(exact_below=self.exact_below).fit(self._stacked()[0],
                                                                          faiss_bytes=arrays["faiss_index"])
            except (KeyError, ValueError, RuntimeError) as error:  # DatabaseError is a ValueError
                why = f"unreadable ({error})"
        note(f"the saved index {target} is {why}; rebuilding it on the first query (save_index() keeps it; the "
             "command line does so)")
        return None


def _stored_names(path: Path, names: list[str]) -> list[str]:
    """The names of a database file, checked as :func:`normalize_name` would leave them.

    A file written by :meth:`FaceDatabase.save` holds normalised names; checking the names joined
    by "/" (a character no name may hold) takes a few string scans instead of a call per name,
    which matters at a million people. Anything unusual gets the precise check, name by name.
    """
    joined = "/".join(names)
    wrapped = f"/{joined}/"
    usual = (not names or (joined.isprintable() and "\\" not in joined and joined.count("/") == len(names) - 1
                           and unicodedata.is_normalized("NFC", joined) and max(map(len, names)) <= MAX_NAME_LENGTH
                           and not any(part in wrapped for part in _UNUSUAL_PARTS)))
    if not usual:
        try:
            names = [normalize_name(name) for name in names]
        except DatabaseError as error:
            raise DatabaseError(f"{path} is damaged: {error}") from error
    if len(set(names)) != len(names):
        raise DatabaseError(f"{path} is damaged: a name stands twice")
    return names


def _check_path(path) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise DatabaseError(f"path must be a file path ending in .npz, got {type(path).__name__}")
    path = Path(path)
    if path.suffix != ".npz":
        raise DatabaseError(f"path must end in .npz, got {path.name!r}")
    return path


def _resolve(path: Path) -> Path:
    """``path`` with symbolic links followed (once, by every reader and writer), or as given when it cannot be."""
    try:
        return Path(os.path.realpath(path))
    except (OSError, ValueError):
        return path


def _read_npz(path: Path, what: str, members: dict[str, tuple[str, int]]) -> dict[str, np.ndarray]:
    """The ``members`` of an .npz file present in it, each checked from its .npy header before its data is read.

    ``members`` maps a name to its allowed dtype kinds and number of axes. Other members are never
    read; a header whose dtype, rank or size does not fit (text or dates for numbers, a shape
    claiming more bytes than the member holds) calls the file damaged before any allocation.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            infos = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
            for name in members.keys() & infos.keys():
                with archive.open(infos[name]) as f:
                    _check_header(path, name, f, infos[name].file_size, *members[name], what)
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in members if name in infos}
    except PermissionError as error:
        raise DatabaseError(f"cannot read {path}: permission denied; ask its owner to let you read it "
                            "(its permissions, not its content, stop you)") from error
    except ValueError as error:
        if isinstance(error, DatabaseError):
            raise
        raise DatabaseError(f"{path} holds pickled objects or is not a {what} file ({error})") from error
    except (OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile) as error:
        raise DatabaseError(f"{path} is not a readable .npz file, so not a {what} file ({error}); it may be "
                            "truncated or damaged: restore a backup or enroll the people again") from error


def _check_header(path: Path, name: str, f, stored: int, kinds: str, ndim: int, what: str) -> None:
    """Check one member's .npy header (dtype kind, rank, and a size that fits in the member's ``stored`` bytes)."""
    from numpy.lib import format as npy

    try:
        version = npy.read_magic(f)
        read = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
        shape, _, dtype = read(f)
    except (ValueError, OSError, EOFError, SyntaxError) as error:
        raise DatabaseError(f"{path} is damaged: the header of {name} cannot be read ({error})") from error
    if dtype.hasobject:
        raise DatabaseError(f"{path} holds pickled objects in {name} (never unpickled) and is not a {what} file")
    if dtype.kind not in kinds or len(shape) != ndim:
        raise DatabaseError(f"{path} is damaged: {name} must be a {ndim}-axis array of "
                            f"{_KIND_WORDS[kinds]}, got dtype {dtype} and shape {shape}")
    if math.prod(shape) * dtype.itemsize > stored:
        raise DatabaseError(f"{path} is damaged: the header of {name} claims shape {shape} "
                            f"({math.prod(shape) * dtype.itemsize:,} bytes) but the member holds {stored:,} bytes")


def _check_version(path: Path, version: np.ndarray, known: int, what: str) -> None:
    if version.shape != () or not np.issubdtype(version.dtype, np.integer):
        raise DatabaseError(f"{path} is damaged: format_version must be one integer, got {version!r}")
    if int(version) > known:
        raise DatabaseError(f"{path} uses {what} format {int(version)}, but this facelib reads formats up to "
                            f"{known}: upgrade facelib to read it")
