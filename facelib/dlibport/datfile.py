"""Read dlib's ``.dat`` serialization with plain Python and NumPy.

dlib writes its models with a small, self-made binary format (``dlib/serialize.h``).
This module reads it without dlib, so the course can run dlib's pretrained face models
inside Keras.

Encodings
---------
integer
    One header byte, then the magnitude in little-endian bytes. The header's low four
    bits give the number of magnitude bytes (0 to 8); bit 7 marks a negative number;
    bits 4 to 6 are always zero.
float
    Two integers, mantissa :math:`m` and exponent :math:`e`; the value is
    :math:`m \\cdot 2^{e}`. Exponents 32000, 32001 and 32002 stand for
    :math:`+\\infty`, :math:`-\\infty` and NaN.
string
    Its length (an integer), then its bytes.
bool
    One ASCII byte, ``'0'`` or ``'1'``.
matrix
    ``-rows`` and ``-columns`` (negative marks the current format), then the elements
    row by row as floats.
tensor
    A version integer, the four dimensions (samples, channels ``k``, rows, columns), then
    the values: version 1 as floats, version 2 as raw little-endian float32.

DNN files
---------
A network is written outside-in: the loss layer writes its version, its own details
(a name such as ``loss_metric_2`` and its options) and then the network under it. Every
wrapper (``add_layer``, ``add_tag_layer``, ``add_skip_layer``) writes its version integer
and then its inner network, so the file holds a run of version integers, then the input
layer, then the layers' details from the input side outwards, each followed by its
wrapper's bookkeeping (flags and cached tensors, empty in a saved model). Tags and skips
write only their version, so the residual wiring is not in the file: a reader has to
know the network's definition (see :func:`facelib.dlibport.encoder.build_encoder` for the
face encoder's ResNet and :func:`facelib.dlibport.detector.build_model` for the face detector).

API
---
:func:`read_dnn` ``(path) -> DlibNet`` with ``.loss`` and ``.input`` (:class:`Layer`) and
``.layers``: the computational layers from the input side, each a :class:`Layer` with
``type`` (``"con"``, ``"affine"``, ``"bn_con"``, ``"relu"``, ``"add_prev"``,
``"avg_pool"``, ``"max_pool"``, ``"fc"``), ``params`` (sizes, strides, paddings, options)
and ``weights`` (NumPy float32 arrays):

========  ===========================================================================
type      weights
========  ===========================================================================
con       ``filters`` (F, C, rows, cols) as dlib stores them, ``biases`` (F,)
affine    ``gamma`` (C,), ``beta`` (C,): ``y = gamma * x + beta`` per channel
bn_con    ``gamma``, ``beta``, ``running_means``, ``running_variances`` (params: ``eps``);
          :func:`bn_to_affine` folds them into an affine layer as dlib does at load time
fc        ``weights`` (inputs, outputs): ``y = x @ weights`` (+ ``biases`` (outputs,))
========  ===========================================================================

:class:`Reader` reads the primitives (``int``, ``float``, ``floats``, ``string``,
``bool``, ``matrix``, ``tensor``, ``alias_tensor``) from bytes, for other dlib objects
such as the shape predictor, which :func:`read_shape_predictor` reads into arrays. Every
problem raises :class:`DlibFormatError` naming the file and the byte offset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import numpy as np

from facelib.errors import ArgumentError, FacelibError, MissingFileError

__all__ = ["DlibFormatError", "Reader", "Layer", "DlibNet", "read_dnn", "bn_to_affine", "read_shape_predictor"]

_SPECIAL_EXPONENTS = {32000: np.inf, 32001: -np.inf, 32002: np.nan}
_NAME = re.compile(rb"[a-z][a-z0-9_]*\Z")


def _ldexp(mantissa: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """dlib floats m * 2**e as float64, with the special exponents for infinities and NaN.

    Exponents beyond +-2000 (other than the special codes) already over- or underflow float64
    (whose exponents reach +-1074), so clipping them there keeps ``ldexp`` exact.
    """
    mantissa, exponent = np.asarray(mantissa), np.asarray(exponent)
    values = np.ldexp(mantissa.astype(np.float64), np.clip(exponent, -2000, 2000))
    for code, special in _SPECIAL_EXPONENTS.items():
        values[exponent == code] = special
    return values


def _decode_ints(raw: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The dlib integers that start at ``positions`` of the bytes ``raw``: the one integer decoder.

    Header byte ``h``: ``h & 0x0F`` magnitude bytes follow (0 to 8), little-endian; ``h & 0x80``
    makes the value negative; ``h & 0x70`` is zero. Returns ``(values, lengths, bad)``: the int64
    values, each integer's length in bytes (``1 + (h & 0x0F)``), and the index into ``positions`` of
    the first integer whose header is invalid or whose bytes run past ``raw`` (-1 when all are good;
    the values are then meaningless).
    """
    header = raw[positions].astype(np.int64)
    size = header & 0x0F
    broken = ((header & 0x70) != 0) | (size > 8) | (positions + size >= len(raw))
    magnitude = np.zeros(len(positions), dtype=np.uint64)
    for j in range(int(np.minimum(size, 8).max(initial=0))):
        byte = np.where(j < size, raw[np.minimum(positions + 1 + j, len(raw) - 1)], 0).astype(np.uint64)
        magnitude |= byte << np.uint64(8 * j)
    values = magnitude.astype(np.int64)
    values[(header & 0x80) != 0] *= -1
    return values, 1 + size, int(np.argmax(broken)) if broken.any() else -1


