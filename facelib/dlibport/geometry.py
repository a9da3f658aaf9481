"""dlib's image geometry, as its C++ does it: similarity transform, 2:1 pyramid, rectangles, sampling, rounding.

Boxes are dlib rectangles ``(left, top, right, bottom)`` with right and bottom inclusive (a box of
one pixel has left == right). Points are ``(x, y)``.

- :func:`similarity_transform`: least squares rotation, scale and shift between point sets (Umeyama, 1991).
- :func:`pyramid_down` and :func:`rect_down`: one level of dlib's ``pyramid_down<2>`` on an image and on a box.
- :func:`bilinear`: bilinear samples of an image at real coordinates, black outside it.
- :func:`round_half_away`: dlib's ``drectangle -> rectangle`` rounding.
"""

from __future__ import annotations

import numpy as np

from facelib.errors import ArgumentError

__all__ = [
    "PIXEL_SCALE",
    "similarity_transform",
    "pyramid_down",
    "rect_down",
    "rect_area",
    "rotate",
    "bilinear",
    "round_half_away",
]

PIXEL_SCALE = 256.0  # dlib's networks take (pixel - channel mean) / 256, not / 255
_BINOMIAL_5 = np.array([1, 4, 6, 4, 1])  # dlib's pyramid_down<2> filter, [1,4,6,4,1]^2 / 256 in 2-D
# pyramid_down<2> maps a point p of the larger image to p / 2 - (1.25, 0.75) (dlib's point_down)
_DOWN_SHIFT = np.array([1.25, 0.75, 1.25, 0.75])


def _points(points, name: str) -> np.ndarray:
    try:
        array = np.asarray(points, np.float64)
    except (ValueError, TypeError):
        raise ArgumentError(f"{name} must be (x, y) points, shape (n, 2), got {points!r}") from None
    if array.ndim != 2 or array.shape[1] != 2 or len(array) < 2 or not np.all(np.isfinite(array)):
        raise ArgumentError(f"{name} must be at least 2 finite (x, y) points, shape (n, 2), got shape {array.shape}")
    return array


def similarity_transform(src, dst) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares similarity transform (Umeyama, 1991) mapping points ``src`` to ``dst``.

    Finds :math:`c, R, t` minimising :math:`\\sum_i \\lVert dst_i - (c R\\, src_i + t)\\rVert^2`
    with :math:`R` a rotation: with centred points :math:`\\Sigma = \\frac1n \\sum_i
    (d_i - \\bar d)(s_i - \\bar s)^T = U D V^T`, :math:`R = U S V^T` (:math:`S` undoes a
    reflection) and :math:`c = \\mathrm{tr}(DS) / \\sigma_s^2`.

    Returns
    -------
    (A, t) : (2, 2) and (2,) arrays with ``dst ~ src @ A.T + t`` (``A = c R``).

    Examples
    --------
    >>> a, t = similarity_transform([[0, 0], [1, 0], [0, 1]], [[1, 1], [1, 3], [-1, 1]])
    >>> a.round(6).tolist(), t.round(6).tolist()
    ([[0.0, -2.0], [2.0, 0.0]], [1.0, 1.0])
    """
    src, dst = _points(src, "src"), _points(dst, "dst")
    if src.shape != dst.shape:
        raise ArgumentError(f"src and dst must hold the same number of points, got {len(src)} and {len(dst)}")
    mean_src, mean_dst = src.mean(0), dst.mean(0)
    src_c, dst_c = src - mean_src, dst - mean_dst
    variance = (src_c**2).sum(1).mean()
    cov = dst_c.T @ src_c / len(src)
    u, d, vt = np.linalg.svd(cov)
    s = np.ones(2)
    if np.linalg.det(cov) < 0 or (np.linalg.det(cov) == 0 and np.linalg.det(u) * np.linalg.det(vt) < 0):
        s[1] = -1  # d is sorted decreasing: flip the smaller singular direction
    a = (np.sum(d * s) / variance if variance else 1.0) * (u @ np.diag(s) @ vt)
    return a, mean_dst - a @ mean_src


def pyramid_down(image: np.ndarray) -> np.ndarray:
    """One level of dlib's 2:1 pyramid: the 5x5 binomial filter ([1,4,6,4,1]^2 / 256), every 2nd pixel.

    dlib keeps only outputs whose 5x5 window lies inside the image: (rows - 3) // 2 rows.
    """
    img = image.astype(np.int32)
    rows, cols = img.shape[:2]
    out_rows, out_cols = (rows - 3) // 2, (cols - 3) // 2
    k = _BINOMIAL_5
    horizontal = sum(k[j] * img[:, j : j + 2 * out_cols : 2] for j in range(5))
    vertical = sum(k[i] * horizontal[i : i + 2 * out_rows : 2] for i in range(5))
    return (vertical // 256).astype(np.uint8)


def rect_down(box, levels: int = 1) -> np.ndarray:
    """Map boxes ``levels`` levels down dlib's 2:1 pyramid: :math:`p \\mapsto p / 2 - (1.25, 0.75)` per level."""
    box = np.asarray(box, np.float64)
    for _ in range(levels):
        box = box / 2 - _DOWN_SHIFT
    return box


def rect_area(box: np.ndarray) -> float:
    """Pixels in a dlib rectangle (right and bottom inclusive); 0 when it is empty."""
    width, height = box[2] - box[0] + 1, box[3] - box[1] + 1
    return 0.0 if width <= 0 or height <= 0 else float(width * height)


def rotate(center, points, angle: float) -> np.ndarray:
    """``points`` (n, 2) turned by ``angle`` radians about ``center`` (dlib's rotate_point)."""
    c, s = np.cos(angle), np.sin(angle)
    rel = np.asarray(points, np.float64) - center
    return np.stack([c * rel[:, 0] - s * rel[:, 1], s * rel[:, 0] + c * rel[:, 1]], 1) + center


def bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` at (x, y), as uint8; black where a 2x2 neighbourhood leaves the image.

    :math:`v = (1-f_y)[(1-f_x)\\,I_{t,l} + f_x I_{t,l+1}] + f_y[(1-f_x)\\,I_{t+1,l} + f_x I_{t+1,l+1}]`
    with :math:`l = \\lfloor x \\rfloor, f_x = x - l` (and the same for y).
    """
    if image.shape[0] < 2 or image.shape[1] < 2:  # no 2x2 neighbourhood anywhere (a crop outside the photo)
        return np.zeros((*np.shape(x), *image.shape[2:]), np.uint8)
    left, top = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    inside = (left >= 0) & (top >= 0) & (left + 1 < image.shape[1]) & (top + 1 < image.shape[0])
    left, top = np.where(inside, left, 0), np.where(inside, top, 0)
    fx, fy = (x - left)[..., None], (y - top)[..., None]
    img = image.astype(np.float64)
    value = (1 - fy) * ((1 - fx) * img[top, left] + fx * img[top, left + 1]) + fy * (
        (1 - fx) * img[top + 1, left] + fx * img[top + 1, left + 1]
    )
    value = np.where(inside[..., None], value, 0.0)
    return np.clip(value, 0, 255).astype(np.uint8)


def round_half_away(values) -> np.ndarray:
    """dlib's ``drectangle -> rectangle`` rounding: to the nearest integer, halves away from zero.

    Examples
    --------
    >>> round_half_away([-1.5, -0.4, 0.5, 2.5]).tolist()
    [-2.0, -0.0, 1.0, 3.0]
    """
    values = np.asarray(values, dtype=np.float64)
    return np.sign(values) * np.floor(np.abs(values) + 0.5)
