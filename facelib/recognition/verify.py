"""Face verification: is this the same person? Distances, thresholds, the LFW protocol, ROC.

Two encodings are declared "same person" when their Euclidean distance is at most a threshold
tau: same(i, j) = [d(x_i, x_j) <= tau], d = ||f(x_i) - f(x_j)||_2. tau is chosen on labelled
pairs to maximise accuracy. The LFW protocol (10 official folds of 300 matched + 300
mismatched pairs) chooses tau on 9 folds and measures accuracy on the tenth, ten times.
ROC curves and AUC come from :mod:`sklearn.metrics` with the score -d.

The binary heads learn the decision instead of a threshold (DeepFace, Taigman et al. 2014):
y_hat = sigmoid(sum_k w_k |f(x_i)_k - f(x_j)_k| + b), or with the chi-square feature
(f(x_i)_k - f(x_j)_k)^2 / (f(x_i)_k + f(x_j)_k).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import keras
import numpy as np
from keras import ops
from sklearn import metrics

from facelib.decision import same_person
from facelib.errors import ArgumentError
from facelib.validation import check_choice, check_float, check_int, check_rng

__all__ = ["same_person", "false_accept_at_k", "distances", "all_pairs", "balanced_pairs", "ErrorRates", "error_rates",
           "accuracy",
           "best_threshold", "KFoldResult", "kfold_accuracy", "ROC", "roc", "AbsDifference", "ChiSquare", "binary_head"]


def _check_pairs(distances, same) -> tuple[np.ndarray, np.ndarray]:
    distances = np.asarray(distances, dtype=np.float64)
    same = np.asarray(same)
    if distances.ndim != 1 or distances.size == 0:
        raise ArgumentError(f"distances must be a non-empty 1-D array, got shape {distances.shape}")
    if same.shape != distances.shape:
        raise ArgumentError(f"same must have the shape of distances {distances.shape}, got {same.shape}")
    if same.dtype != bool and not np.isin(same, (0, 1)).all():
        raise ArgumentError("same must hold booleans (or 0/1): True where the pair is one person")
    if not np.all(np.isfinite(distances)):
        raise ArgumentError("distances contain NaN or infinite values")
    return distances, same.astype(bool)


def false_accept_at_k(far, k: int) -> np.ndarray:
    """Chance that a stranger is accepted by at least one of k independent comparisons: 1 - (1 - far)^k.

    Examples
    --------
    >>> round(float(false_accept_at_k(1e-3, 1000)), 4)
    0.6323
    """
    far = np.asarray(far, dtype=np.float64)
    if np.any((far < 0) | (far > 1)) or not np.all(np.isfinite(far)):
        raise ArgumentError(f"far must lie in [0, 1], got {far!r}")
    return 1.0 - (1.0 - far) ** check_int("k", k, minimum=0)


def distances(x, y) -> np.ndarray:
    """Euclidean distance d = ||x - y||_2 along the last axis (NumPy, float64)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ArgumentError(f"x and y must have the same shape, got {x.shape} and {y.shape}")
    return np.sqrt(np.sum((x - y) ** 2, axis=-1))


