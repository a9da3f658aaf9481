"""The one decision rule of facelib, and the one check of its threshold: same person when d <= tau.

It lives alone, without Keras or scikit-learn, so that a database query does not import them;
:mod:`facelib.recognition.verify` (which holds the rest of verification) re-exports it.
"""

from __future__ import annotations

import numpy as np

from facelib.validation import check_float

__all__ = ["same_person", "check_threshold"]


def check_threshold(threshold, name: str = "threshold", maximum: float | None = None) -> float:
    """The decision threshold tau as a float; the one domain check of every threshold in facelib.

    tau must be a finite real number with :math:`\\tau > 0` (distances are >= 0, so tau = 0 would
    accept only identical encodings, and a negative tau nobody); ``maximum`` adds an upper bound
    (the command line's 2, the largest distance between dlib's unit-length descriptors).

    Raises
    ------
    facelib.errors.ArgumentError
        Naming ``name`` (the caller's word for it), for anything else.

    Examples
    --------
    >>> check_threshold(0.6)
    0.6
    >>> check_threshold(0)
    Traceback (most recent call last):
    ...
    facelib.errors.ArgumentError: threshold must be > 0.0, got 0
    """
    return check_float(name, threshold, minimum=0.0, maximum=maximum, exclusive_minimum=True)


def same_person(distance, threshold: float) -> np.ndarray:
    """The one decision rule of facelib: same person when :math:`d \\le \\tau`.

    Used by :func:`facelib.faces.compare_faces`, :func:`facelib.recognition.verify.accuracy`,
    :meth:`facelib.recognition.database.FaceDatabase.identify`
    and the command line, so a distance equal to the threshold means "same" everywhere.

    Examples
    --------
    >>> same_person([0.5, 0.6, 0.7], 0.6).tolist()
    [True, True, False]
    """
    return np.asarray(distance) <= threshold