class DlibFormatError(FacelibError, ValueError):
    """A ``.dat`` file is not what dlib would have written (corrupt, truncated or unknown)."""


class Reader:
    """A cursor over the bytes of one dlib file.

    Parameters
    ----------
    data : bytes
        The whole file.
    name : str
        What to call the file in error messages (usually its path).

    Examples
    --------
    >>> r = Reader(bytes([0x01, 0x05, 0x81, 0x02, 0x01, 0x03, 0x81, 0x01]), "example")
    >>> r.int(), r.int(), r.float()
    (5, -2, 1.5)
    """

    def __init__(self, data: bytes, name: str = "<bytes>") -> None:
        self.data = bytes(data)
        self.name = str(name)
        self.pos = 0
        self._array = np.frombuffer(self.data, dtype=np.uint8)

    # -- errors and bounds --------------------------------------------------------------
    def error(self, message: str, at: int | None = None) -> DlibFormatError:
        """A :class:`DlibFormatError` naming the file and the byte offset."""
        where = self.pos if at is None else at
        return DlibFormatError(
            f"{self.name}: {message} at byte offset {where} (file size {len(self.data)}). "
            "The file is corrupt, truncated or not a dlib model of this kind; "
            "reinstall or re-download it."
        )

    def _need(self, n: int, what: str) -> None:
        if self.pos + n > len(self.data):
            raise self.error(f"file ends while reading {what} ({n} bytes needed)")

    @property
    def at_end(self) -> bool:
        """True when every byte has been read."""
        return self.pos >= len(self.data)

    # -- primitives -----------------------------------------------------------------------
    def int(self, what: str = "an integer") -> int:
        """Read one integer: header byte (size in low 4 bits, sign in bit 7), magnitude LE."""
        self._need(1, what)
        values, lengths, bad = _decode_ints(self._array, np.array([self.pos]))
        if bad >= 0:
            self.integer_error(what, self.pos)
        self.pos += int(lengths[0])
        return int(values[0])

    def integer_error(self, what: str, at: int) -> NoReturn:
        """Raise the :class:`DlibFormatError` for the integer at byte ``at``: a bad header, or the file ends in it."""
        header = self.data[at]
        if header & 0x70 or header & 0x0F > 8:
            raise self.error(f"byte 0x{header:02x} is not a dlib integer header ({what})", at=at)
        raise self.error(f"file ends while reading {what} ({1 + (header & 0x0F)} bytes needed)", at=at)

    def float(self, what: str = "a float") -> float:
        """Read one float: mantissa m and exponent e as integers, value m * 2**e."""
        mantissa = self.int(what)
        exponent = self.int(what)
        if exponent in _SPECIAL_EXPONENTS:
            return float(_SPECIAL_EXPONENTS[exponent])
        return float(np.ldexp(float(mantissa), exponent))

    def floats(self, count: int, what: str = "floats") -> np.ndarray:
        """Read ``count`` floats in dlib's mantissa/exponent form, vectorised (float64)."""
        if count == 0:
            return np.zeros(0)
        data, start = self._array, self.pos
        end = min(len(data), start + 20 * count)  # a float takes at most 2 * (1 + 8) bytes
        window = data[start:end].astype(np.int64)
        # length of an integer starting at every byte, then of a float (two integers)
        int_len = 1 + (window & 0x0F)
        nxt = np.minimum(np.arange(len(window)) + int_len, len(window) - 1)
        float_len = int_len + int_len[nxt]
        steps = np.minimum(float_len, 255).astype(np.uint8).tobytes()
        offsets = [0] * count
        offset, limit = 0, len(window)
        for i in range(count):
            if offset >= limit:
                self.pos = start + min(offset, limit)
                raise self.error(f"file ends while reading {what} ({i} of {count} read)")
            offsets[i] = offset
            offset += steps[offset]
        positions = np.asarray(offsets, dtype=np.int64)
        if offset > limit:
            raise self.error(f"file ends while reading {what}", at=start + limit)
        mant, mant_len, bad = _decode_ints(window, positions)
        if bad < 0:
            expo, _, bad = _decode_ints(window, positions + mant_len)
            at = positions + mant_len
        else:
            at = positions
        if bad >= 0:
            self.integer_error(what, start + int(at[bad]))
        self.pos = start + offset
        return _ldexp(mant, expo)

    def string(self, what: str = "a string") -> str:
        """Read a string: its length, then its bytes (decoded as UTF-8)."""
        length = self.int(what)
        if length < 0:
            raise self.error(f"negative length {length} for {what}")
        self._need(length, what)
        raw = self.data[self.pos : self.pos + length]
        self.pos += length
        return raw.decode("utf-8", errors="replace")

    def bool(self, what: str = "a bool") -> bool:
        """Read a bool: one ASCII byte ``'0'`` or ``'1'``."""
        self._need(1, what)
        byte = self.data[self.pos]
        if byte not in (0x30, 0x31):
            raise self.error(f"byte 0x{byte:02x} is not a dlib bool ({what})")
        self.pos += 1
        return byte == 0x31

    def matrix(self, what: str = "a matrix") -> np.ndarray:
        """Read a dlib matrix (-rows, -cols, then floats row by row) as float64."""
        rows, cols = abs(self.int(what)), abs(self.int(what))
        return self.floats(rows * cols, what).reshape(rows, cols)

    def tensor(self, what: str = "a tensor") -> np.ndarray:
        """Read a dlib tensor as float32 of shape (samples, k, rows, cols)."""
        at = self.pos
        version = self.int(what)
        shape = tuple(self.int(what) for _ in range(4))
        if min(shape) < 0:
            raise self.error(f"negative tensor dimension {shape} in {what}", at=at)
        count = int(np.prod(shape))
        if version == 2:
            self._need(4 * count, what)
            values = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos)
            self.pos += 4 * count
        elif version == 1:
            values = self.floats(count, what)
        else:
            raise self.error(f"unknown tensor version {version} in {what}", at=at)
        return values.astype(np.float32).reshape(shape)

    def alias_tensor(self, what: str = "an alias tensor") -> tuple[int, int, int, int]:
        """Read an alias tensor (a view's shape): version 1 then four dimensions."""
        at = self.pos
        version = self.int(what)
        if version != 1:
            raise self.error(f"unknown alias_tensor version {version} in {what}", at=at)
        return tuple(self.int(what) for _ in range(4))

    # -- look-ahead helpers ------------------------------------------------------------------
    def peek_name(self) -> str | None:
        """The identifier-like string at the cursor (e.g. ``'con_4'``), or None; no move."""
        saved = self.pos
        try:
            length = self.int()
            if not 3 < length < 64 or self.pos + length > len(self.data):
                return None
            raw = self.data[self.pos : self.pos + length]
            return raw.decode() if _NAME.match(raw) else None
        except DlibFormatError:
            return None
        finally:
            self.pos = saved

    def expect(self, condition: bool, message: str, at: int) -> None:
        """Raise a :class:`DlibFormatError` at ``at`` unless ``condition``."""
        if not condition:
            raise self.error(message, at=at)


