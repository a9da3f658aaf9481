"""Synthetic data of lesson 08: convolutions beyond images (ECG, CT volumes, video).

Three generators make realistic data the course needs no download for, each seeded:

* :func:`ecg` -- an electrocardiogram-like trace: P, Q, R, S and T waves as Gaussians around
  each beat, beat-to-beat interval variability, baseline wander and sensor noise (1D);
* :func:`shepp_logan_3d` / :func:`phantom_volume` -- the 3D modified Shepp-Logan head phantom,
  a CT-like volume, with optional bright lesions, patient-to-patient jitter and noise (3D);
* :func:`moving_shape_clip` -- a short video of a shape moving across noisy frames (2D + time).

The ``*_dataset`` builders turn them into labelled, balanced training sets. The shape arithmetic
of convolutions lives in :mod:`facelib.convnets.arithmetic`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from facelib.errors import ArgumentError
from facelib.validation import check_float, check_int, check_rng

MOTIONS = ("right", "left", "down", "up")

# Each ECG wave as a Gaussian around the R peak: (name, centre in s, width sigma in s, height in mV).
# The P wave and the QRS complex keep their timing; the T wave follows the beat length
# (Bazett: the QT interval scales with sqrt(RR)).
ECG_WAVES = (
    ("P", -0.20, 0.025, 0.12),
    ("Q", -0.035, 0.010, -0.12),
    ("R", 0.0, 0.010, 1.0),
    ("S", 0.035, 0.010, -0.25),
    ("T", 0.28, 0.050, 0.30),
)

# The modified 3D Shepp-Logan phantom (Toft's contrast, as in Schabel's phantom3d):
# intensity A, semi-axes a, b, c, centre x0, y0, z0, Euler angles phi, theta, psi (degrees, z-x-z).
SHEPP_LOGAN_3D = np.array([
    [1.0, 0.6900, 0.920, 0.810, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [-0.8, 0.6624, 0.874, 0.780, 0.0, -0.0184, 0.0, 0.0, 0.0, 0.0],
    [-0.2, 0.1100, 0.310, 0.220, 0.22, 0.0, 0.0, -18.0, 0.0, 10.0],
    [-0.2, 0.1600, 0.410, 0.280, -0.22, 0.0, 0.0, 18.0, 0.0, 10.0],
    [0.1, 0.2100, 0.250, 0.410, 0.0, 0.35, -0.15, 0.0, 0.0, 0.0],
    [0.1, 0.0460, 0.046, 0.050, 0.0, 0.1, 0.25, 0.0, 0.0, 0.0],
    [0.1, 0.0460, 0.046, 0.050, 0.0, -0.1, 0.25, 0.0, 0.0, 0.0],
    [0.1, 0.0460, 0.023, 0.050, -0.08, -0.605, 0.0, 0.0, 0.0, 0.0],
    [0.1, 0.0230, 0.023, 0.020, 0.0, -0.606, 0.0, 0.0, 0.0, 0.0],
    [0.1, 0.0230, 0.046, 0.020, 0.06, -0.605, 0.0, 0.0, 0.0, 0.0],
])


# --------------------------------------------------------------------------- 1D: ECG

def ecg(duration: float = 10.0, fs: float = 250.0, heart_rate: float = 70.0, rr_std: float = 0.03,
        amplitude: float = 1.0, baseline_wander: float = 0.1, wander_freq: float = 0.25,
        noise: float = 0.02, seed: int | np.random.Generator | None = None) -> np.ndarray:
    """An electrocardiogram-like trace in millivolts, sampled at ``fs`` Hz.

    Beat :math:`k` has its R peak at :math:`t_k = t_{k-1} + RR_k`, with beat intervals
    :math:`RR_k = \\frac{60}{HR}(1 + \\sigma_{RR} z_k)`, :math:`z_k \\sim N(0, 1)` (clipped to
    +-2.5). Each wave (P, Q, R, S, T in :data:`ECG_WAVES`) adds a Gaussian
    :math:`h\\,\\exp(-(t - t_k - c)^2 / 2w^2)` around every beat, the T wave's offset scaled by
    :math:`\\sqrt{RR_k}`. The trace is

    .. math:: x(t) = a \\sum_k \\sum_{waves} h\\,e^{-(t - t_k - c)^2 / 2w^2}
              + b \\sin(2\\pi f_b t + \\varphi) + \\epsilon(t), \\quad \\epsilon \\sim N(0, \\sigma^2).

    Parameters
    ----------
    duration : float
        Length in seconds.
    fs : float
        Sampling rate in Hz; the trace has ``round(duration * fs)`` samples.
    heart_rate : float
        Mean heart rate in beats per minute (20 to 250).
    rr_std : float
        Heart-rate variability: standard deviation of the beat intervals relative to their mean
        (0 = a metronome, 0.02-0.05 = a healthy regular rhythm, 0.15+ = an irregular one).
    amplitude : float
        Scale :math:`a` of the whole PQRST complex (the R peak is ``amplitude`` mV high).
    baseline_wander : float
        Amplitude :math:`b` in mV of a slow sinusoidal drift (breathing, electrode movement).
    wander_freq : float
        Frequency :math:`f_b` of that drift in Hz; its phase :math:`\\varphi` is random.
    noise : float
        Standard deviation :math:`\\sigma` in mV of white Gaussian sensor noise.
    seed : int, numpy Generator or None
        Makes the trace reproducible; the first beat's phase is random too.

    Returns
    -------
    ndarray of float64, shape (round(duration * fs),)

    Examples
    --------
    >>> x = ecg(duration=2.0, fs=100.0, seed=0)
    >>> x.shape
    (200,)
    """
    _check_positive_numbers(duration=duration, fs=fs, amplitude=amplitude)
    if not 20 <= heart_rate <= 250:
        raise ArgumentError(f"heart_rate must be between 20 and 250 beats per minute, got {heart_rate!r}")
    _check_non_negative_numbers(rr_std=rr_std, baseline_wander=baseline_wander, wander_freq=wander_freq, noise=noise)
    rng = check_rng("seed", seed)
    n = int(round(duration * fs))
    if n < 1:
        raise ArgumentError(f"duration * fs must give at least one sample, got {duration} s at {fs} Hz")
    t = np.arange(n) / fs
    beats, rr = _beat_times(duration, 60.0 / heart_rate, rr_std, rng)
    x = np.zeros(n)
    for name, centre, width, height in ECG_WAVES:
        centres = beats + (centre * np.sqrt(rr) if name == "T" else centre)
        x += height * np.exp(-((t[:, None] - centres[None, :]) ** 2) / (2 * width**2)).sum(axis=1)
    x *= amplitude
    x += baseline_wander * np.sin(2 * np.pi * wander_freq * t + rng.uniform(0, 2 * np.pi))
    x += rng.normal(0.0, noise, size=n) if noise > 0 else 0.0
    return x


def _beat_times(duration: float, mean_rr: float, rr_std: float,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """R-peak times covering [-1 s, duration + 1 s] and each beat's interval RR_k (s)."""
    times, intervals = [], []
    t = -1.0 - rng.uniform(0, mean_rr)  # random phase; start early so edge waves are complete
    while t < duration + 1.0:
        rr = mean_rr * (1.0 + rr_std * np.clip(rng.standard_normal(), -2.5, 2.5))
        rr = max(rr, 0.25 * mean_rr)
        t += rr
        times.append(t)
        intervals.append(rr)
    return np.asarray(times), np.asarray(intervals)


