"""Checkers for notebooks 01, 03 and 04: verification, binary heads, 1:K identification."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from facelib.course.checks._core import CheckFailed, as_numpy, call, expect_close, passed


# -- notebook 01 ----------------------------------------------------------------------------------
def check_false_accept_1k(fn: Callable, hidden: bool = False) -> None:
    """Check ``fn(far, k)`` = 1 - (1 - far)^k, the chance that one of k strangers is accepted.

    ``hidden=True`` runs other rates and gallery sizes.
    """
    cases = [(0.05, 7, "Use 1 - (1 - FAR)^K."), (0.003, 2500, "Use 1 - (1 - FAR)^K, not K * FAR."),
             (0.5, 1, "With K = 1 the rate is FAR itself.")] if hidden else [
        (0.001, 1, "with K = 1 identification is verification: the rate is FAR itself."),
        (0.001, 1000, "Use 1 - (1 - FAR)^K, not the first-order guess K * FAR."),
        (0.01, 500, "K * FAR is above 1 here; a probability cannot be. Use 1 - (1 - FAR)^K."),
        (0.2, 3, "The probability that NONE of K comparisons accepts is (1 - FAR)^K; you want its complement."),
        (0.0, 10_000, "With FAR = 0 nobody is ever accepted by mistake."),
    ]
    for i, (far, k, hint) in enumerate(cases, 1):
        expect_close(call(fn, far, k), 1.0 - (1.0 - far) ** k, f"case {i} (FAR = {far}, K = {k})", hint)
    far, k = (np.array([0.02, 2e-4]), 40) if hidden else (np.array([1e-4, 1e-3, 1e-2]), 100)
    expect_close(call(fn, far, k), 1.0 - (1.0 - far) ** k, f"case {len(cases) + 1} (an array of FARs, K = {k})",
                 "Use NumPy operations so that an array of rates works element by element.")
    passed("false_accept_1k", len(cases) + 1)


def check_verify_pair(fn: Callable) -> None:
    """Check ``fn(f_a, f_b, tau)`` -> (d, same) with d = ||f_a - f_b||_2 (last axis) and same = d <= tau."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(scale=0.1, size=(6, 128)), rng.normal(scale=0.1, size=(6, 128))
    ref_d = np.sqrt(((a - b) ** 2).sum(-1))
    cases = [
        ("a 3-4-5 triangle, tau = 6", np.array([0.0, 0.0]), np.array([3.0, 4.0]), 6.0, 5.0, True,
         "d is the Euclidean distance sqrt(sum_k (a_k - b_k)^2): 5 here, not 25 (squared) or 7 (sum of |.|)."),
        ("the same pair, tau = 4.5", np.array([0.0, 0.0]), np.array([3.0, 4.0]), 4.5, 5.0, False,
         "Compare the plain distance with tau; 5 > 4.5 is 'different people'."),
        ("the same pair, tau = 5 exactly", np.array([0.0, 0.0]), np.array([3.0, 4.0]), 5.0, 5.0, True,
         "The rule is d <= tau: a distance equal to tau counts as the same person."),
        ("a batch of 6 pairs of 128-d encodings, tau = median", a, b, float(np.median(ref_d)), ref_d,
         ref_d <= np.median(ref_d), "Reduce over the last axis only: one distance per pair."),
    ]
    for i, (case, x, y, tau, d_exp, same_exp, hint) in enumerate(cases, 1):
        got = call(fn, x.astype(np.float64), y.astype(np.float64), tau)
        if not isinstance(got, tuple) or len(got) != 2:
            raise CheckFailed(f"case {i}, {case}: return a tuple (d, same), got {type(got).__name__}.")
        expect_close(got[0], d_exp, f"case {i}, {case}: the distance d", hint)
        same = as_numpy(got[1])
        if same.shape != np.shape(same_exp) or not np.array_equal(same.astype(bool), np.asarray(same_exp)):
            raise CheckFailed(f"case {i}, {case}: 'same' should be {np.asarray(same_exp).tolist()}, "
                              f"got {same.astype(bool).tolist()}. {hint}")
    passed("verify_pair", len(cases))