@dataclass
class Layer:
    """One layer as stored by dlib: its ``type``, scalar ``params`` and NumPy ``weights``."""

    type: str
    params: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)
    version: str = ""


@dataclass
class DlibNet:
    """A dlib DNN read from a file: loss, input layer, and layers from the input side."""

    path: str
    loss: Layer
    input: Layer
    layers: list[Layer]

    def types(self) -> list[str]:
        """Layer types from the input side, e.g. ``['con', 'affine', 'relu', ...]``."""
        return [layer.type for layer in self.layers]


# -- losses ------------------------------------------------------------------------------
def _read_box_overlap(r: Reader) -> dict:
    return {"iou_thresh": r.float(), "percent_covered_thresh": r.float()}


def _read_mmod_options(r: Reader) -> dict:
    at = r.pos
    version = r.int("mmod_options version")
    r.expect(1 <= version <= 4, f"unknown mmod_options version {version}", at)
    if version == 1:
        windows = [{"width": r.int(), "height": r.int(), "label": ""}]
    else:
        windows = [
            {"width": r.int(), "height": r.int(), "label": r.string()}
            for _ in range(r.int("number of detector windows"))
        ]
    options = {
        "detector_windows": windows,
        "loss_per_false_alarm": r.float(),
        "loss_per_missed_target": r.float(),
        "truth_match_iou_threshold": r.float(),
        "overlaps_nms": _read_box_overlap(r),
        "overlaps_ignore": _read_box_overlap(r),
        "assume_image_pyramid": True,
        "use_bounding_box_regression": False,
    }
    if version >= 3:
        options["assume_image_pyramid"] = bool(r.int("assume_image_pyramid"))
    if version >= 4:
        options["use_bounding_box_regression"] = r.bool()
        options["bbr_lambda"] = r.float()
    return options


