"""facelib.signals: conv shape arithmetic against Keras, and the seeded ECG / CT / video generators."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from facelib.convnets import arithmetic, synthetic

LAYERS = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D, 3: keras.layers.Conv3D}


def _random_cases(count: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        dims = int(rng.integers(1, 4))
        spatial = tuple(int(v) for v in rng.integers(1, 17, size=dims))
        kernel = tuple(int(v) for v in rng.integers(1, 6, size=dims))
        stride = tuple(int(v) for v in rng.integers(1, 4, size=dims))
        yield (*spatial, int(rng.integers(1, 4))), kernel, int(rng.integers(1, 9)), stride, \
            ("valid", "same")[int(rng.integers(2))]


@pytest.mark.parametrize("case", list(_random_cases(120, seed=0)), ids=lambda c: str(c))
def test_conv_output_shape_matches_keras(case):
    shape, kernel, filters, stride, padding = case
    layer = LAYERS[len(shape) - 1](filters, kernel, strides=stride, padding=padding)
    try:
        expected = layer.compute_output_shape((None, *shape))[1:]
    except ValueError:  # Keras refuses a 'valid' kernel larger than the input; so must we
        with pytest.raises(ValueError, match="larger than the input"):
            arithmetic.conv_output_shape(shape, kernel, filters, stride, padding)
        return
    assert arithmetic.conv_output_shape(shape, kernel, filters, stride, padding) == tuple(expected)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_conv_output_shape_matches_a_real_forward_pass(dims, padding, stride):
    shape, kernel = (11,) * dims + (2,), (3,) * dims
    layer = LAYERS[dims](4, kernel, strides=stride, padding=padding)
    out = layer(np.zeros((1, *shape), dtype=np.float32))
    assert arithmetic.conv_output_shape(shape, 3, 4, stride, padding) == tuple(out.shape[1:])


def test_conv_output_shape_lecture_examples():
    assert arithmetic.conv_output_shape((14, 14, 3), 5, 16) == (10, 10, 16)
    assert arithmetic.conv_output_shape((10, 10, 16), 5, 32) == (6, 6, 32)
    assert arithmetic.conv_output_shape((14, 1), 5, 16) == (10, 16)
    assert arithmetic.conv_output_shape((10, 16), 5, 32) == (6, 32)
    assert arithmetic.conv_output_shape((14, 14, 14, 1), 5, 16) == (10, 10, 10, 16)
    assert arithmetic.conv_output_shape((10, 10, 10, 16), 5, 32) == (6, 6, 6, 32)


@pytest.mark.parametrize("kwargs, message", [
    (dict(input_shape=(14,), kernel_size=3, filters=2), "at least one spatial axis"),
    (dict(input_shape=(14, 0, 3), kernel_size=3, filters=2), "input_shape"),
    (dict(input_shape=(14, 14, 3), kernel_size=(3, 3, 3), filters=2), "kernel_size must be one int or 2"),
    (dict(input_shape=(14, 14, 3), kernel_size=3, filters=0), "filters"),
    (dict(input_shape=(14, 14, 3), kernel_size=3, filters=2, stride=0), "stride"),
    (dict(input_shape=(14, 14, 3), kernel_size=3, filters=2, padding="full"), "padding"),
    (dict(input_shape=(4, 3), kernel_size=5, filters=2), "larger than the input"),
    (dict(input_shape=(4.0, 3), kernel_size=2, filters=2), "input_shape"),
])
def test_conv_output_shape_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        arithmetic.conv_output_shape(**kwargs)


# --------------------------------------------------------------------------- ECG

def test_ecg_shape_determinism_and_seed():
    a = synthetic.ecg(duration=3.0, fs=200.0, seed=7)
    assert a.shape == (600,) and a.dtype == np.float64
    np.testing.assert_array_equal(a, synthetic.ecg(duration=3.0, fs=200.0, seed=7))
    assert not np.allclose(a, synthetic.ecg(duration=3.0, fs=200.0, seed=8))


def test_clean_ecg_has_the_beats_and_waves_it_was_given():
    fs, hr = 250.0, 75.0
    x = synthetic.ecg(duration=8.0, fs=fs, heart_rate=hr, rr_std=0.0, baseline_wander=0.0, noise=0.0, seed=0)
    peaks = synthetic.r_peaks(x, fs)
    assert np.allclose(np.diff(peaks) / fs, 60.0 / hr, atol=1.5 / fs)   # a metronome at 75 bpm
    assert len(peaks) in (9, 10, 11)
    assert np.allclose(x[peaks], 1.0, atol=0.05)                        # R peaks of 1 mV
    assert -0.4 < x.min() < -0.15                                       # the S wave dips below 0
    p_wave = peaks[1] - int(0.20 * fs)                                  # P wave 0.2 s before R
    assert 0.08 < x[p_wave] < 0.16


def test_ecg_wander_and_noise_have_the_asked_size():
    kwargs = dict(duration=20.0, fs=100.0, rr_std=0.0, seed=3)
    clean = synthetic.ecg(baseline_wander=0.0, noise=0.0, **kwargs)
    noisy = synthetic.ecg(baseline_wander=0.0, noise=0.05, **kwargs)
    assert np.std(noisy - clean) == pytest.approx(0.05, rel=0.1)
    drift = synthetic.ecg(baseline_wander=0.2, noise=0.0, wander_freq=0.25, **kwargs) - clean
    assert np.max(np.abs(drift)) == pytest.approx(0.2, rel=0.02)
    spectrum = np.abs(np.fft.rfft(drift))
    assert np.fft.rfftfreq(drift.size, 1 / 100.0)[np.argmax(spectrum)] == pytest.approx(0.25, abs=0.06)


def test_rr_std_controls_interval_spread():
    regular = [synthetic.rr_spread(synthetic.ecg(30.0, 100.0, rr_std=0.02, noise=0.0, seed=s), 100.0)
               for s in range(5)]
    irregular = [synthetic.rr_spread(synthetic.ecg(30.0, 100.0, rr_std=0.2, noise=0.0, seed=s), 100.0)
                 for s in range(5)]
    assert np.mean(regular) == pytest.approx(0.02, abs=0.012)
    assert np.mean(irregular) == pytest.approx(0.2, rel=0.35)


def test_rr_spread_needs_three_beats():
    assert np.isnan(synthetic.rr_spread(synthetic.ecg(1.0, 100.0, heart_rate=60, seed=0), 100.0))


def test_ecg_rhythm_dataset_is_balanced_seeded_and_differs_only_in_rhythm():
    X, y = synthetic.ecg_rhythm_dataset(200, duration=4.0, fs=100.0, seed=1)
    assert X.shape == (200, 400, 1) and X.dtype == np.float32 and y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1} and y.sum() == 100
    X2, y2 = synthetic.ecg_rhythm_dataset(200, duration=4.0, fs=100.0, seed=1)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    # same amplitude and noise statistics in both classes; different interval spread
    peak = X.max(axis=(1, 2))
    assert abs(peak[y == 0].mean() - peak[y == 1].mean()) < 0.1
    rough = np.std(np.diff(X[..., 0], n=2, axis=1), axis=1)
    assert abs(rough[y == 0].mean() - rough[y == 1].mean()) < 0.02
    spread = np.array([synthetic.rr_spread(x, 100.0) for x in X])
    assert np.nanmedian(spread[y == 1]) > 3 * np.nanmedian(spread[y == 0])


@pytest.mark.parametrize("kwargs, message", [
    (dict(duration=0.0), "duration"), (dict(fs=-1.0), "fs"), (dict(heart_rate=400), "heart_rate"),
    (dict(rr_std=-0.1), "rr_std"), (dict(noise=float("nan")), "noise"),
])
def test_ecg_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        synthetic.ecg(**kwargs)


def test_r_peaks_rejects_a_batch():
    with pytest.raises(ValueError, match="signal must be one trace"):
        synthetic.r_peaks(np.zeros((3, 100)), 100.0)


# --------------------------------------------------------------------------- CT volumes

def _reference_phantom(size):
    """Independent voxel-by-voxel evaluation of the unrotated ellipsoids, plus the two rotated ones."""
    axis = (np.arange(size) + 0.5) / size * 2 - 1
    volume = np.zeros((size, size, size))
    for k, z in enumerate(axis):
        for j, y in enumerate(axis[::-1]):
            for i, x in enumerate(axis):
                for A, a, b, c, x0, y0, z0, phi, theta, psi in synthetic.SHEPP_LOGAN_3D:
                    p, t, s = np.radians([phi, theta, psi])
                    d = np.array([x - x0, y - y0, z - z0])
                    d = np.array([np.cos(p) * d[0] + np.sin(p) * d[1], -np.sin(p) * d[0] + np.cos(p) * d[1], d[2]])
                    d = np.array([d[0], np.cos(t) * d[1] + np.sin(t) * d[2], -np.sin(t) * d[1] + np.cos(t) * d[2]])
                    d = np.array([np.cos(s) * d[0] + np.sin(s) * d[1], -np.sin(s) * d[0] + np.cos(s) * d[1], d[2]])
                    if (d[0] / a) ** 2 + (d[1] / b) ** 2 + (d[2] / c) ** 2 <= 1:
                        volume[k, j, i] += A
    return volume


def test_shepp_logan_matches_a_voxel_by_voxel_reference():
    np.testing.assert_allclose(synthetic.shepp_logan_3d(12), _reference_phantom(12), atol=1e-6)


def test_shepp_logan_values_and_anatomy():
    v = synthetic.shepp_logan_3d(32)
    assert v.shape == (32, 32, 32) and v.dtype == np.float32
    levels = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 1.0])
    assert np.all(np.min(np.abs(v.reshape(-1, 1) - levels), axis=1) < 1e-6)
    assert v[16, 16, 16] == pytest.approx(0.2)                     # brain in the middle
    assert v[0, 0, 0] == 0.0                                        # air in the corner
    head = synthetic.shepp_logan_3d(32, ellipsoids=synthetic.SHEPP_LOGAN_3D[:1])
    inside = np.mean(head > 0) * 8                                  # head volume in FOV units
    assert inside == pytest.approx(4 / 3 * np.pi * 0.69 * 0.92 * 0.81, rel=0.05)
    assert v[16, 16, 10] == pytest.approx(0.0)                       # a ventricle left of centre (x < 0)


def test_phantom_volume_lesions_noise_and_seed():
    clean = synthetic.phantom_volume(24, n_lesions=0, seed=5)
    sick = synthetic.phantom_volume(24, n_lesions=1, lesion_contrast=0.3, lesion_radius=(0.2, 0.2), seed=5)
    assert clean.shape == sick.shape == (24, 24, 24)
    assert 0.0 <= clean.min() and clean.max() <= 1.0
    added = sick - clean
    assert np.all((np.abs(added) < 1e-6) | (np.abs(added - 0.3) < 1e-6))
    ball = 4 / 3 * np.pi * (0.2 * 12) ** 3                           # radius 0.2 of 12 voxels
    assert np.sum(added > 0.1) == pytest.approx(ball, rel=0.35)     # (the head's scale jitters it)
    lesion = np.argwhere(added > 0.1).mean(axis=0)
    z, y, x = (lesion + 0.5) / 12 - 1
    y = -y                                                          # rows run from y = +1 down
    assert (x / 0.6624) ** 2 + ((y + 0.0184) / 0.874) ** 2 + (z / 0.78) ** 2 < 1   # inside the brain
    np.testing.assert_array_equal(
        sick, synthetic.phantom_volume(24, n_lesions=1, lesion_contrast=0.3, lesion_radius=(0.2, 0.2), seed=5))
    noisy = synthetic.phantom_volume(24, n_lesions=0, noise=0.05, seed=5)
    assert np.std(noisy - clean) == pytest.approx(0.05, rel=0.05)


def test_lesion_dataset():
    X, y = synthetic.lesion_dataset(6, size=16, noise=0.0, seed=0)
    assert X.shape == (6, 16, 16, 16, 1) and X.dtype == np.float32
    assert y.sum() == 3
    assert np.all(X[y == 0].max(axis=(1, 2, 3, 4)) <= 1.0 + 1e-6)
    np.testing.assert_array_equal(X, synthetic.lesion_dataset(6, size=16, noise=0.0, seed=0)[0])


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_lesions=-1), "n_lesions"), (dict(lesion_radius=(0.2, 0.1)), "lesion_radius"),
    (dict(noise=-1.0), "noise"), (dict(jitter=0.7), "jitter"), (dict(size=2), "size"),
])
def test_phantom_volume_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        synthetic.phantom_volume(**kwargs)


# --------------------------------------------------------------------------- video

@pytest.mark.parametrize("motion, axis, sign", [("right", 1, 1), ("left", 1, -1), ("down", 0, 1), ("up", 0, -1)])
def test_moving_shape_moves_the_asked_way(motion, axis, sign):
    clip = synthetic.moving_shape_clip(frames=10, size=32, motion=motion, speed=1.5, distractor=False, noise=0.0,
                                     seed=1)
    assert clip.shape == (10, 32, 32) and clip.dtype == np.float32
    centres = np.array([np.argwhere(frame > 0.5).mean(axis=0) for frame in clip])
    steps = np.diff(centres, axis=0)
    assert np.allclose(steps[:, axis].mean(), sign * 1.5, atol=0.3)
    assert np.allclose(steps[:, 1 - axis].mean(), 0.0, atol=0.3)
    assert np.all(clip[0].sum() == clip[-1].sum())               # fully inside the frame all along


def test_clip_values_and_seed():
    clip = synthetic.moving_shape_clip(seed=4)
    assert 0.0 <= clip.min() and clip.max() <= 1.0
    np.testing.assert_array_equal(clip, synthetic.moving_shape_clip(seed=4))
    assert not np.array_equal(clip, synthetic.moving_shape_clip(seed=5))


def test_motion_dataset_is_balanced():
    X, y = synthetic.motion_dataset(40, frames=8, size=32, seed=0)
    assert X.shape == (40, 8, 32, 32, 1) and X.dtype == np.float32
    assert np.bincount(y).tolist() == [10, 10, 10, 10]
    np.testing.assert_array_equal(X, synthetic.motion_dataset(40, frames=8, size=32, seed=0)[0])


@pytest.mark.parametrize("kwargs, message", [
    (dict(motion="diagonal"), "motion"), (dict(shape="star"), "shape"), (dict(frames=1), "frames"),
    (dict(radius=10.0, speed=3.0), "does not fit"),
])
def test_clip_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        synthetic.moving_shape_clip(**kwargs)


def test_input_jump_is_the_product_of_the_strides_before_the_layer():
    model = keras.Sequential([keras.Input((64, 1)), keras.layers.Conv1D(2, 3, strides=2, name="a"),
                              keras.layers.MaxPooling1D(3, name="b"), keras.layers.Conv1D(2, 3, name="c"),
                              keras.layers.Conv1D(2, 3, dilation_rate=2, name="d")])
    assert [arithmetic.input_jump(model, name) for name in "abcd"] == [1, 2, 6, 6]   # by hand: 1, 2, 2 x 3, 6 x 1
    with pytest.raises(ValueError, match="layer_name 'e'"):
        arithmetic.input_jump(model, "e")
