"""Presentation attacks: a simulated print-and-photograph re-capture, and a texture signal against it.

A face verifier compares encodings; it cannot tell a live face from a photo of that face held up
to the camera (a *presentation attack*, ISO/IEC 30107). :func:`recapture` simulates the cheapest
attack, printing a photo and photographing the print:

1. print: the paper's tone curve, ``x -> x ** gamma`` on intensities in [0, 1], and a halftone
   screen, a multiplicative pattern
   ``s(u, v) = 1 - depth * (1 + cos(2 pi u / period) cos(2 pi v / period)) / 2``
   in coordinates ``(u, v)`` rotated by ``angle``;
2. photograph: a perspective warp (each corner moved by up to ``tilt`` times the side, the print
   held at an angle), a Gaussian blur of ``blur`` pixels (focus), sensor noise, and JPEG
   compression at ``jpeg_quality``. Resampling the screen through the warp gives moire.

:func:`spectrum_features` is one defence signal: the image's power spectrum summed in rings of
spatial frequency, as fractions of the total (log10). A re-capture loses high frequencies to
blur and gains a peak at the screen's frequency; a classifier on these numbers separates live
photos from their re-captures as far as the simulation resembles real prints.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage import transform

from facelib.errors import ArgumentError
from facelib.validation import check_float, check_int, check_rng

__all__ = ["Recapture", "recapture", "screen", "spectrum_features"]


@dataclass(frozen=True)
class Recapture:
    """Settings of one simulated print-and-photograph (see the module docstring for each step).

    ``Recapture(tilt=0, blur=0, gamma=1, screen_depth=0, noise=0, jpeg_quality=None)`` returns
    the image unchanged.
    """

    tilt: float = 0.06
    blur: float = 0.8
    gamma: float = 1.2
    screen_period: float = 4.0
    screen_angle: float = 45.0
    screen_depth: float = 0.3
    noise: float = 2.0
    jpeg_quality: int | None = 80

    def __post_init__(self) -> None:
        check_float("tilt", self.tilt, minimum=0.0, maximum=0.25)
        check_float("blur", self.blur, minimum=0.0)
        check_float("gamma", self.gamma, minimum=0.0, exclusive_minimum=True)
        check_float("screen_period", self.screen_period, minimum=2.0)
        check_float("screen_angle", self.screen_angle)
        check_float("screen_depth", self.screen_depth, minimum=0.0, maximum=1.0)
        check_float("noise", self.noise, minimum=0.0)
        if self.jpeg_quality is not None:
            check_int("jpeg_quality", self.jpeg_quality, minimum=1, maximum=95)


def screen(shape: tuple[int, int], period: float, angle: float, depth: float) -> np.ndarray:
    """The halftone screen ``1 - depth * (1 + cos(2 pi u / period) cos(2 pi v / period)) / 2``."""
    rows, cols = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    theta = np.deg2rad(angle)
    u = cols * np.cos(theta) + rows * np.sin(theta)
    v = -cols * np.sin(theta) + rows * np.cos(theta)
    return 1.0 - depth * (1.0 + np.cos(2 * np.pi * u / period) * np.cos(2 * np.pi * v / period)) / 2.0


def recapture(image: np.ndarray, settings: Recapture = Recapture(), seed: int = 0) -> np.ndarray:
    """A simulated re-capture of ``image`` (uint8 RGB, shape (H, W, 3)): printed, then photographed.

    The perspective warp and the sensor noise are drawn from ``seed``; everything else is fixed by
    ``settings``. Returns a uint8 RGB image of the same shape.

    Raises
    ------
    ArgumentError
        If ``image`` is not a uint8 array of shape (H, W, 3).
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ArgumentError(f"image must be a uint8 RGB array of shape (H, W, 3), got {image.dtype} "
                            f"{image.shape}.")
    rng = check_rng("seed", seed)
    h, w = image.shape[:2]
    x = (image / 255.0) ** settings.gamma
    if settings.screen_depth:
        x = x * screen((h, w), settings.screen_period, settings.screen_angle, settings.screen_depth)[..., None]
    if settings.tilt:
        corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float64)
        moved = corners + rng.uniform(-1, 1, corners.shape) * settings.tilt * np.array([w, h])
        warp = transform.ProjectiveTransform.from_estimate(corners, moved)
        x = transform.warp(x, warp, mode="edge", order=1)   # warp maps output to input coordinates
    if settings.blur:
        x = ndimage.gaussian_filter(x, sigma=(settings.blur, settings.blur, 0))
    x = x * 255.0
    if settings.noise:
        x = x + rng.normal(0.0, settings.noise, x.shape)
    out = np.clip(np.round(x), 0, 255).astype(np.uint8)
    if settings.jpeg_quality is not None:
        buffer = io.BytesIO()
        Image.fromarray(out).save(buffer, format="JPEG", quality=settings.jpeg_quality)
        out = np.asarray(Image.open(buffer).convert("RGB"))
    return out


def spectrum_features(image: np.ndarray, rings: int = 16) -> np.ndarray:
    """log10 of the fraction of the image's power in each of ``rings`` rings of spatial frequency.

    The grey image (mean of the channels, mean removed) is windowed by a 2-D Hann window; its
    power spectrum ``|F(k)|^2`` is summed over rings of equal width in radial frequency
    ``|k| / k_max`` from 0 to 1 (``k_max`` the Nyquist frequency of the shorter side), each
    divided by the total: ``f_r = log10(sum_{k in ring r} |F(k)|^2 / sum_k |F(k)|^2 + 1e-12)``.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3) or (H, W)
    rings : int
        Number of frequency rings (the feature length).

    Returns
    -------
    ndarray of float64, shape (rings,)
    """
    rings = check_int("rings", rings, minimum=2)
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3:
        image = image.mean(axis=-1)
    if image.ndim != 2 or min(image.shape) < 8:
        raise ArgumentError(f"image must be (H, W) or (H, W, 3) with sides of at least 8 pixels, got "
                            f"{image.shape}.")
    h, w = image.shape
    grey = (image - image.mean()) * np.outer(np.hanning(h), np.hanning(w))
    power = np.abs(np.fft.fft2(grey)) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij")
    radius = np.hypot(fy, fx) / 0.5                       # 1 = Nyquist
    ring = np.minimum((radius * rings).astype(int), rings)  # corners beyond Nyquist go in an extra bin
    sums = np.bincount(ring.ravel(), weights=power.ravel(), minlength=rings + 1)[:rings]
    return np.log10(sums / max(power.sum(), 1e-300) + 1e-12)