def _read_loss(r: Reader) -> Layer:
    at = r.pos
    name = r.string("loss layer name")
    if name == "loss_metric_2":
        return Layer("loss_metric", {"margin": r.float(), "dist_thresh": r.float()}, version=name)
    if name == "loss_metric_":
        return Layer("loss_metric", {}, version=name)
    if name == "loss_mmod_":
        return Layer("loss_mmod", _read_mmod_options(r), version=name)
    raise r.error(f"unsupported loss layer {name!r}", at=at)


# -- input layers ---------------------------------------------------------------------------
def _read_input(r: Reader) -> Layer:
    at = r.pos
    name = r.string("input layer name")
    if name == "input_rgb_image_sized":
        avg = (r.float(), r.float(), r.float())
        return Layer("input_rgb_image_sized", {"avg": avg, "nr": r.int(), "nc": r.int()}, version=name)
    if name in ("input_rgb_image", "input_rgb_image_pyramid", "input_rgb_image_pyramid2"):
        params = {"avg": (r.float(), r.float(), r.float())}
        if name == "input_rgb_image_pyramid":
            params.update(pyramid_padding=10, pyramid_outer_padding=11)  # dlib's defaults
        if name == "input_rgb_image_pyramid2":
            params.update(pyramid_padding=r.int(), pyramid_outer_padding=r.int())
        return Layer(name.rstrip("2"), params, version=name)
    raise r.error(f"unsupported input layer {name!r}", at=at)


# -- computational layers --------------------------------------------------------------------
def _window(r: Reader) -> dict:
    keys = ("nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x")
    return {key: r.int(key) for key in keys}


def _split(r: Reader, params: np.ndarray, shapes, at: int) -> list[np.ndarray]:
    flat = params.reshape(-1)
    sizes = [int(np.prod(shape)) for shape in shapes]
    r.expect(sum(sizes) <= flat.size, f"parameter tensor of {flat.size} values is too small", at)
    bounds = np.cumsum([0, *sizes])
    return [flat[start:stop] for start, stop in zip(bounds[:-1], bounds[1:], strict=True)]


def _read_con(r: Reader, at: int) -> Layer:
    params = r.tensor("con_ parameters")
    spec = {"num_filters": r.int("num_filters")}
    spec.update(_window(r))
    filters_shape, biases_shape = r.alias_tensor("filters"), r.alias_tensor("biases")
    for _ in range(4):  # learning-rate and weight-decay multipliers
        r.float()
    filters, biases = _split(r, params, (filters_shape, biases_shape), at)
    r.expect(filters_shape[0] == spec["num_filters"], "con_ filter count mismatch", at)
    weights = {"filters": filters.reshape(filters_shape), "biases": biases.copy()}
    return Layer("con", spec, weights)


