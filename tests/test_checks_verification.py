"""The checkers of notebooks 01, 03 and 04 pass the reference, fail stubs and plausible mistakes."""

from __future__ import annotations

import numpy as np
import pytest

from facelib.course.checks import verification as checks
from facelib.course.checks._core import CheckFailed


def _stub(*args):
    raise NotImplementedError()


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# -- references and mistakes, per graded function ------------------------------------------------
CASES = {
    "false_accept_1k": (
        lambda far, k: 1.0 - (1.0 - np.asarray(far)) ** k,
        [
            lambda far, k: np.asarray(far) * k,                   # first-order approximation
            lambda far, k: (1.0 - np.asarray(far)) ** k,          # probability of NO false accept
            lambda far, k: np.asarray(far) ** k,                  # all K accept
            lambda far, k: np.minimum(np.asarray(far) * k, 1.0),  # clipped approximation
        ],
    ),
    "verify_pair": (
        lambda a, b, tau: (np.linalg.norm(a - b, axis=-1), np.linalg.norm(a - b, axis=-1) <= tau),
        [
            lambda a, b, tau: (np.sum((a - b) ** 2, -1), np.sum((a - b) ** 2, -1) <= tau),     # squared distance
            lambda a, b, tau: (np.linalg.norm(a - b, axis=-1), np.linalg.norm(a - b, axis=-1) < tau),  # strict
            lambda a, b, tau: (np.sqrt(np.sum((a - b) ** 2)), np.sqrt(np.sum((a - b) ** 2)) <= tau),   # all axes
            lambda a, b, tau: (np.abs(a - b).sum(-1), np.abs(a - b).sum(-1) <= tau),           # L1 distance
            lambda a, b, tau: np.linalg.norm(a - b, axis=-1) <= tau,                            # no tuple
        ],
    ),
    "accuracy_at_threshold": (
        lambda d, s, tau: np.mean((d <= tau) == s),
        [
            lambda d, s, tau: np.sum((d <= tau) == s),        # a count, not a fraction
            lambda d, s, tau: np.mean((d >= tau) == s),       # wrong direction
            lambda d, s, tau: np.mean((d < tau) == s),        # strict
            lambda d, s, tau: np.mean((d <= tau) & s),        # only true accepts
        ],
    ),
    "abs_difference_features": (
        lambda a, b: np.abs(a - b),
        [
            lambda a, b: a - b,                               # signed
            lambda a, b: (a - b) ** 2,                        # squared
            lambda a, b: np.abs(a - b).sum(-1),               # summed
            lambda a, b: np.abs(a) - np.abs(b),               # difference of magnitudes
        ],
    ),
    "chi_square_features": (
        lambda a, b, eps: (a - b) ** 2 / (a + b + eps),
        [
            lambda a, b, eps: (a - b) ** 2 / (a + b),              # no epsilon (0/0 -> NaN)
            lambda a, b, eps: (a - b) ** 2 / ((a + b) ** 2 + eps),  # squared denominator
            lambda a, b, eps: np.abs(a - b) / (a + b + eps),        # no square
            lambda a, b, eps: (a - b) ** 2 / (a * b + eps),         # product
            lambda a, b, eps: ((a - b) ** 2 / (a + b + eps)).sum(-1),  # summed
            lambda a, b, eps: (a - b) ** 2 / (a + b + 1e-7),        # ignores the given epsilon
        ],
    ),
    "binary_verification": (
        lambda a, b, w, bias: _sigmoid((w * np.abs(a - b)).sum(-1) + bias),
        [
            lambda a, b, w, bias: (w * np.abs(a - b)).sum(-1) + bias,            # no sigmoid
            lambda a, b, w, bias: _sigmoid((w * (a - b)).sum(-1) + bias),        # signed difference
            lambda a, b, w, bias: _sigmoid((w * np.abs(a - b) + bias).sum(-1)),  # bias added per feature
            lambda a, b, w, bias: _sigmoid(w * np.abs(a - b) + bias),            # not summed
            lambda a, b, w, bias: _sigmoid(np.sum(w) * np.abs(a - b).sum(-1) + bias),  # one shared weight
        ],
    ),
}


def _identify_ref(q, s, names, tau):
    d = np.sqrt(((np.asarray(q)[:, None] - np.asarray(s)[None]) ** 2).sum(-1))
    k = d.argmin(1)
    return [names[j] if d[i, j] <= tau else None for i, j in enumerate(k)]


def _identify_no_threshold(q, s, names, tau):
    d = ((np.asarray(q)[:, None] - np.asarray(s)[None]) ** 2).sum(-1)
    return [names[j] for j in d.argmin(1)]


def _identify_argmax(q, s, names, tau):
    d = np.sqrt(((np.asarray(q)[:, None] - np.asarray(s)[None]) ** 2).sum(-1))
    return [names[j] if d[i, j] <= tau else None for i, j in enumerate(d.argmax(1))]


def _identify_strict(q, s, names, tau):
    d = np.sqrt(((np.asarray(q)[:, None] - np.asarray(s)[None]) ** 2).sum(-1))
    return [names[j] if d[i, j] < tau else None for i, j in enumerate(d.argmin(1))]


def _identify_index(q, s, names, tau):
    d = np.sqrt(((np.asarray(q)[:, None] - np.asarray(s)[None]) ** 2).sum(-1))
    return [j if d[i, j] <= tau else None for i, j in enumerate(d.argmin(1))]


def _identify_squared(q, s, names, tau):
    d = ((np.asarray(q)[:, None] - np.asarray(s)[None]) ** 2).sum(-1)
    return [names[j] if d[i, j] <= tau else None for i, j in enumerate(d.argmin(1))]


CASES["identify"] = (_identify_ref, [_identify_no_threshold, _identify_argmax, _identify_strict, _identify_index,
                                     _identify_squared])

PARAMS = [(name, i) for name, (_, wrongs) in CASES.items() for i in range(len(wrongs))]


def _checker(name):
    return getattr(checks, f"check_{name}")


@pytest.mark.parametrize("name", list(CASES))
def test_reference_passes(name, capsys):
    assert _checker(name)(CASES[name][0]) is None
    assert capsys.readouterr().out.strip().startswith(f"{name}: all ")


@pytest.mark.parametrize("name", list(CASES))
def test_stub_fails_clearly(name):
    with pytest.raises(CheckFailed, match="not implemented yet"):
        _checker(name)(_stub)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(("name", "index"), PARAMS)
def test_plausible_mistake_fails(name, index):
    with pytest.raises(CheckFailed):
        _checker(name)(CASES[name][1][index])


def test_tensorflow_implementations_pass(capsys):
    """Graded cells may use keras.ops: tensors are accepted as answers."""
    from keras import ops

    checks.check_abs_difference_features(lambda a, b: ops.abs(ops.convert_to_tensor(a) - b))
    checks.check_binary_verification(lambda a, b, w, bias: ops.sigmoid(ops.sum(w * ops.abs(a - b), axis=-1) + bias))
    assert "binary_verification: all 3 tests passed." in capsys.readouterr().out
