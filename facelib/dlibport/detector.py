"""dlib's MMOD CNN face detector (``mmod_human_face_detector.dat``) run as a Keras model.

The detector (King, 2015: *Max-Margin Object Detection*) is a small fully convolutional
network that scores every position of an image for "a face fills this 80x80 window".
Faces of other sizes are found by running it on an image pyramid. Detection has four
steps, each done here the way dlib does it, so that the boxes match dlib's:

1. **Upsampling** (optional): the image is enlarged ``upsample`` times by dlib's
   ``pyramid_up`` (bilinear, about 2x per step) so that faces smaller than 80 px are found.
2. **Tiled pyramid**: the image, normalised as :math:`(x - \\mu_c) / 256` per channel, and
   its downscaled copies (each :math:`5/6` of the previous, dlib's ``pyramid_down<6>``) are
   packed side by side into one large image with 10 px gaps, so the network runs once.
3. **Network**: three 5x5 stride-2 convolutions (16, 32, 32 filters), three 5x5
   convolutions (45 filters), each followed by a per-channel affine map (batch
   normalisation folded in) and ReLU, then one 9x9 convolution giving the score map
   :math:`s(r, c)`. Output position :math:`(r, c)` looks at tiled-image point
   :math:`(8c + 14, 8r + 14)`.
4. **Boxes**: every position with :math:`s > \\text{threshold}` becomes the 80x80 window
   around its point, mapped back through its pyramid level to image coordinates; windows
   are sorted by score and greedily kept unless they overlap a kept one, where ``a`` and
   ``b`` overlap when :math:`|a \\cap b| / |\\mathrm{hull}(a, b)| > 0.338` (dlib's
   ``test_box_overlap``; :math:`\\mathrm{hull}` is the smallest box holding both).

Boxes are ``(left, top, right, bottom)`` in pixels with right and bottom inclusive, as
dlib's ``rectangle``; they are whole numbers because dlib rounds them.

Image sizes and memory
----------------------
Memory and time grow with the pixels the pyramid is built on (the tiled pyramid holds about
3.6 times the image's pixels as float32). Resampling works on bands of rows and the network
on overlapping horizontal strips, which gives the same scores as one pass (the strips
overlap by the network's receptive field), so peak memory stays under 2 GB for every size
:func:`detect` accepts:

=================================================  ===============================================
image (``H x W`` pixels)                           what :func:`detect` does
=================================================  ===============================================
upsampled once, at most ``MAX_UPSAMPLED_PIXELS``   exactly dlib (same boxes): ``upsample`` times
(``2^24``, 4096x4096; so up to about 2048x2048)    :math:`2\\times`, refused when that would exceed
                                                   ``MAX_UPSAMPLED_PIXELS``
larger, up to ``WORK_PIXELS`` (``2^22``)           exactly dlib without upsampling
larger, up to ``MAX_PIXELS`` (100 MP)              searched on a bilinear copy of ``WORK_PIXELS``
                                                   pixels, boxes scaled back; ``upsample`` over 1
                                                   refused (faces of about 70 px in the copy are
                                                   found: 120 px in a 12 MP photo)
over ``MAX_PIXELS``                                refused (:class:`~facelib.images.ImageTooLargeError`)
=================================================  ===============================================

References
----------
D. E. King, "Max-Margin Object Detection", arXiv:1502.00046, 2015.
dlib's ``loss_mmod_``, ``input_rgb_image_pyramid`` and ``cnn_face_detection_model_v1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import keras
import numpy as np
from PIL import Image

from facelib import assets
from facelib.dlibport import datfile
from facelib.dlibport.geometry import PIXEL_SCALE, rect_down, round_half_away
from facelib.images import ImageTooLargeError, load_image
from facelib.validation import check_float, check_int

__all__ = ["MAX_PIXELS", "MAX_UPSAMPLED_PIXELS", "MODEL_FILE", "WORK_PIXELS", "FaceDetector", "build_model",
           "detect"]

MODEL_FILE = "mmod_human_face_detector.dat"
_PYRAMID_RATE = 5.0 / 6.0  # dlib's pyramid_down<6>: each level is (6-1)/6 of the last
_MIN_LEVEL_HEIGHT = 5  # dlib stops the tiled pyramid below 5 rows
MAX_PIXELS = 100_000_000  # larger images are refused
MAX_UPSAMPLED_PIXELS = 1 << 24  # 4096x4096: the most pixels the pyramid is built on
MAX_UPSAMPLE = 12  # 12 doublings make even a 1x1 image larger than MAX_UPSAMPLED_PIXELS
WORK_PIXELS = MAX_UPSAMPLED_PIXELS // 4  # 2048x2048: larger photos are searched on a copy this size
_BAND_PIXELS = 1 << 20  # resampling works on bands of rows of about this many output pixels
_STRIP_PIXELS = 1 << 22  # the network runs on strips of at most about this many tiled-image pixels


# -- the network ------------------------------------------------------------------------------
def build_model(net: datfile.DlibNet) -> keras.Model:
    """The MMOD network as a Keras model, with dlib's weights.

    Each dlib ``con`` is a :class:`keras.layers.Conv2D`; the ``bn_con``/``affine`` layer
    after it is folded into its weights, :math:`W' = \\gamma W`, :math:`b' = \\gamma b +
    \\beta` (per output channel), and a following ``relu`` becomes its activation.

    Parameters
    ----------
    net : datfile.DlibNet
        The detector read by :func:`facelib.dlibport.datfile.read_dnn`.

    Returns
    -------
    keras.Model
        Input (batch, rows, cols, 3) normalised image, output (batch, rows', cols', 1)
        score map.
    """
    convs: list[dict] = []
    for layer in net.layers:
        if layer.type == "con":
            p = layer.params
            convs.append({
                "filters": layer.weights["filters"].astype(np.float64),
                "biases": layer.weights["biases"].astype(np.float64),
                "stride": (p["stride_y"], p["stride_x"]),
                "padding": (p["padding_y"], p["padding_x"]),
                "relu": False,
            })
        elif layer.type in ("affine", "bn_con") and convs and not convs[-1]["relu"]:
            affine = datfile.bn_to_affine(layer) if layer.type == "bn_con" else layer
            gamma = affine.weights["gamma"].astype(np.float64)
            convs[-1]["filters"] *= gamma[:, None, None, None]
            convs[-1]["biases"] = convs[-1]["biases"] * gamma + affine.weights["beta"]
        elif layer.type == "relu" and convs:
            convs[-1]["relu"] = True
        else:
            raise datfile.DlibFormatError(
                f"{net.path}: layer {layer.type!r} is not part of dlib's MMOD detector network "
                "(expected con, bn_con/affine and relu layers); is this the right file?"
            )
    inputs = keras.Input((None, None, 3), name="tiled_pyramid")
    x = inputs
    for i, conv in enumerate(convs):
        kernel = conv["filters"].transpose(2, 3, 1, 0).astype(np.float32)  # (F,C,h,w) -> (h,w,C,F)
        rows, cols = kernel.shape[:2]
        same = conv["stride"] == (1, 1) and conv["padding"] == (rows // 2, cols // 2)
        if not same and conv["padding"] != (0, 0):
            x = keras.layers.ZeroPadding2D(conv["padding"], name=f"pad{i}")(x)
        layer = keras.layers.Conv2D(
            kernel.shape[-1], (rows, cols), strides=conv["stride"], padding="same" if same else "valid",
            activation="relu" if conv["relu"] else None, name=f"conv{i}",
        )
        x = layer(x)
        layer.set_weights([kernel, conv["biases"].astype(np.float32)])
    return keras.Model(inputs, x, name="mmod_face_detector")


@dataclass(frozen=True)
class _Field:
    """Where output position ``i`` of the network looks in the tiled image, per axis (both are equal).

    Output ``i`` depends on input positions ``stride * i + lo`` to ``stride * i + hi`` only, and is
    placed at their centre, ``stride * i + centre`` (dlib's ``map_output_to_input``).
    """

    stride: int
    lo: int
    hi: int

    @property
    def centre(self) -> int:
        return self.lo + (self.hi - self.lo) // 2


def _field(net: datfile.DlibNet) -> _Field:
    """The network's :class:`_Field`, from its convolutions' windows, strides and paddings.

    From the input (``r = 1, j = 1, a = 0``) each convolution with window ``k``, stride ``s`` and
    ``p`` padding pixels updates ``a -= p j``, ``r += (k - 1) j``, ``j *= s``; then ``lo = a``,
    ``hi = a + r - 1`` and the stride is ``j``. dlib centres each position at ``p_in = p_out s - p +
    k // 2`` per layer, which is ``lo + (hi - lo) / 2`` for the odd windows required here.
    """
    r, j, a = 1, 1, 0
    for layer in net.layers:
        if layer.type == "con":
            p = layer.params
            if p["stride_y"] != p["stride_x"] or p["padding_y"] != p["padding_x"] or p["nr"] != p["nc"] \
                    or p["nc"] % 2 == 0:
                raise datfile.DlibFormatError(f"{net.path}: only square convolution windows of odd size are supported")
            a, r, j = a - p["padding_x"] * j, r + (p["nc"] - 1) * j, j * p["stride_x"]
    return _Field(stride=j, lo=a, hi=a + r - 1)


# -- images: dlib's pyramid_up and tiled pyramid ------------------------------------------------
def _pyramid_up(image: np.ndarray) -> np.ndarray:
    """dlib's ``pyramid_up`` with ``pyramid_down<2>``: bilinear upsampling to (2H+1, 2W+2).

    dlib maps the image rectangle up with :math:`p \\mapsto 2(p + (1.25, 0.75))` and
    resizes into it (corners aligned). Like dlib's SSE code, columns are interpolated in
    float32 four at a time and truncated; the last few columns use float64. Output rows are
    made in bands of about ``_BAND_PIXELS`` pixels, so the float copies stay small.
    """
    h, w = image.shape[:2]
    out_h, out_w = 2 * h + 1, 2 * w + 2
    x_scale = (w - 1) / max(out_w - 1, 1)
    y_scale = (h - 1) / max(out_h - 1, 1)
    y = np.cumsum(np.r_[-y_scale, np.full(out_h, y_scale)])[1:]  # dlib accumulates y += scale
    top = np.floor(y).astype(np.int64)
    bottom = np.minimum(top + 1, h - 1)
    tb = y - top

    # SIMD part: four float32 lanes start at x0 + j*scale and advance by 4*scale.
    lanes0 = np.array([-4 * x_scale + j * x_scale for j in range(4)], dtype=np.float32)
    steps = out_w // 4 + 2
    lane_x = np.cumsum(np.vstack([lanes0, np.full((steps, 4), np.float32(4 * x_scale))]),
                       axis=0, dtype=np.float32)[1:]  # (steps, 4): x of column 4k + j
    left_simd = lane_x.astype(np.int32)  # truncation, as _mm_cvttps_epi32
    stop = int(np.argmax(left_simd[:, 3] + 1 >= w)) if np.any(left_simd[:, 3] + 1 >= w) else steps
    simd_cols = min(4 * stop, out_w)
    x_f = lane_x.reshape(-1)[:simd_cols]
    left_f = left_simd.reshape(-1)[:simd_cols]
    lr_f = (x_f - left_f.astype(np.float32)).astype(np.float32)
    lr, ilr = lr_f[None, :, None], (np.float32(1) - lr_f)[None, :, None]
    right_f = left_f + 1
    # the remaining columns, in float64: x = -scale + c*scale, then += scale
    n = out_w - simd_cols
    x = np.cumsum(np.r_[-x_scale + simd_cols * x_scale, np.full(n, x_scale)])[1:]
    left = np.floor(x).astype(np.int64)
    right = np.minimum(left + 1, w - 1)
    lr64 = (x - left)[None, :, None]
    out = np.empty((out_h, out_w, 3), dtype=np.uint8)
    for a, b in _bands(out_h, out_w):
        t, bt = top[a:b], bottom[a:b]
        if simd_cols:
            tbf = tb[a:b].astype(np.float32)[:, None, None]
            itbf = (1 - tb[a:b]).astype(np.float32)[:, None, None]
            upper, lower = image[t].astype(np.float32), image[bt].astype(np.float32)
            acc = (itbf * ilr) * upper[:, left_f] + (itbf * lr) * upper[:, right_f]
            acc += (tbf * ilr) * lower[:, left_f]
            acc += (tbf * lr) * lower[:, right_f]
            out[a:b, :simd_cols] = acc.astype(np.int32).astype(np.uint8)
        if n:
            tbd = tb[a:b, None, None]
            img_t, img_b = image[t].astype(np.float64), image[bt].astype(np.float64)
            upper = (1 - lr64) * img_t[:, left] + lr64 * img_t[:, right]
            lower = (1 - lr64) * img_b[:, left] + lr64 * img_b[:, right]
            out[a:b, simd_cols:] = np.trunc((1 - tbd) * upper + tbd * lower).astype(np.uint8)
    return out


def _bands(rows: int, cols: int) -> list[tuple[int, int]]:
    """Row ranges [a, b) of about ``_BAND_PIXELS`` pixels each that cover ``rows`` rows."""
    step = max(1, _BAND_PIXELS // max(cols, 1))
    return [(a, min(a + step, rows)) for a in range(0, rows, step)]


def _upsampled_pixels(rows: int, cols: int, upsample: int) -> int:
    """Pixels of a rows x cols image after ``upsample`` steps of :func:`_pyramid_up`."""
    for _ in range(upsample):
        rows, cols = 2 * rows + 1, 2 * cols + 2
    return rows * cols


def _pyramid_rects(rows: int, cols: int, padding: int, outer: int) -> tuple[list[tuple], int, int]:
    """Where dlib's tiled pyramid puts each level: rects (left, top, right, bottom), size.

    Levels shrink by :math:`\\lfloor 5/6 \\cdot n \\rfloor` until fewer than 5 rows remain.
    The full-size image and the next levels are stacked downwards until the small ones can
    double back; those are stacked upwards along the right edge, and any level that would
    overlap the full-size image is dropped (dlib's compute_tiled_image_pyramid_details).
    """
    if rows * cols == 0:
        return [], 0, 0
    sizes = [(cols, rows)]
    while True:
        rows, cols = math.floor(_PYRAMID_RATE * rows), math.floor(_PYRAMID_RATE * cols)
        if rows * cols == 0 or rows < _MIN_LEVEL_HEIGHT:
            break
        sizes.append((cols, rows))
    width0, height0 = sizes[0]
    total_height = sum(h + padding for _, h in sizes) - 2 * padding
    height, prev_width = 0, 0
    for w, h in sizes:
        if w <= width0 - prev_width - padding and (height - height0) * 2 >= total_height - height0:
            break
        height += h + padding
        prev_width = w
    height -= padding
    out_rows, out_cols = height + 2 * outer, width0 + 2 * outer
    rects: list[tuple] = []
    y = outer
    while y < height + outer and len(rects) < len(sizes):
        w, h = sizes[len(rects)]
        rects.append((outer, y, outer + w - 1, y + h - 1))
        y += h + padding
    y -= padding
    first = rects[0]
    while len(rects) < len(sizes):
        w, h = sizes[len(rects)]
        right, bottom = outer + width0 - 1, y - 1
        rect = (right - (w - 1), bottom - (h - 1), right, bottom)
        if not (rect[0] > first[2] or rect[2] < first[0] or rect[1] > first[3] or rect[3] < first[1]):
            break  # would overlap the full-size image
        rects.append(rect)
        y -= h + padding
    return rects, out_rows, out_cols


def _resize_bilinear(src: np.ndarray, out: np.ndarray) -> np.ndarray:
    """dlib's float ``resize_image`` of ``src`` into ``out``: corner-aligned bilinear, in float64.

    Per output pixel, :math:`(1-t)\\,[(1-l)\\,a + l\\,b] + t\\,[(1-l)\\,c + l\\,d]` over the
    four nearest source pixels; the horizontal blends are shared by the output rows of a band.
    """
    h, w = src.shape[:2]
    rows, cols, channels = out.shape
    ys, xs = (h - 1) / max(rows - 1, 1), (w - 1) / max(cols - 1, 1)
    y = np.cumsum(np.r_[-ys, np.full(rows, ys)])[1:]  # dlib accumulates y += scale
    x = np.cumsum(np.r_[-xs, np.full(cols, xs)])[1:]
    top, left = np.floor(y).astype(np.int64), np.floor(x).astype(np.int64)
    bottom, right = np.minimum(top + 1, h - 1), np.minimum(left + 1, w - 1)
    lr = np.repeat(x - left, channels)
    lanes = np.arange(channels)
    left_idx, right_idx = (left[:, None] * channels + lanes).ravel(), (right[:, None] * channels + lanes).ravel()
    for a, b in _bands(rows, cols):
        lo, hi = top[a], bottom[b - 1] + 1
        flat = src[lo:hi].astype(np.float64).reshape(hi - lo, w * channels)  # gathers along one axis are fastest
        across = (1 - lr) * np.take(flat, left_idx, axis=1) + lr * np.take(flat, right_idx, axis=1)  # (rows, cols*C)
        tb = (y[a:b] - top[a:b])[:, None]
        blend = (1 - tb) * across[top[a:b] - lo] + tb * across[bottom[a:b] - lo]
        out[a:b] = blend.astype(np.float32).reshape(b - a, cols, channels)
    return out


def _tiled_pyramid(image: np.ndarray, avg: np.ndarray, padding: int, outer: int):
    """The normalised image and its pyramid levels in one float32 array, and the level rects."""
    rects, out_rows, out_cols = _pyramid_rects(image.shape[0], image.shape[1], padding, outer)
    tiled = np.zeros((out_rows, out_cols, 3), dtype=np.float32)
    if not rects:
        return tiled, rects
    l0, t0, r0, b0 = rects[0]
    level = tiled[t0:b0 + 1, l0:r0 + 1]
    level[...] = image  # (x - mu) / 256 in float32, in place
    level -= avg
    level /= np.float32(PIXEL_SCALE)
    for (pl, pt, pr, pb), (l, t, r, b) in zip(rects[:-1], rects[1:], strict=True):
        _resize_bilinear(tiled[pt:pb + 1, pl:pr + 1], tiled[t:b + 1, l:r + 1])
    return tiled, rects


# -- boxes -------------------------------------------------------------------------------------
def _nearest_level(rects: np.ndarray, points: np.ndarray) -> np.ndarray:
    """For each point, the first rect containing it, else the nearest (dlib's nearest_rect)."""
    px, py = points[:, None, 0], points[:, None, 1]
    dx = np.maximum(np.maximum(rects[None, :, 0] - px, px - rects[None, :, 2]), 0)
    dy = np.maximum(np.maximum(rects[None, :, 1] - py, py - rects[None, :, 3]), 0)
    return np.argmin(np.hypot(dx, dy), axis=1)  # first index wins ties, as dlib's strict <


def _overlaps(kept: np.ndarray, box: np.ndarray, hull_thresh: float, covered_thresh: float) -> bool:
    """dlib's test_box_overlap between ``box`` and each kept box (inclusive pixel boxes)."""
    if kept.size == 0:
        return False

    def area(b):
        return np.maximum(b[..., 2] - b[..., 0] + 1, 0) * np.maximum(b[..., 3] - b[..., 1] + 1, 0)

    inner = area(np.concatenate([np.maximum(kept[:, :2], box[:2]), np.minimum(kept[:, 2:], box[2:])], axis=1))
    hull = area(np.concatenate([np.minimum(kept[:, :2], box[:2]), np.maximum(kept[:, 2:], box[2:])], axis=1))
    hits = (inner > 0) & ((inner / hull > hull_thresh) | (inner / area(kept) > covered_thresh)
                          | (inner / area(box) > covered_thresh))
    return bool(hits.any())


@dataclass(frozen=True)
class _Options:
    window: tuple[int, int]
    hull_thresh: float
    covered_thresh: float
    avg: np.ndarray
    padding: int
    outer_padding: int
    field: _Field


class FaceDetector:
    """dlib's MMOD CNN face detector, run by Keras, with dlib's pyramid and suppression.

    Parameters
    ----------
    path : str or Path, optional
        A dlib MMOD detector file; by default the checksummed
        ``mmod_human_face_detector.dat`` of the ``dlib_models`` asset.

    Raises
    ------
    facelib.dlibport.datfile.DlibFormatError
        If the file is corrupt or not an MMOD detector; the message names the file.

    Examples
    --------
    >>> import skimage.data
    >>> boxes, scores = FaceDetector().detect(skimage.data.astronaut(), upsample=0)
    >>> boxes.astype(int).tolist()
    [[168, 69, 263, 164]]
    """

    def __init__(self, path: str | Path | None = None) -> None:
        path = assets.file("dlib_models", MODEL_FILE) if path is None else Path(path)
        net = datfile.read_dnn(path)
        if net.loss.type != "loss_mmod" or net.input.type != "input_rgb_image_pyramid":
            raise datfile.DlibFormatError(
                f"{path}: holds a {net.loss.type} network on {net.input.type}, not an MMOD detector "
                "on an RGB image pyramid; pass mmod_human_face_detector.dat."
            )
        opts = net.loss.params
        if len(opts["detector_windows"]) != 1 or opts["use_bounding_box_regression"]:
            raise datfile.DlibFormatError(f"{path}: only one detector window without box regression is supported")
        window = opts["detector_windows"][0]
        self.path = path
        self.model = build_model(net)
        self._opts = _Options(
            window=(window["width"], window["height"]),
            hull_thresh=opts["overlaps_nms"]["iou_thresh"],
            covered_thresh=opts["overlaps_nms"]["percent_covered_thresh"],
            avg=np.asarray(net.input.params["avg"], dtype=np.float32),
            padding=net.input.params["pyramid_padding"],
            outer_padding=net.input.params["pyramid_outer_padding"],
            field=_field(net),
        )

    def score_map(self, image: np.ndarray) -> tuple[np.ndarray, list[tuple]]:
        """The network's scores over the tiled pyramid of ``image`` and the level rects.

        Parameters
        ----------
        image : ndarray of uint8, shape (H, W, 3)

        Returns
        -------
        scores : ndarray of float32, shape (rows, cols)
            Empty when the image is too small for the network.
        rects : list of (left, top, right, bottom)
            Each pyramid level's place in the tiled image.
        """
        o = self._opts
        tiled, rects = _tiled_pyramid(image, o.avg, o.padding, o.outer_padding)
        rows, cols = tiled.shape[:2]
        for layer in self.model.layers:  # make sure every convolution has something to slide on
            if isinstance(layer, keras.layers.Conv2D) and layer.padding == "valid":
                size, stride = layer.kernel_size[0], layer.strides[0]
                rows, cols = (rows - size) // stride + 1, (cols - size) // stride + 1
        if rows <= 0 or cols <= 0 or not rects:
            return np.zeros((0, 0), dtype=np.float32), rects
        if tiled.shape[0] * tiled.shape[1] <= _STRIP_PIXELS:
            return np.asarray(self.model(tiled[None], training=False))[0, :, :, 0], rects
        # Run the network on horizontal strips that overlap by its receptive field, keeping
        # from each strip only output rows whose whole field lies inside it: the same scores
        # as one run on the whole image, in bounded memory.
        stride, lo, hi = o.field.stride, o.field.lo, o.field.hi
        step = max(1, (_STRIP_PIXELS // tiled.shape[1] - (hi - lo)) // stride)
        parts = []
        for r0 in range(0, rows, step):
            r1 = min(rows, r0 + step)
            first = max(0, stride * r0 + lo) // stride  # first input row / stride
            end = min(tiled.shape[0], stride * (r1 - 1) + hi + 1)
            strip = np.asarray(self.model(tiled[None, stride * first:end], training=False))[0, :, :, 0]
            parts.append(strip[r0 - first:r1 - first])
        return np.concatenate(parts), rects

    def detect(self, image, upsample: int = 1, threshold: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Face boxes and scores, best first, as dlib's ``cnn_face_detection_model_v1``.

        Small images (up to about 2048x2048, see the module's table of limits) are searched
        exactly as dlib does, so the boxes are dlib's. Larger photos are not upsampled and
        are searched on a copy of at most :data:`WORK_PIXELS` pixels; the boxes are mapped
        back to the full image (faces from about 70 px in that copy are found, e.g. from
        about 120 px in a 12 MP photo).

        Parameters
        ----------
        image : array or path
            An RGB (H, W, 3) or greyscale image, uint8 (anything
            :func:`facelib.images.load_image` accepts), with at most :data:`MAX_PIXELS` pixels.
        upsample : int
            How many times to enlarge a small image 2x first (finds faces down to ~40 px at
            1, ~20 px at 2; each step costs ~4x the time). Large photos are never enlarged:
            0 and 1 search them alike, more is refused.
        threshold : float
            Keep windows scoring above this; dlib's default is 0. Lower finds more faces
            and more false alarms.

        Returns
        -------
        boxes : ndarray of float64, shape (N, 4)
            ``(left, top, right, bottom)`` in image pixels, right/bottom inclusive.
        scores : ndarray of float64, shape (N,)
            Detection scores, decreasing.

        Raises
        ------
        facelib.images.ImageTooLargeError
            For an image over :data:`MAX_PIXELS`, or an ``upsample`` that would make the
            searched image larger than :data:`MAX_UPSAMPLED_PIXELS`; the message says the
            limit and why.
        """
        upsample = check_int("upsample", upsample, minimum=0, maximum=MAX_UPSAMPLE)
        threshold = check_float("threshold", threshold)
        pixels = load_image(image, mode="RGB")
        rows, cols = pixels.shape[:2]
        if rows * cols > MAX_PIXELS:
            raise ImageTooLargeError(
                f"the image has {cols}x{rows} = {rows * cols / 1e6:.1f} MP; face detection accepts at most "
                f"{MAX_PIXELS / 1e6:.0f} MP, so that the photo, its working copy and the network fit in "
                "2 GB of memory. Downscale or crop it first.")
        if _upsampled_pixels(rows, cols, 1) <= MAX_UPSAMPLED_PIXELS:  # a small image: exactly dlib
            searched = _upsampled_pixels(rows, cols, upsample)
            if searched > MAX_UPSAMPLED_PIXELS:
                allowed = max(u for u in range(upsample) if _upsampled_pixels(rows, cols, u) <= MAX_UPSAMPLED_PIXELS)
                raise ImageTooLargeError(
                    f"upsample={upsample} would enlarge the {cols}x{rows} image to {searched / 1e6:.1f} MP; "
                    f"the detector searches at most {MAX_UPSAMPLED_PIXELS / 1e6:.1f} MP (4096x4096), since its "
                    f"memory and time grow with the searched pixels. Use upsample={allowed}, "
                    "or crop the region with the small faces and upsample that.")
            return self._detect(pixels, upsample, threshold)
        if upsample > 1:
            raise ImageTooLargeError(
                f"upsample={upsample} is refused for a {cols}x{rows} photo: photos over "
                f"{MAX_UPSAMPLED_PIXELS / 4e6:.1f} MP are never enlarged (upsample 0 and 1 search them "
                f"alike, on a {WORK_PIXELS / 1e6:.1f} MP copy), since the enlarged photo would need far "
                "more than 2 GB of memory. Crop the region with the small faces and upsample that.")
        if rows * cols <= WORK_PIXELS:
            return self._detect(pixels, 0, threshold)
        scale = math.sqrt(WORK_PIXELS / (rows * cols))
        size = (max(1, math.floor(cols * scale)), max(1, math.floor(rows * scale)))
        small = np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR))
        boxes, scores = self._detect(small, 0, threshold)
        # pixel edges scale by cols / size[0] (rows / size[1]); right/bottom are inclusive
        factor = np.array([cols / size[0], rows / size[1]] * 2)
        edges = (boxes + [0, 0, 1, 1]) * factor - [0, 0, 1, 1]
        return round_half_away(edges), scores

    def _detect(self, pixels: np.ndarray, upsample: int, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """dlib's detection on uint8 RGB ``pixels``: upsample, tiled pyramid, network, boxes."""
        for _ in range(upsample):
            pixels = _pyramid_up(pixels)
        scores, rects = self.score_map(pixels)
        rows, cols = np.nonzero(scores > threshold)
        if rows.size == 0:
            return np.zeros((0, 4)), np.zeros(0)
        values = scores[rows, cols].astype(np.float64)
        order = np.argsort(-values, kind="stable")
        rows, cols, values = rows[order], cols[order], values[order]
        o = self._opts
        step, centre = o.field.stride, o.field.centre
        centres = np.stack([step * cols + centre, step * rows + centre], axis=1).astype(np.float64)
        half = (np.array(o.window, dtype=np.float64) - 1) / 2
        level_rects = np.asarray(rects, dtype=np.float64)
        levels = _nearest_level(level_rects, np.floor(centres + 0.5))  # dlib's dpoint -> point
        origin = level_rects[levels, :2]
        corners = np.concatenate([centres - half - origin, centres + half - origin], axis=1)
        for step in range(int(levels.max()) + 1):  # point_up of pyramid_down<6>: p * 6/5 + 0.3
            up = levels > step
            corners[up] = corners[up] * (6 / 5.0) + 0.3
        boxes = round_half_away(corners)
        kept: list[int] = []
        for i in range(len(boxes)):
            if not _overlaps(boxes[kept], boxes[i], o.hull_thresh, o.covered_thresh):
                kept.append(i)
        boxes, values = boxes[kept], values[kept]
        return round_half_away(rect_down(boxes, int(upsample))), values


@cache
def _default_detector() -> FaceDetector:
    return FaceDetector()


def detect(image, upsample: int = 1, threshold: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Detect faces with dlib's MMOD CNN detector (loaded once); see :meth:`FaceDetector.detect`.

    Examples
    --------
    >>> import skimage.data
    >>> boxes, scores = detect(skimage.data.astronaut(), upsample=0)
    >>> boxes.shape, bool(scores[0] > 1)
    ((1, 4), True)
    """
    return _default_detector().detect(image, upsample=upsample, threshold=threshold)
