"""The one decision rule of facelib: two faces are the same person when their distance is at most tau.

It lives alone, without Keras or scikit-learn, so that a database query does not import them;
:mod:`facelib.recognition.verify` (which holds the rest of verification) re-exports it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["same_person"]


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
