"""facelib.dlibport.geometry, dlib's image geometry, against direct NumPy formulas."""

from __future__ import annotations

import numpy as np

from facelib.dlibport import geometry
from facelib.dlibport.geometry import similarity_transform


def test_similarity_transform_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    source = rng.normal(size=(5, 2))
    angle, scale = 0.7, 1.8
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    target = source @ (scale * rotation).T + [3.0, -2.0]
    np.testing.assert_allclose(similarity_transform(source, target)[0], scale * rotation, atol=1e-12)
    # a mirrored target: the best proper similarity, never a reflection (determinant > 0)
    mirrored = target * [-1, 1]
    assert np.linalg.det(similarity_transform(source, mirrored)[0]) > 0
    # least squares: a noisy target gives the closed form of Umeyama (1991)
    noisy = target + rng.normal(scale=0.05, size=target.shape)
    s, t = source - source.mean(0), noisy - noisy.mean(0)
    a = np.sum(s * t) / np.sum(s * s)  # for 2-D similarities, cR = [[a, -b], [b, a]]
    b = np.sum(s[:, 0] * t[:, 1] - s[:, 1] * t[:, 0]) / np.sum(s * s)
    np.testing.assert_allclose(similarity_transform(source, noisy)[0], [[a, -b], [b, a]], atol=1e-12)
    a, t = similarity_transform(source, target)
    np.testing.assert_allclose(source @ a.T + t, target, atol=1e-12)


def test_pyramid_down_is_a_binomial_filter_then_every_second_pixel():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (23, 18, 3)).astype(np.uint8)
    k = np.array([1, 4, 6, 4, 1])
    kernel = np.outer(k, k)  # sums to 256
    rows, cols = (23 - 3) // 2, (18 - 3) // 2
    expected = np.zeros((rows, cols, 3), np.int64)
    for r in range(rows):
        for c in range(cols):
            window = image[2 * r : 2 * r + 5, 2 * c : 2 * c + 5].astype(np.int64)
            expected[r, c] = (window * kernel[:, :, None]).sum((0, 1)) // 256
    np.testing.assert_array_equal(geometry.pyramid_down(image), expected)


def test_rect_down_and_area():
    box = np.array([10.0, 20.0, 49.0, 59.0])
    np.testing.assert_allclose(geometry.rect_down(box), box / 2 - [1.25, 0.75, 1.25, 0.75])
    np.testing.assert_allclose(geometry.rect_down(box, 2), geometry.rect_down(geometry.rect_down(box)))
    assert geometry.rect_area(box) == 40 * 40 and geometry.rect_area(np.array([5.0, 5, 4, 9])) == 0.0


def test_bilinear_against_the_formula_and_black_outside():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (6, 7, 3)).astype(np.uint8)
    x, y = np.array([0.0, 2.25, 5.5, 6.5, -0.5]), np.array([0.0, 3.75, 4.0, 1.0, 1.0])
    got = geometry.bilinear(image, x, y)
    img = image.astype(np.float64)
    for i in range(3):  # inside: the weighted sum of the four neighbours
        left, top = int(np.floor(x[i])), int(np.floor(y[i]))
        fx, fy = x[i] - left, y[i] - top
        want = ((1 - fx) * (1 - fy) * img[top, left] + fx * (1 - fy) * img[top, left + 1]
                + (1 - fx) * fy * img[top + 1, left] + fx * fy * img[top + 1, left + 1])
        np.testing.assert_array_equal(got[i], want.astype(np.uint8))
    np.testing.assert_array_equal(got[3:], 0)  # a 2x2 neighbourhood leaving the image is black