def _read_affine(r: Reader, at: int) -> Layer:
    params = r.tensor("affine_ parameters")
    gamma_shape, beta_shape = r.alias_tensor("gamma"), r.alias_tensor("beta")
    mode = r.int("affine mode") if _has_int(r) else 0  # older files do not store the mode
    gamma, beta = _split(r, params, (gamma_shape, beta_shape), at)
    return Layer("affine", {"mode": "fc" if mode else "conv"}, {"gamma": gamma.copy(), "beta": beta.copy()})


def _has_bool(r: Reader) -> bool:
    """True when a bool byte ('0' or '1', never an integer header) is at the cursor."""
    return not r.at_end and r.data[r.pos] in (0x30, 0x31)


def _has_int(r: Reader) -> bool:
    """True when an integer (not a bool byte) follows the cursor."""
    return not r.at_end and not _has_bool(r)


def _read_bn(r: Reader, at: int, name: str) -> Layer:
    params = r.tensor("bn_ parameters")
    gamma_shape, beta_shape = r.alias_tensor("gamma"), r.alias_tensor("beta")
    r.tensor("means")
    r.tensor("invstds")
    running_means, running_variances = r.tensor("running_means"), r.tensor("running_variances")
    num_updates, window = r.int(), r.int()
    for _ in range(4):
        r.float()
    eps = r.float("eps")
    gamma, beta = _split(r, params, (gamma_shape, beta_shape), at)
    weights = {
        "gamma": gamma.copy(),
        "beta": beta.copy(),
        "running_means": running_means.reshape(-1),
        "running_variances": running_variances.reshape(-1),
    }
    spec = {
        "mode": "conv" if name.startswith("bn_con") else "fc",
        "eps": eps,
        "num_updates": num_updates,
        "running_stats_window_size": window,
    }
    return Layer("bn_con" if spec["mode"] == "conv" else "bn_fc", spec, weights)


def _read_fc(r: Reader, at: int) -> Layer:
    spec = {"num_outputs": r.int("num_outputs"), "num_inputs": r.int("num_inputs")}
    params = r.tensor("fc_ parameters")
    weights_shape, biases_shape = r.alias_tensor("weights"), r.alias_tensor("biases")
    spec["bias"] = r.int("bias mode") == 0
    for _ in range(4):
        r.float()
    shapes = (weights_shape, biases_shape) if spec["bias"] else (weights_shape,)
    parts = _split(r, params, shapes, at)
    weights = {"weights": parts[0].reshape(spec["num_inputs"], spec["num_outputs"])}
    if spec["bias"]:
        weights["biases"] = parts[1].copy()
    return Layer("fc", spec, weights)


def _read_details(r: Reader) -> Layer:
    at = r.pos
    name = r.string("layer name")
    if name == "con_4":
        layer = _read_con(r, at)
    elif name in ("affine_", "affine_2"):
        layer = _read_affine(r, at)
    elif name in ("bn_con2", "bn_fc2"):
        layer = _read_bn(r, at, name)
    elif name == "fc_2":
        layer = _read_fc(r, at)
    elif name in ("avg_pool_2", "max_pool_2"):
        layer = Layer(name[:-2], _window(r))
    elif name in ("relu_", "add_prev_"):
        layer = Layer(name.rstrip("_"))
    else:
        raise r.error(f"unsupported layer {name!r}", at=at)
    layer.version = name
    return layer


def _skip_add_layer_state(r: Reader, bottom_version: int | None) -> None:
    """Skip an add_layer's bookkeeping after its details: flags, then cached tensors.

    The input-side add_layer (``bottom_version`` given) of version 3 also stores the
    sample expansion factor; the others end where the next layer's name begins.
    """
    while _has_bool(r):
        r.bool("add_layer flag")
    if bottom_version is not None and bottom_version >= 3:
        for _ in range(3):
            r.tensor("cached tensor")
        r.int("sample expansion factor")
        return
    while not r.at_end and r.peek_name() is None:
        r.tensor("cached tensor")


