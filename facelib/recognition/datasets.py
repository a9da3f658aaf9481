"""Face data sets: LFW (scikit-learn's folder layout, official pairs and folds) and AT&T (ORL) faces.

LFW is read from :func:`facelib.assets.locate` ``("lfw")``, a folder ``lfw_home/`` holding
``lfw_funneled/<Name>/<Name>_<NNNN>.jpg`` and the official lists ``pairs.txt`` (10 folds of
300 matched + 300 mismatched pairs), ``pairsDevTrain.txt`` and ``pairsDevTest.txt``, the
layout :func:`sklearn.datasets.fetch_lfw_pairs` reads. AT&T faces are ``s1``..``s40`` x
``1.pgm``..``10.pgm``, 92 x 112 greyscale. :func:`~facelib.assets.locate` checks that every file
is there with the right total size; the images are not hashed on each load (``python -m
facelib.assets verify lfw att_faces`` hashes them all).

Splits for learning an encoder are *identity-disjoint*: nobody in the test set was seen in
training, which is what verification of new people needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facelib import assets
from facelib.errors import ArgumentError
from facelib.images import load_image, resize
from facelib.validation import check_rng

_PAIR_FILES = {"10_folds": "pairs.txt", "train": "pairsDevTrain.txt", "test": "pairsDevTest.txt"}


@dataclass(frozen=True)
class Pairs:
    """Verification pairs: image paths ``first[i]``, ``second[i]``, whether ``same[i]`` person, ``fold[i]``."""

    first: np.ndarray
    second: np.ndarray
    same: np.ndarray
    fold: np.ndarray

    def __len__(self) -> int:
        return len(self.same)


@dataclass(frozen=True)
class People:
    """Labelled images: ``items[i]`` (a path or an image) shows person ``names[labels[i]]``."""

    items: np.ndarray
    labels: np.ndarray
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index) -> People:
        """The same people's names, only the items at ``index``."""
        index = np.asarray(index)
        return People(self.items[index], self.labels[index], self.names)


def lfw_image_path(name: str, number: int, root: Path | None = None) -> Path:
    """Path of LFW image ``<name>_<number:04d>.jpg`` (numbers start at 1)."""
    root = assets.locate("lfw") if root is None else Path(root)
    return root / "lfw_funneled" / name / f"{name}_{int(number):04d}.jpg"


def lfw_pairs(subset: str = "10_folds", root: Path | None = None) -> Pairs:
    """The official LFW pairs: ``"10_folds"`` (pairs.txt, 6,000 pairs in folds 0-9), ``"train"`` or ``"test"``.

    In ``pairs.txt`` each fold lists 300 matched lines ``name i j`` then 300 mismatched
    lines ``name1 i name2 j``; the dev lists are one fold of that form.
    """
    if subset not in _PAIR_FILES:
        raise ArgumentError(f"subset must be one of {sorted(_PAIR_FILES)}, got {subset!r}")
    root = assets.locate("lfw") if root is None else Path(root)
    lines = (root / _PAIR_FILES[subset]).read_text().split("\n")
    header = lines[0].split()
    n_folds, per_fold = (int(header[0]), int(header[1])) if len(header) == 2 else (1, int(header[0]))
    rows = [line.split() for line in lines[1:] if line.strip()]
    if len(rows) != 2 * n_folds * per_fold:
        raise assets.AssetCorruptError(f"{_PAIR_FILES[subset]} should list {2 * n_folds * per_fold} pairs after its "
                                       f"header {lines[0]!r}, found {len(rows)}; the file is damaged")
    first, second, same = [], [], []
    for row in rows:
        if len(row) == 3:
            first.append(lfw_image_path(row[0], int(row[1]), root))
            second.append(lfw_image_path(row[0], int(row[2]), root))
        elif len(row) == 4:
            first.append(lfw_image_path(row[0], int(row[1]), root))
            second.append(lfw_image_path(row[2], int(row[3]), root))
        else:
            raise assets.AssetCorruptError(f"{_PAIR_FILES[subset]}: cannot read the line {' '.join(row)!r}")
        same.append(len(row) == 3)
    fold = np.repeat(np.arange(n_folds), 2 * per_fold)
    return Pairs(np.array(first, dtype=object), np.array(second, dtype=object), np.array(same), fold)


def lfw_people(min_images: int = 2, root: Path | None = None) -> People:
    """Image paths of every LFW person with at least ``min_images`` images, names sorted."""
    if min_images < 1:
        raise ArgumentError(f"min_images must be >= 1, got {min_images}")
    root = assets.locate("lfw") if root is None else Path(root)
    paths, labels, names = [], [], []
    for folder in sorted(p for p in (root / "lfw_funneled").iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.jpg"))
        if len(files) >= min_images:
            paths += files
            labels += [len(names)] * len(files)
            names.append(folder.name)
    return People(np.array(paths, dtype=object), np.array(labels), tuple(names))


def load_images(paths, size: tuple[int, int] | None = None, mode: str = "RGB") -> np.ndarray:
    """Read images into one uint8 array (n, H, W, 3) for ``"RGB"`` or (n, H, W) for ``"L"``.

    ``size`` = (height, width) resizes each image (:func:`facelib.images.resize`); without it every
    image must already have the same size.
    """
    images = [load_image(path, mode=mode) if size is None else resize(path, tuple(size), mode=mode) for path in paths]
    if len({im.shape for im in images}) > 1:
        raise ArgumentError("images have different sizes; pass size=(height, width) to resize them")
    return np.stack(images) if images else np.zeros((0, *(size or (0, 0))), np.uint8)


def att_faces(size: tuple[int, int] | None = None, root: Path | None = None) -> People:
    """The AT&T (ORL) faces: 400 greyscale images (n, 112, 92) uint8, 40 people ``s1``..``s40``.

    ``size`` = (height, width) resizes them, e.g. (56, 46) to halve each side.
    """
    root = assets.locate("att_faces") if root is None else Path(root)
    names = tuple(f"s{i}" for i in range(1, 41))
    paths = [root / name / f"{k}.pgm" for name in names for k in range(1, 11)]
    return People(load_images(paths, size=size, mode="L"), np.repeat(np.arange(40), 10), names)


def identity_split(labels, test_people: int | float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) such that no person has images on both sides.

    ``test_people`` is a number of people (int) or a fraction of them (float in (0, 1)).
    """
    labels = np.asarray(labels)
    people = np.unique(labels)
    n_test = round(test_people * people.size) if isinstance(test_people, float) else int(test_people)
    if not 1 <= n_test < people.size:
        raise ArgumentError(f"test_people must leave at least one person on each side of {people.size}, "
                            f"got {test_people!r}")
    test = check_rng("seed", seed).choice(people, size=n_test, replace=False)
    in_test = np.isin(labels, test)
    return np.flatnonzero(~in_test), np.flatnonzero(in_test)