def ecg_rhythm_dataset(n: int, duration: float = 4.0, fs: float = 100.0, regular_rr_std: float = 0.03,
                       irregular_rr_std: float = 0.18, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """ECG windows labelled regular (0) or irregular (1) rhythm, balanced and shuffled.

    The two classes differ **only** in beat-interval variability (``rr_std``); every other
    parameter is drawn from the same ranges for both: heart rate 55-100 bpm, amplitude
    0.6-1.4 mV, baseline wander 0-0.3 mV at 0.1-0.5 Hz, noise 0.01-0.08 mV.

    Parameters
    ----------
    n : int
        Number of windows (half of each class, the odd one regular).
    duration, fs : float
        Window length in seconds and sampling rate in Hz.
    regular_rr_std, irregular_rr_std : float
        Relative beat-interval spread of each class (see :func:`ecg`).
    seed : int
        Seed of the whole set.

    Returns
    -------
    X : ndarray of float32, shape (n, round(duration * fs), 1)
    y : ndarray of int64, shape (n,)
    """
    _check_non_negative_numbers(regular_rr_std=regular_rr_std, irregular_rr_std=irregular_rr_std)
    return _balanced_dataset(n, 2, seed, lambda label, rng: ecg(
        duration, fs, heart_rate=rng.uniform(55, 100), rr_std=irregular_rr_std if label else regular_rr_std,
        amplitude=rng.uniform(0.6, 1.4), baseline_wander=rng.uniform(0, 0.3),
        wander_freq=rng.uniform(0.1, 0.5), noise=rng.uniform(0.01, 0.08), seed=rng))


def r_peaks(signal: np.ndarray, fs: float) -> np.ndarray:
    """Sample indices of the R peaks of an ECG trace (a simple detector, no learning).

    The slow baseline is removed by subtracting a 0.2 s moving average (the broad P and T
    waves mostly go with it, the sharp QRS complex stays), and the peaks that exceed half of the
    largest one and lie at least 0.25 s apart are kept.

    Parameters
    ----------
    signal : array of shape (samples,) or (samples, 1)
    fs : float
        Sampling rate in Hz.

    Returns
    -------
    ndarray of int, increasing
    """
    from scipy.signal import find_peaks

    x = np.asarray(signal, dtype=np.float64)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 1 or x.size < 3:
        raise ArgumentError(f"signal must be one trace of shape (samples,) or (samples, 1) with at least 3 "
                            f"samples, got shape {np.shape(signal)}")
    _check_positive_numbers(fs=fs)
    width = max(1, int(round(0.2 * fs)))
    detrended = x - np.convolve(np.pad(x, (width // 2, width - 1 - width // 2), mode="edge"),
                                np.ones(width) / width, mode="valid")
    peaks, _ = find_peaks(detrended, height=0.5 * detrended.max(), distance=max(1, int(0.25 * fs)))
    return peaks


def rr_spread(signal: np.ndarray, fs: float) -> float:
    """Coefficient of variation of the beat intervals, std(RR) / mean(RR), from :func:`r_peaks`.

    Returns ``nan`` when fewer than three R peaks are found (fewer than two intervals).
    """
    rr = np.diff(r_peaks(signal, fs)) / fs
    return float(np.std(rr) / np.mean(rr)) if rr.size >= 2 else float("nan")


# --------------------------------------------------------------------------- 3D: CT volumes

def shepp_logan_3d(size: int = 32, scale: float = 1.0, shift: Sequence[float] = (0.0, 0.0, 0.0),
                   ellipsoids: np.ndarray | None = None) -> np.ndarray:
    """The 3D modified Shepp-Logan head phantom on a ``size``^3 grid over [-1, 1]^3.

    A voxel at :math:`\\mathbf{r}` gets the sum of the intensities :math:`A_j` of the ellipsoids
    that contain it: :math:`\\lVert D_j^{-1} R_j (\\mathbf{r} - \\mathbf{c}_j) \\rVert \\le 1`, with
    semi-axes :math:`D_j = diag(a, b, c)`, centre :math:`\\mathbf{c}_j` and rotation :math:`R_j`
    (z-x-z Euler angles). Values: 0 (air, ventricles), 0.2 (brain), 0.3 (small structures),
    1 (skull).

    Parameters
    ----------
    size : int
        Voxels along each axis (at least 4).
    scale : float
        Size of the head relative to the standard phantom (patient-to-patient variation).
    shift : three floats
        Displacement (x, y, z) of the head, in units of the half field of view.
    ellipsoids : ndarray of shape (m, 10), optional
        Rows (A, a, b, c, x0, y0, z0, phi, theta, psi); default :data:`SHEPP_LOGAN_3D`.

    Returns
    -------
    ndarray of float32, shape (size, size, size)
        Indexed ``[z, y, x]``; ``volume[k]`` is an axial slice with y pointing up (row 0 at the top).
    """
    size = check_int("size", size, minimum=4)
    _check_positive_numbers(scale=scale)
    shift = np.asarray(shift, dtype=np.float64)
    if shift.shape != (3,):
        raise ArgumentError(f"shift must be three numbers (x, y, z), got {shift!r}")
    table = SHEPP_LOGAN_3D if ellipsoids is None else np.asarray(ellipsoids, dtype=np.float64)
    if table.ndim != 2 or table.shape[1] != 10:
        raise ArgumentError(f"ellipsoids must have shape (m, 10), got {table.shape}")
    points = (_grid(size) - shift) / scale
    volume = np.zeros(size**3)
    for intensity, a, b, c, x0, y0, z0, phi, theta, psi in table:
        local = (points - [x0, y0, z0]) @ _euler_zxz(phi, theta, psi).T
        volume[np.sum((local / [a, b, c]) ** 2, axis=1) <= 1.0] += intensity
    return np.round(volume, 9).reshape(size, size, size).astype(np.float32)  # 1 - 0.8 - 0.2 is 0, not -6e-17


def _grid(size: int) -> np.ndarray:
    """(size^3, 3) voxel centres (x, y, z) in [-1, 1], in [z, y, x] order with y decreasing."""
    axis = (np.arange(size) + 0.5) / size * 2 - 1
    z, y, x = np.meshgrid(axis, axis[::-1], axis, indexing="ij")
    return np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)


def _euler_zxz(phi: float, theta: float, psi: float) -> np.ndarray:
    """Rotation matrix of z-x-z Euler angles in degrees (as in the phantom's table)."""
    p, t, s = np.deg2rad([phi, theta, psi])

    def rz(a: float) -> np.ndarray:
        return np.array([[np.cos(a), np.sin(a), 0], [-np.sin(a), np.cos(a), 0], [0, 0, 1]])

    rx = np.array([[1, 0, 0], [0, np.cos(t), np.sin(t)], [0, -np.sin(t), np.cos(t)]])
    return rz(s) @ rx @ rz(p)


def phantom_volume(size: int = 32, n_lesions: int = 0, lesion_contrast: float = 0.3,
                   lesion_radius: tuple[float, float] = (0.08, 0.14), jitter: float = 0.05,
                   noise: float = 0.0, seed: int | np.random.Generator | None = None) -> np.ndarray:
    """A CT-like head volume: the jittered Shepp-Logan phantom, optional lesions, optional noise.

    The head is scaled by ``1 + U(-jitter, jitter)`` and shifted by ``U(-jitter, jitter)`` per
    axis; each lesion is a ball of radius ``U(*lesion_radius)`` (field-of-view units) that adds
    ``lesion_contrast`` to the voxels it covers, centred uniformly inside the brain (the inner
    ellipsoid shrunk by 20 %, so it never touches the skull). White Gaussian noise of standard
    deviation ``noise`` is added last.

    Parameters
    ----------
    size : int
        Voxels along each axis.
    n_lesions : int
        How many lesions to insert (0 for a healthy volume).
    lesion_contrast : float
        Intensity added inside a lesion (brain tissue is 0.2).
    lesion_radius : (float, float)
        Range of lesion radii, as a fraction of the half field of view.
    jitter : float
        Relative head size and position variation between volumes.
    noise : float
        Standard deviation of the noise.
    seed : int, numpy Generator or None
        Makes the volume reproducible.

    Returns
    -------
    ndarray of float32, shape (size, size, size), indexed [z, y, x]
        Without noise, values lie in [0, 1 + n_lesions * lesion_contrast].
    """
    n_lesions = check_int("n_lesions", n_lesions, minimum=0)
    r_min, r_max = lesion_radius
    if not 0 < r_min <= r_max < 0.5:
        raise ArgumentError(f"lesion_radius must be (min, max) with 0 < min <= max < 0.5, got {lesion_radius!r}")
    _check_non_negative_numbers(lesion_contrast=lesion_contrast, jitter=jitter, noise=noise)
    if jitter >= 0.5:
        raise ArgumentError(f"jitter must be below 0.5, got {jitter!r}")
    rng = check_rng("seed", seed)
    scale = 1.0 + rng.uniform(-jitter, jitter)
    shift = rng.uniform(-jitter, jitter, size=3)
    table = SHEPP_LOGAN_3D.copy()
    brain = SHEPP_LOGAN_3D[1]
    for _ in range(n_lesions):
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        where = direction * rng.uniform(0, 1) ** (1 / 3) * 0.8 * brain[1:4] + brain[4:7]  # uniform in ellipsoid
        radius = rng.uniform(r_min, r_max)
        table = np.vstack([table, [lesion_contrast, radius, radius, radius, *where, 0.0, 0.0, 0.0]])
    volume = shepp_logan_3d(size, scale=scale, shift=shift, ellipsoids=table)
    if noise > 0:
        volume = volume + rng.normal(0.0, noise, size=volume.shape).astype(np.float32)
    return volume


def lesion_dataset(n: int, size: int = 32, noise: float = 0.05, lesion_contrast: float = 0.3,
                   lesion_radius: tuple[float, float] = (0.08, 0.14), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """CT-like volumes labelled healthy (0) or with one lesion (1), balanced and shuffled.

    Each volume is :func:`phantom_volume` with its own seed (head jitter, lesion place and size,
    noise); the arguments are passed on to it.

    Returns
    -------
    X : ndarray of float32, shape (n, size, size, size, 1)
    y : ndarray of int64, shape (n,)
    """
    return _balanced_dataset(n, 2, seed, lambda label, rng: phantom_volume(
        size, n_lesions=label, lesion_contrast=lesion_contrast, lesion_radius=lesion_radius, noise=noise, seed=rng))


# --------------------------------------------------------------------------- video: moving shapes

def moving_shape_clip(frames: int = 12, size: int = 32, motion: str = "right", shape: str = "square",
                      radius: float = 4.0, speed: float = 1.5, distractor: bool = True, noise: float = 0.1,
                      seed: int | np.random.Generator | None = None) -> np.ndarray:
    """A short greyscale clip of a bright shape moving in a straight line over noisy frames.

    The shape's centre moves by ``speed`` pixels per frame in direction ``motion``, from a random
    start chosen so that it stays fully inside the frame; an optional still distractor shape
    sits elsewhere. Frame t is :math:`I_t = clip(S(\\mathbf{p}_0 + t\\,v\\,\\mathbf{d}) + D + \\epsilon_t, 0, 1)`.

    Parameters
    ----------
    frames : int
        Number of frames (at least 2).
    size : int
        Frame height and width in pixels.
    motion : {'right', 'left', 'down', 'up'}
        Direction of motion (down = increasing row index).
    shape : {'square', 'disk'}
        Shape of the moving object.
    radius : float
        Half-width of the square or radius of the disk, in pixels.
    speed : float
        Pixels per frame.
    distractor : bool
        Add a still shape of the other kind, of half intensity.
    noise : float
        Standard deviation of the per-pixel Gaussian noise.
    seed : int, numpy Generator or None
        Makes the clip reproducible.

    Returns
    -------
    ndarray of float32, shape (frames, size, size), values in [0, 1]
    """
    frames = check_int("frames", frames, minimum=2)
    size = check_int("size", size, minimum=8)
    if motion not in MOTIONS:
        raise ArgumentError(f"motion must be one of {MOTIONS}, got {motion!r}")
    if shape not in ("square", "disk"):
        raise ArgumentError(f"shape must be 'square' or 'disk', got {shape!r}")
    _check_positive_numbers(radius=radius)
    _check_non_negative_numbers(speed=speed, noise=noise)
    travel = speed * (frames - 1)
    if 2 * radius + travel > size - 3:
        raise ArgumentError(f"a shape of radius {radius} moving {travel:.1f} px does not fit in {size} px frames: "
                            "lower radius, speed or frames, or raise size")
    rng = check_rng("seed", seed)
    step = {"right": (0, 1), "left": (0, -1), "down": (1, 0), "up": (-1, 0)}[motion]
    low, high = radius + 1, size - 2 - radius
    start = np.array([
        rng.uniform(low + max(0, -d) * travel, high - max(0, d) * travel) for d in step])
    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    other = "disk" if shape == "square" else "square"
    still = 0.5 * _draw(other, rng.uniform(low, high, size=2), radius, rows, cols) if distractor else 0.0
    clip = np.stack([
        _draw(shape, start + t * speed * np.array(step), radius, rows, cols) for t in range(frames)])
    clip = np.maximum(clip, still) + rng.normal(0.0, noise, size=clip.shape)
    return np.clip(clip, 0.0, 1.0).astype(np.float32)


def _draw(shape: str, centre: np.ndarray, radius: float, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """A 0/1 image of a square (half-width ``radius``) or disk at ``centre`` (row, col)."""
    dr, dc = rows - centre[0], cols - centre[1]
    if shape == "square":
        return ((np.abs(dr) <= radius) & (np.abs(dc) <= radius)).astype(np.float64)
    return (dr**2 + dc**2 <= radius**2).astype(np.float64)


def motion_dataset(n: int, frames: int = 12, size: int = 32, noise: float = 0.1,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Clips labelled by the direction of motion (index into :data:`MOTIONS`), balanced, shuffled.

    The shape (square or disk), its radius (3-5 px), speed (1-1.5 px/frame), start and the still
    distractor are random and independent of the label: only the motion tells the classes apart.

    Returns
    -------
    X : ndarray of float32, shape (n, frames, size, size, 1)
    y : ndarray of int64, shape (n,)
    """
    return _balanced_dataset(n, len(MOTIONS), seed, lambda label, rng: moving_shape_clip(
        frames, size, MOTIONS[label], shape=("square", "disk")[rng.integers(2)], radius=rng.uniform(3, 5),
        speed=rng.uniform(1.0, 1.5), noise=noise, seed=rng))


def _balanced_dataset(n: int, n_classes: int, seed: int,
                      example: Callable[[int, np.random.Generator], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``n`` examples with labels ``0 .. n_classes - 1`` in equal numbers (shuffled); ``example(label, rng)``
    draws one, all from one generator seeded by ``seed``. Adds the channel axis."""
    n = check_int("n", n, minimum=1)
    rng = check_rng("seed", seed)
    y = rng.permutation(np.arange(n) % n_classes)
    X = np.stack([example(int(label), rng) for label in y])
    return X[..., None].astype(np.float32, copy=False), y.astype(np.int64)


# --------------------------------------------------------------------------- validation

def _check_positive_numbers(**values: float) -> None:
    for name, value in values.items():
        check_float(name, value, minimum=0.0, exclusive_minimum=True)


def _check_non_negative_numbers(**values: float) -> None:
    for name, value in values.items():
        check_float(name, value, minimum=0.0)
