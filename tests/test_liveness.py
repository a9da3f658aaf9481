"""facelib.recognition.liveness: the simulated re-capture and the spectrum features, against NumPy references."""

from __future__ import annotations

import numpy as np
import pytest

from facelib.errors import ArgumentError, FacelibError
from facelib.recognition.liveness import Recapture, recapture, screen, spectrum_features

NOTHING = Recapture(tilt=0.0, blur=0.0, gamma=1.0, screen_depth=0.0, noise=0.0, jpeg_quality=None)


def _photo(seed: int = 0, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (size, size, 3), dtype=np.uint8)


def test_no_degradation_returns_the_image():
    image = _photo()
    np.testing.assert_array_equal(recapture(image, NOTHING), image)


def test_screen_matches_its_formula_pixel_by_pixel():
    period, angle, depth = 5.0, 30.0, 0.4
    got = screen((7, 9), period, angle, depth)
    t = np.deg2rad(angle)
    for row in range(7):
        for col in range(9):
            u, v = col * np.cos(t) + row * np.sin(t), -col * np.sin(t) + row * np.cos(t)
            expected = 1 - depth * (1 + np.cos(2 * np.pi * u / period) * np.cos(2 * np.pi * v / period)) / 2
            assert got[row, col] == pytest.approx(expected, abs=1e-12)


def test_a_printed_grey_card_has_its_power_at_the_screen_frequency():
    grey = np.full((64, 64, 3), 128, dtype=np.uint8)
    printed = recapture(grey, Recapture(tilt=0, blur=0, gamma=1, screen_period=8.0, screen_angle=0.0,
                                        screen_depth=0.5, noise=0, jpeg_quality=None))
    power = np.abs(np.fft.fft2(printed[..., 0] - printed[..., 0].mean())) ** 2
    peak = np.unravel_index(np.argmax(power), power.shape)
    # cos(2 pi x / 8) cos(2 pi y / 8) puts its power at (+-1/8, +-1/8) cycles per pixel: bin 64 / 8 = 8
    assert {abs(np.fft.fftfreq(64)[peak[0]]), abs(np.fft.fftfreq(64)[peak[1]])} == {1 / 8}


def test_blur_moves_power_from_high_to_low_frequencies():
    image = _photo(1)
    sharp = spectrum_features(recapture(image, NOTHING))
    blurred = spectrum_features(recapture(image, Recapture(tilt=0, blur=1.5, gamma=1, screen_depth=0, noise=0,
                                                           jpeg_quality=None)))
    assert blurred[-4:].mean() < sharp[-4:].mean() - 1.0      # at least ten times less power at the top
    assert blurred[1] > sharp[1]


def test_seeds_fix_the_warp_and_the_noise():
    image = _photo(2)
    a, b, c = (recapture(image, Recapture(), seed=s) for s in (3, 3, 4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == image.shape and a.dtype == np.uint8


def _reference_spectrum(grey: np.ndarray, rings: int) -> np.ndarray:
    """The same features with an explicit DFT matrix and a loop over frequencies."""
    h, w = grey.shape
    x = (grey - grey.mean()) * np.outer(np.hanning(h), np.hanning(w))
    dft_h = np.exp(-2j * np.pi * np.outer(np.arange(h), np.arange(h)) / h)
    dft_w = np.exp(-2j * np.pi * np.outer(np.arange(w), np.arange(w)) / w)
    power = np.abs(dft_h @ x @ dft_w.T) ** 2
    sums = np.zeros(rings)
    for p in range(h):
        for q in range(w):
            fy = (p if p < (h + 1) // 2 else p - h) / h
            fx = (q if q < (w + 1) // 2 else q - w) / w
            r = int(np.hypot(fy, fx) / 0.5 * rings)
            if r < rings:
                sums[r] += power[p, q]
    return np.log10(sums / power.sum() + 1e-12)


@pytest.mark.parametrize("shape, rings", [((24, 24), 8), ((20, 30), 5)])
def test_spectrum_features_match_a_direct_dft(shape, rings):
    image = np.random.default_rng(5).uniform(0, 255, (*shape, 3))
    np.testing.assert_allclose(spectrum_features(image, rings), _reference_spectrum(image.mean(-1), rings),
                               atol=1e-9)


@pytest.mark.parametrize("settings", [dict(tilt=0.5), dict(gamma=0.0), dict(screen_depth=1.5), dict(blur=-1.0),
                                      dict(jpeg_quality=0), dict(jpeg_quality=True), dict(screen_period=1.0)])
def test_bad_settings_are_refused_by_name(settings):
    name = next(iter(settings))
    with pytest.raises(ArgumentError, match=name):
        Recapture(**settings)


@pytest.mark.parametrize("image", [np.zeros((8, 8, 3), np.float32), np.zeros((8, 8), np.uint8),
                                   np.zeros((8, 8, 4), np.uint8)])
def test_recapture_refuses_what_is_not_a_uint8_rgb_image(image):
    with pytest.raises(FacelibError, match="image"):
        recapture(image)


def test_spectrum_features_refuse_bad_input():
    with pytest.raises(ArgumentError, match="rings"):
        spectrum_features(_photo(), rings=1)
    with pytest.raises(ArgumentError, match="image"):
        spectrum_features(np.zeros((4, 4)))