def read_dnn(path: str | Path) -> DlibNet:
    """Read a dlib DNN model file (e.g. the face ResNet or the MMOD face detector).

    Parameters
    ----------
    path : str or Path
        A ``.dat`` file written by ``dlib::serialize(net)``.

    Returns
    -------
    DlibNet
        ``loss`` and ``input`` layers and the computational ``layers`` from the input
        side (see the module docstring for each layer's params and weights).

    Raises
    ------
    DlibFormatError
        If the file is truncated, corrupt or holds a layer this reader does not know; the
        message names the file and the byte offset.
    FileNotFoundError
        If ``path`` does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"dlib model file {str(path)!r} does not exist")
    r = Reader(path.read_bytes(), str(path))
    at = r.pos
    version = r.int("loss layer version")
    r.expect(version == 1, f"unknown add_loss_layer version {version}", at)
    loss = _read_loss(r)
    versions = []
    while r.peek_name() is None:
        at = r.pos
        value = r.int("layer version")
        r.expect(1 <= value <= 3 and len(versions) < 100_000, f"unexpected layer version {value}", at)
        versions.append(value)
    r.expect(bool(versions), "no layers after the loss layer", r.pos)
    net_input = _read_input(r)
    layers = []
    while not r.at_end:
        layers.append(_read_details(r))
        _skip_add_layer_state(r, versions[-1] if len(layers) == 1 else None)
    r.expect(len(layers) <= len(versions), "more layers than layer wrappers", r.pos)
    return DlibNet(str(path), loss, net_input, layers)


def bn_to_affine(layer: Layer) -> Layer:
    """Fold a batch-norm layer into the affine layer dlib uses at inference.

    .. math:: \\gamma' = \\gamma / \\sqrt{\\sigma^2 + \\epsilon}, \\qquad
              \\beta' = \\beta - \\gamma' \\mu

    Parameters
    ----------
    layer : Layer
        A ``bn_con`` or ``bn_fc`` layer from :func:`read_dnn`.

    Returns
    -------
    Layer
        An ``affine`` layer with float32 ``gamma`` and ``beta``.
    """
    if layer.type not in ("bn_con", "bn_fc"):
        raise ArgumentError(f"layer must be a bn_con or bn_fc layer, got {layer.type!r}")
    w = {k: v.astype(np.float64) for k, v in layer.weights.items()}
    gamma = w["gamma"] / np.sqrt(w["running_variances"] + layer.params["eps"])
    beta = w["beta"] - gamma * w["running_means"]
    return Layer(
        "affine", {"mode": layer.params["mode"]}, {"gamma": gamma.astype(np.float32), "beta": beta.astype(np.float32)}
    )


# -- shape predictors -----------------------------------------------------------------------
def _int_stream(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Every dlib integer in ``data`` (a shape predictor holds nothing else) and its offset.

    A float is two of them (mantissa, exponent), a matrix is ``-rows, -cols`` and then its
    floats, a vector is its length and then its items.
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    steps = (1 + (raw & 0x0F)).astype(np.uint8).tobytes()  # an integer takes 1 + (header & 15) bytes
    starts, pos, end = [], 0, len(data)
    append = starts.append
    while pos < end:
        append(pos)
        pos += steps[pos]
    offsets = np.asarray(starts, dtype=np.int64)
    values, _, bad = _decode_ints(raw, offsets)   # the last one runs past the end when pos > end
    if bad >= 0:
        Reader(data, name).integer_error("an integer", int(offsets[bad]))
    return values, offsets


class _Cursor:
    """Walks the integer stream of one file, raising errors that name the file and offset."""

    def __init__(self, data: bytes, values: np.ndarray, offsets: np.ndarray, name: str) -> None:
        self.data, self.values, self.offsets, self.name, self.i = data, values, offsets, name, 0

    def error(self, message: str) -> DlibFormatError:
        reader = Reader(self.data, self.name)
        reader.pos = int(self.offsets[self.i]) if self.i < len(self.offsets) else len(self.data)
        return reader.error(message)

    def take(self, count: int, what: str) -> np.ndarray:
        if count < 0 or self.i + count > len(self.values):
            raise self.error(f"file ends while reading {what}")
        block = self.values[self.i:self.i + count]
        self.i += count
        return block

    def int(self, what: str, low: int = 0, high: int = 1 << 40) -> int:
        value = int(self.take(1, what)[0])
        if not low <= value <= high:
            self.i -= 1
            raise self.error(f"{what} is {value}, expected {low} to {high}")
        return value

    def floats(self, count: int, what: str) -> np.ndarray:
        pairs = self.take(2 * count, what).reshape(count, 2)
        values = _ldexp(pairs[:, 0], pairs[:, 1])
        if not np.all(np.isfinite(values)):
            raise self.error(f"non-finite value in {what}")
        return values.astype(np.float32)


def read_shape_predictor(path: str | Path) -> dict[str, np.ndarray]:
    """Read a dlib ``shape_predictor`` file (an ensemble of regression trees) into arrays.

    Returns
    -------
    dict
        ``initial_shape`` (parts, 2) and, for each cascade ``t``: ``split_pixels_t`` (trees,
        splits, 2) feature-pixel pairs, ``split_thresh_t`` (trees, splits), ``leaves_t`` (trees,
        leaves, 2 * parts) shape increments, ``anchors_t`` (pixels,) landmark of each feature
        pixel and ``deltas_t`` (pixels, 2) its offset in the mean shape
        (see :class:`facelib.dlibport.landmarks.ShapePredictor`).

    Raises
    ------
    DlibFormatError
        If the file is not a complete shape predictor; the message names the file and offset.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"shape predictor file {str(path)!r} does not exist")
    data = path.read_bytes()
    values, offsets = _int_stream(data, str(path))
    c = _Cursor(data, values, offsets, str(path))
    c.int("shape_predictor version", 1, 1)
    rows, cols = (abs(int(v)) for v in c.take(2, "initial shape size"))
    if cols != 1 or rows % 2 or rows == 0:
        raise c.error(f"initial shape is {rows}x{cols}, expected a column of x, y pairs")
    initial = c.floats(rows, "initial shape")
    n_cascades = c.int("number of cascades", 1, 1000)
    cascades = []
    for t in range(n_cascades):
        n_trees = c.int("number of trees", 1, 100_000)
        # dlib's trees are complete binary trees of one depth: each is [n, n splits (idx1, idx2,
        # threshold), n + 1, n + 1 leaves (-rows, -1, rows floats)], all of the same length
        n_splits = c.int("number of splits", 0, 1 << 16)
        c.i -= 1
        n_leaves = n_splits + 1
        if n_leaves & (n_leaves - 1):
            raise c.error(f"a tree with {n_splits} splits is not complete; dlib's trees are")
        width = 2 + 4 * n_splits + n_leaves * (2 + 2 * rows)
        start = c.i
        block = c.take(n_trees * width, f"the trees of cascade {t}").reshape(n_trees, width)
        split = block[:, 1:1 + 4 * n_splits].reshape(n_trees, n_splits, 4)
        leaf = block[:, 2 + 4 * n_splits:].reshape(n_trees, n_leaves, 2 + 2 * rows)
        if np.any(block[:, 0] != n_splits) or np.any(block[:, 1 + 4 * n_splits] != n_leaves) \
                or np.any(np.abs(leaf[..., 0]) != rows) or np.any(np.abs(leaf[..., 1]) != 1):
            c.i = start
            raise c.error(f"cascade {t}: trees of different sizes or leaves that do not match the shape")
        cascades.append((
            split[..., :2],
            _ldexp(split[..., 2], split[..., 3]),
            _ldexp(leaf[..., 2::2], leaf[..., 3::2]),
        ))
    c.int("number of anchor lists", n_cascades, n_cascades)
    anchors = [c.take(c.int("number of feature pixels", 1, 1 << 20), "anchor indices") for _ in range(n_cascades)]
    c.int("number of delta lists", n_cascades, n_cascades)
    deltas = [c.floats(2 * c.int("number of feature pixels", 1, 1 << 20), "pixel offsets").reshape(-1, 2)
              for _ in range(n_cascades)]
    if c.i != len(values):
        raise c.error(f"{len(values) - c.i} unexpected integers after the model")
    arrays = {"initial_shape": initial.reshape(-1, 2)}
    for t, ((idx, thresh, leaf), anchor, delta) in enumerate(zip(cascades, anchors, deltas, strict=True)):
        if len(anchor) != len(delta) or np.any((anchor < 0) | (anchor >= rows // 2)):
            raise c.error(f"cascade {t}: anchor indices do not fit the shape")
        if np.any((idx < 0) | (idx >= len(anchor))) or not np.all(np.isfinite(thresh)) \
                or not np.all(np.isfinite(leaf)):
            raise c.error(f"cascade {t}: split features out of range or non-finite values")
        arrays[f"split_pixels_{t}"] = idx.astype(np.int64)
        arrays[f"split_thresh_{t}"] = thresh.astype(np.float32)
        arrays[f"leaves_{t}"] = leaf.astype(np.float32)
        arrays[f"anchors_{t}"] = anchor.astype(np.int64)
        arrays[f"deltas_{t}"] = delta.astype(np.float32)
    return arrays