def check_accuracy_at_threshold(fn: Callable) -> None:
    """Check ``fn(distances, same, tau)`` = mean([d_i <= tau] == same_i)."""
    rng = np.random.default_rng(3)
    d = np.round(rng.uniform(0.2, 1.0, size=40), 2)
    same = rng.random(40) < 0.5
    cases = [
        ("4 pairs, tau = 0.5", np.array([0.3, 0.7, 0.5, 0.9]), np.array([True, True, False, False]), 0.5,
         "Predict 'same' when d <= tau, then count the predictions that equal `same` (here 2 of 4)."),
        ("40 pairs, tau = 0.6", d, same, 0.6, "Return the FRACTION right (a mean), not the count."),
        ("40 pairs, tau = 0.35", d, same, 0.35, "Small distances mean the same person: d <= tau, not d >= tau."),
        ("40 pairs, tau equal to one of the distances", d, same, float(d[5]),
         "A distance equal to tau counts as 'same' (d <= tau)."),
    ]
    for i, (case, dist, s, tau, hint) in enumerate(cases, 1):
        expected = np.mean((dist <= tau) == s)
        expect_close(call(fn, dist, s, tau), expected, f"case {i}, {case}", hint)
    passed("accuracy_at_threshold", len(cases))


# -- notebook 03 ----------------------------------------------------------------------------------
def _encoding_pairs(seed: int, positive: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if positive:
        return rng.uniform(0.0, 0.5, size=(5, 16)), rng.uniform(0.0, 0.5, size=(5, 16))
    return rng.normal(scale=0.1, size=(5, 16)), rng.normal(scale=0.1, size=(5, 16))


def check_abs_difference_features(fn: Callable) -> None:
    """Check ``fn(f_i, f_j)`` = |f_i - f_j| element by element (same shape as the inputs)."""
    a, b = _encoding_pairs(5)
    cases = [
        ("two 3-d vectors", np.array([1.0, -2.0, 0.5]), np.array([0.5, 1.0, 0.5]),
         "Take the absolute value of each difference: |1 - 0.5|, |-2 - 1|, |0.5 - 0.5|."),
        ("the same vectors swapped", np.array([0.5, 1.0, 0.5]), np.array([1.0, -2.0, 0.5]),
         "The feature is symmetric: |f_i - f_j| = |f_j - f_i|."),
        ("a batch of 5 pairs of 16-d encodings", a, b,
         "Keep every element (shape (5, 16)): do not sum, square or average them."),
    ]
    for i, (case, x, y, hint) in enumerate(cases, 1):
        expect_close(call(fn, x, y), np.abs(x - y), f"case {i}, {case}", hint)
    passed("abs_difference_features", len(cases))


def check_chi_square_features(fn: Callable) -> None:
    """Check ``fn(f_i, f_j, epsilon)`` = (f_i - f_j)^2 / (f_i + f_j + epsilon) element by element."""
    a, b = _encoding_pairs(6, positive=True)
    cases = [
        ("two 3-d vectors, epsilon = 0", np.array([1.0, 3.0, 0.5]), np.array([3.0, 1.0, 0.5]), 0.0,
         "(1-3)^2/(1+3) = 1: square the difference, divide by the SUM (not its square, not the product)."),
        ("a zero pair, epsilon = 1e-7", np.array([0.0, 2.0]), np.array([0.0, 0.0]), 1e-7,
         "Add epsilon to the denominator so that 0/0 becomes 0, not NaN."),
        ("a batch of 5 pairs of 16-d non-negative encodings, epsilon = 1e-7", a, b, 1e-7,
         "Keep every element (shape (5, 16)); the square is of the difference, not of each encoding."),
        ("the same batch, epsilon = 0.5", a, b, 0.5, "Use the epsilon you are given, added to f_i + f_j."),
    ]
    for i, (case, x, y, eps, hint) in enumerate(cases, 1):
        expect_close(call(fn, x, y, eps), (x - y) ** 2 / (x + y + eps), f"case {i}, {case}", hint)
    passed("chi_square_features", len(cases))


def check_binary_verification(fn: Callable) -> None:
    """Check ``fn(f_i, f_j, w, b)`` = sigmoid(sum_k w_k |f_i,k - f_j,k| + b), one probability per pair."""
    rng = np.random.default_rng(7)
    a, c = _encoding_pairs(8)
    w = rng.normal(size=16)
    cases = [
        ("one pair, w = (1, 1), b = 0", np.array([0.0, 0.0]), np.array([1.0, -2.0]), np.array([1.0, 1.0]), 0.0,
         "sigmoid(|0 - 1| + |0 + 2|) = sigmoid(3): take |f_i - f_j| (not the signed difference)."),
        ("the same pair, w = (-2, 0.5), b = 1", np.array([0.0, 0.0]), np.array([1.0, -2.0]),
         np.array([-2.0, 0.5]), 1.0, "Weight each |difference| by its own w_k, sum over k, then add b once."),
        ("5 pairs of 16-d encodings, random w, b = -0.3", a, c, w, -0.3,
         "Return one probability per pair, shape (5,): sum over the last axis, then apply the sigmoid "
         "1 / (1 + exp(-z))."),
    ]
    for i, (case, x, y, wk, b, hint) in enumerate(cases, 1):
        z = (wk * np.abs(x - y)).sum(-1) + b
        expect_close(call(fn, x, y, wk, b), 1.0 / (1.0 + np.exp(-z)), f"case {i}, {case}", hint)
    passed("binary_verification", len(cases))


# -- notebook 04 ----------------------------------------------------------------------------------
def check_identify(fn: Callable, hidden: bool = False) -> None:
    """Check ``fn(queries, stored, names, tau)``: per query the name of the nearest stored encoding, or None
    when even the nearest is farther than tau. ``hidden=True`` asks for other people."""
    rng = np.random.default_rng(9)
    stored = rng.normal(size=(30, 8))
    names = [f"person_{k:02d}" for k in range(30)]
    asked = [8, 0, 21] if hidden else [3, 17, 29]
    near = stored[asked] + rng.normal(scale=0.05, size=(3, 8))
    far = stored[[4]] + 10.0
    queries = np.concatenate([near, far])
    d = np.sqrt(((queries[:, None] - stored[None]) ** 2).sum(-1))
    cases = [
        ("3 noisy copies of stored people and one stranger, tau = 1", queries, stored, names, 1.0,
         [names[k] for k in asked] + [None],
         "Take the NEAREST stored encoding (argmin of the distances) and answer None when d > tau."),
        ("the same queries, tau = 100 (everyone accepted)", queries, stored, names, 100.0,
         [names[k] for k in d.argmin(1)], "With a huge tau the nearest person is always the answer."),
        ("a query exactly at distance tau = 5 from 'ada'", np.array([[3.0, 4.0]]), np.array([[0.0, 0.0],
         [20.0, 0.0]]), ["ada", "bob"], 5.0, ["ada"], "Accept when d <= tau (equal counts as recognised)."),
        ("two queries between two people, tau = 3", np.array([[1.0, 0.0], [4.0, 0.0]]),
         np.array([[0.0, 0.0], [5.0, 0.0]]), ["ada", "bob"], 3.0, ["ada", "bob"],
         "Return the NAME (names[k]) of the nearest, one answer per query, in order."),
    ]
    for i, (case, q, s, n, tau, expected, hint) in enumerate(cases, 1):
        got = call(fn, q, s, n, tau)
        got = [None if g is None else str(g) for g in list(got)] if got is not None else None
        if got != expected:
            raise CheckFailed(f"case {i}, {case}: expected {expected}, got {got}. {hint}")
    passed("identify", len(cases))
