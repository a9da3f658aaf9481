"""Verification: distances, threshold choice, the k-fold protocol, ROC and the binary heads vs NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics

from facelib.recognition import verify


def _brute_force_best_accuracy(d, same):
    return max(np.mean((d <= t) == same) for t in np.concatenate([[-np.inf], d]))


def _toy(seed, m=200):
    rng = np.random.default_rng(seed)
    same = rng.random(m) < 0.5
    d = np.where(same, rng.normal(0.5, 0.2, m), rng.normal(0.9, 0.2, m))
    return np.round(d, 2), same    # rounding creates ties


def _rates_pair_by_pair(d, same, tau):
    """Accuracy, FAR, FRR counted pair by pair, independently of error_rates' vectorised form."""
    right = fa = fr = 0
    for di, si in zip(d, same, strict=True):
        accepted = di <= tau
        right += accepted == si
        fa += accepted and not si
        fr += (not accepted) and si
    return right / len(d), fa / (~same).sum(), fr / same.sum()


@pytest.mark.parametrize("tau", [0.3, 0.6, 0.72, 2.0])
def test_error_rates_match_a_pair_by_pair_count(tau):
    d, same = _toy(5)
    rates = verify.error_rates(d, same, tau)
    np.testing.assert_allclose(rates, _rates_pair_by_pair(d, same, tau))
    assert verify.accuracy(d, same, tau) == rates.accuracy


def test_error_rates_of_one_group_are_nan_and_bad_pairs_are_refused():
    rates = verify.error_rates([0.2, 0.9], [True, True], 0.5)
    assert rates.accuracy == 0.5 and np.isnan(rates.far) and rates.frr == 0.5
    with pytest.raises(ValueError, match="same must have the shape"):
        verify.error_rates([0.2, 0.9], [True], 0.5)


def test_distances_match_numpy():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2, 4, 128))
    np.testing.assert_allclose(verify.distances(x, y), np.linalg.norm(x - y, axis=-1))
    with pytest.raises(ValueError, match="same shape"):
        verify.distances(x, y[:2])


def test_all_pairs():
    i, j, same = verify.all_pairs(np.array([0, 0, 1]))
    assert list(zip(i.tolist(), j.tolist(), same.tolist(), strict=True)) == [(0, 1, True), (0, 2, False),
                                                                             (1, 2, False)]


def test_balanced_pairs():
    labels = np.repeat(np.arange(4), 3)
    i, j, same = verify.balanced_pairs(labels, seed=1)
    assert same.sum() == 4 * 3 and (~same).sum() == 12 and np.all(i < j)
    assert np.array_equal(labels[i] == labels[j], same)
    assert len(set(zip(i.tolist(), j.tolist(), strict=True))) == 24
    with pytest.raises(ValueError, match="both matched and mismatched"):
        verify.balanced_pairs(np.arange(5))


@pytest.mark.parametrize("seed", range(5))
def test_best_threshold_reaches_the_brute_force_best_accuracy(seed):
    d, same = _toy(seed)
    tau = verify.best_threshold(d, same)
    assert verify.accuracy(d, same, tau) == pytest.approx(_brute_force_best_accuracy(d, same))


def test_best_threshold_hand_made():
    d = np.array([0.1, 0.2, 0.4, 0.5])
    assert verify.best_threshold(d, np.array([True, True, False, False])) == pytest.approx(0.3)
    assert verify.best_threshold(d, np.array([False, False, False, False])) < 0.1   # accept nothing
    assert verify.best_threshold(d, np.array([True, True, True, True])) > 0.5       # accept everything


def test_kfold_chooses_threshold_on_the_other_folds():
    d, same = _toy(7, m=300)
    folds = np.repeat(np.arange(10), 30)
    result = verify.kfold_accuracy(d, same, folds)
    for k in range(10):
        train, test = folds != k, folds == k
        tau = verify.best_threshold(d[train], same[train])
        assert result.thresholds[k] == pytest.approx(tau)
        assert result.accuracies[k] == pytest.approx(np.mean((d[test] <= tau) == same[test]))
    assert result.mean == pytest.approx(np.mean(result.accuracies))
    assert result.std == pytest.approx(np.std(result.accuracies))


def test_roc_matches_sklearn_and_tar_at_far():
    d, same = _toy(3)
    r = verify.roc(d, same)
    assert r.auc == pytest.approx(metrics.roc_auc_score(same, -d))
    for far in (0.0, 0.05, 0.2):
        best = max(np.mean(d[same] <= t) for t in np.unique(d) if np.mean(d[~same] <= t) <= far)
        assert r.tar_at_far(far) == pytest.approx(best)


@pytest.mark.parametrize("call, message", [
    (lambda: verify.best_threshold([], []), "non-empty"),
    (lambda: verify.best_threshold([0.1, 0.2], [True]), "shape"),
    (lambda: verify.best_threshold([0.1, np.nan], [True, False]), "NaN"),
    (lambda: verify.best_threshold([0.1, 0.2], [2, 3]), "booleans"),
    (lambda: verify.kfold_accuracy([0.1, 0.2], [True, False], [0, 0]), "at least 2 folds"),
    (lambda: verify.roc([0.1, 0.2], [True, True]), "both matched"),
    (lambda: verify.binary_head(8, "cosine"), "feature"),
    (lambda: verify.binary_head(0), "dim"),
])
def test_bad_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_binary_heads_compute_the_documented_features():
    rng = np.random.default_rng(0)
    f_i, f_j = rng.random((2, 5, 4)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(verify.AbsDifference()([f_i, f_j])), np.abs(f_i - f_j), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(verify.ChiSquare()([f_i, f_j])), (f_i - f_j) ** 2 / (f_i + f_j),
                               rtol=1e-4)
    for feature, phi in [("abs", np.abs(f_i - f_j)), ("chi2", (f_i - f_j) ** 2 / (f_i + f_j + 1e-7))]:
        head = verify.binary_head(4, feature)
        w, b = head.get_layer("same_person").get_weights()
        expected = 1 / (1 + np.exp(-(phi @ w + b)))
        np.testing.assert_allclose(np.asarray(head([f_i, f_j])), expected, rtol=1e-5, atol=1e-6)


def test_false_accept_at_k_matches_the_log_form_and_a_simulation():
    far = np.array([0.0, 1e-5, 1e-3, 0.2, 0.999])
    for k in (0, 1, 10, 1000):
        np.testing.assert_allclose(verify.false_accept_at_k(far, k), -np.expm1(k * np.log1p(-far)), atol=1e-12)
    assert verify.false_accept_at_k(1.0, 3) == 1.0
    rng = np.random.default_rng(0)
    simulated = np.mean((rng.random((20_000, 10)) < 0.05).any(axis=1))
    assert abs(simulated - verify.false_accept_at_k(0.05, 10)) < 0.01
    with pytest.raises(ValueError, match="far"):
        verify.false_accept_at_k(1.5, 10)
    with pytest.raises(ValueError, match="k"):
        verify.false_accept_at_k(0.1, -1)