def all_pairs(labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair i < j of a labelled set: indices ``i``, ``j`` and ``same = labels[i] == labels[j]``."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size < 2:
        raise ArgumentError(f"labels must be a 1-D array of at least 2 items, got shape {labels.shape}")
    i, j = np.triu_indices(labels.size, k=1)
    return i, j, labels[i] == labels[j]


def balanced_pairs(labels, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every matched pair i < j of a labelled set plus as many mismatched pairs drawn at random.

    Like LFW's folds (half matched, half mismatched), so that accuracy is not dominated by
    the far more numerous mismatched pairs. Returns ``i``, ``j``, ``same``.
    """
    i, j, same = all_pairs(labels)
    if not same.any() or same.all():
        raise ArgumentError("labels must give both matched and mismatched pairs (two people, one with 2+ items)")
    rng = check_rng("seed", seed)
    other = rng.choice(np.flatnonzero(~same), size=min(same.sum(), (~same).sum()), replace=False)
    keep = np.concatenate([np.flatnonzero(same), np.sort(other)])
    return i[keep], j[keep], same[keep]


class ErrorRates(NamedTuple):
    """Accuracy, false accept rate and false reject rate of the rule same = [d <= threshold]."""

    accuracy: float
    far: float
    frr: float


def error_rates(distances, same, threshold: float) -> ErrorRates:
    """Accuracy, FAR and FRR of the decision same = [d <= threshold] on labelled pairs.

    accuracy = mean([d_i <= tau] == y_i); FAR = mean over pairs of two people (y_i false) of
    [d_i <= tau]; FRR = mean over pairs of one person (y_i true) of [d_i > tau]. A rate over an
    empty group is NaN.

    Examples
    --------
    >>> error_rates([0.3, 0.7, 0.5, 0.9], [True, True, False, False], 0.6)
    ErrorRates(accuracy=0.5, far=0.5, frr=0.5)
    """
    distances, same = _check_pairs(distances, same)
    accept = same_person(distances, check_float("threshold", threshold))
    far = float(np.mean(accept[~same])) if (~same).any() else float("nan")
    frr = float(np.mean(~accept[same])) if same.any() else float("nan")
    return ErrorRates(float(np.mean(accept == same)), far, frr)


def accuracy(distances, same, threshold: float) -> float:
    """Fraction of pairs classified right by same = [d <= threshold] (:func:`error_rates`' accuracy)."""
    return error_rates(distances, same, threshold).accuracy


def best_threshold(distances, same) -> float:
    """The threshold tau maximising the accuracy of [d <= tau] on these pairs.

    Candidates are the midpoints between consecutive sorted distances (plus one below the
    smallest and one above the largest); ties go to the smallest such tau.
    """
    distances, same = _check_pairs(distances, same)
    order = np.argsort(distances, kind="stable")
    d, s = distances[order], same[order]
    # accepting the first k pairs (k = 0..n): right = same among them + different among the rest
    right = np.concatenate([[0], np.cumsum(s)]) + np.concatenate([[(~s).sum()], (~s).sum() - np.cumsum(~s)])
    cuts = np.concatenate([[d[0] - 1.0], (d[:-1] + d[1:]) / 2.0, [d[-1] + 1.0]])
    valid = np.concatenate([[True], d[:-1] < d[1:], [True]])   # a cut between equal distances is impossible
    return float(cuts[np.argmax(np.where(valid, right, -1))])


@dataclass(frozen=True)
class KFoldResult:
    """Accuracy per held-out fold, with the threshold chosen on the other folds."""

    accuracies: np.ndarray
    thresholds: np.ndarray

    @property
    def mean(self) -> float:
        return float(np.mean(self.accuracies))

    @property
    def std(self) -> float:
        return float(np.std(self.accuracies))


def kfold_accuracy(distances, same, folds) -> KFoldResult:
    """LFW protocol: for each fold, choose tau on all other folds, measure accuracy on this one.

    Parameters
    ----------
    distances : (m,) array
        Distance of each pair.
    same : (m,) bool array
        True where the pair shows one person.
    folds : (m,) int array
        Fold of each pair (LFW: 10 folds from ``pairs.txt``, see
        :func:`facelib.recognition.datasets.lfw_pairs`). At least two folds.
    """
    distances, same = _check_pairs(distances, same)
    folds = np.asarray(folds)
    if folds.shape != distances.shape:
        raise ArgumentError(f"folds must have the shape of distances {distances.shape}, got {folds.shape}")
    ids = np.unique(folds)
    if ids.size < 2:
        raise ArgumentError(f"folds must name at least 2 folds, got {ids.size}")
    accs, taus = [], []
    for k in ids:
        test = folds == k
        tau = best_threshold(distances[~test], same[~test])
        taus.append(tau)
        accs.append(accuracy(distances[test], same[test], tau))
    return KFoldResult(np.array(accs), np.array(taus))


@dataclass(frozen=True)
class ROC:
    """ROC of the rule [d <= tau]: false and true accept rates per threshold, AUC, TAR at FAR."""

    far: np.ndarray
    tar: np.ndarray
    thresholds: np.ndarray
    auc: float

    def tar_at_far(self, far: float) -> float:
        """Highest true accept rate whose false accept rate is at most ``far``."""
        far = check_float("far", far, minimum=0.0, maximum=1.0)
        return float(np.max(self.tar[self.far <= far]))


def roc(distances, same) -> ROC:
    """ROC curve and AUC of verification by distance (:func:`sklearn.metrics.roc_curve` on -d)."""
    distances, same = _check_pairs(distances, same)
    if same.all() or not same.any():
        raise ArgumentError("same must hold both matched (True) and mismatched (False) pairs for an ROC")
    far, tar, thr = metrics.roc_curve(same, -distances)
    return ROC(far=far, tar=tar, thresholds=-thr, auc=float(metrics.roc_auc_score(same, -distances)))


@keras.saving.register_keras_serializable(package="facelib")
class AbsDifference(keras.layers.Layer):
    """|f(x_i) - f(x_j)|, element by element (the DeepFace / course head's feature)."""

    def call(self, inputs):
        f_i, f_j = inputs
        return ops.abs(f_i - f_j)


@keras.saving.register_keras_serializable(package="facelib")
class ChiSquare(keras.layers.Layer):
    """(f(x_i) - f(x_j))^2 / (f(x_i) + f(x_j) + eps), element by element (for non-negative encodings)."""

    def __init__(self, epsilon: float = 1e-7, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, inputs):
        f_i, f_j = inputs
        return ops.square(f_i - f_j) / (f_i + f_j + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def binary_head(dim: int, feature: str = "abs") -> keras.Model:
    """A logistic head y_hat = sigmoid(sum_k w_k phi(f_i, f_j)_k + b) on two encodings of size ``dim``.

    ``feature`` is ``"abs"`` (|f_i - f_j|) or ``"chi2"`` ((f_i - f_j)^2 / (f_i + f_j)).
    """
    layers = {"abs": AbsDifference, "chi2": ChiSquare}
    feature = check_choice("feature", feature, layers)
    dim = check_int("dim", dim, minimum=1)
    f_i, f_j = keras.Input((dim,), name="f_i"), keras.Input((dim,), name="f_j")
    phi = layers[feature](name=feature)([f_i, f_j])
    y = keras.layers.Dense(1, activation="sigmoid", name="same_person")(phi)
    return keras.Model([f_i, f_j], y, name=f"binary_head_{feature}")
