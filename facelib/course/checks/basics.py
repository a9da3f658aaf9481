"""Checkers for notebook 00 (the warm-up graded function)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from facelib.course.checks._core import call, expect_close, passed


def check_euclidean_distance(fn: Callable) -> None:
    """Check ``fn(x, y)`` = ||x - y||_2 along the last axis, for vectors and batches."""
    rng = np.random.default_rng(0)
    cases = [
        (np.array([0.0, 3.0]), np.array([4.0, 0.0])),                 # 3-4-5 triangle
        (rng.normal(size=(5, 128)), rng.normal(size=(5, 128))),     # a batch of encodings
        (rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 4))),   # any leading axes
    ]
    for i, (x, y) in enumerate(cases, 1):
        expected = np.sqrt(np.sum((x - y) ** 2, axis=-1))
        got = call(fn, x.astype(np.float32), y.astype(np.float32))
        expect_close(got, expected, f"case {i} (shapes {x.shape})",
                     "Sum the squared differences over the last axis only, then take the square root.")
    passed("euclidean_distance", len(cases))
