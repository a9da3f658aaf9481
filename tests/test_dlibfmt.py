"""facelib.dlibport.datfile against an independent writer of dlib's encodings and the real model files."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facelib.dlibport import datfile
from facelib.dlibport.datfile import DlibFormatError, Reader


# -- an independent writer, straight from dlib/serialize.h and dlib/float_details.h ------------
def pack_int(value: int) -> bytes:
    """Header byte (bytes that follow, bit 7 = negative), then the magnitude little-endian."""
    magnitude = abs(value)
    body = magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "little")
    return bytes([len(body) | (0x80 if value < 0 else 0)]) + body


def pack_float(value: float, digits: int = 24) -> bytes:
    """float_details: mantissa = frexp(v) * 2**digits, exponent = e - digits, low zero bytes shifted off."""
    if math.isnan(value):
        return pack_int(0) + pack_int(32002)
    if math.isinf(value):
        return pack_int(0) + pack_int(32000 if value > 0 else 32001)
    fraction, exponent = math.frexp(value)
    mantissa, exponent = int(fraction * (1 << digits)), exponent - digits
    for _ in range(8):
        if mantissa & 0xFF:
            break
        mantissa >>= 8
        exponent += 8
    return pack_int(mantissa) + pack_int(exponent)


def pack_string(text: str) -> bytes:
    raw = text.encode()
    return pack_int(len(raw)) + raw


def pack_tensor(values: np.ndarray, version: int = 2) -> bytes:
    shape = values.shape
    head = pack_int(version) + b"".join(pack_int(n) for n in shape)
    if version == 2:
        return head + values.astype("<f4").tobytes()
    return head + b"".join(pack_float(float(v)) for v in values.ravel())


# -- primitives ----------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1))
def test_int_round_trip(value):
    assert Reader(pack_int(value)).int() == value


@settings(max_examples=200, deadline=None)
@given(st.floats(width=32, allow_nan=False))
def test_float_round_trip(value):
    assert Reader(pack_float(value)).float() == value


def test_known_bytes():
    # the face ResNet's first bytes: version 1, "loss_metric_2", margin 0.04, threshold 0.6
    raw = bytes.fromhex("0101010d") + b"loss_metric_2" + bytes.fromhex("030ad7a3811c039a999981 18".replace(" ", ""))
    r = Reader(raw, "resnet head")
    assert r.int() == 1
    assert r.string() == "loss_metric_2"
    assert r.float() == pytest.approx(0.04, abs=1e-8)
    assert r.float() == pytest.approx(0.6, abs=1e-7)
    assert r.at_end


def test_special_floats():
    raw = pack_float(math.inf) + pack_float(-math.inf) + pack_float(math.nan) + pack_float(0.0)
    r = Reader(raw)
    values = [r.float() for _ in range(4)]
    assert values[0] == math.inf and values[1] == -math.inf and math.isnan(values[2]) and values[3] == 0.0
    batch = Reader(raw).floats(4)
    assert batch[0] == math.inf and batch[1] == -math.inf and np.isnan(batch[2]) and batch[3] == 0.0


def test_vectorised_floats_match_scalar_reads():
    rng = np.random.default_rng(0)
    values = np.concatenate(
        [rng.normal(size=500) * 10.0 ** rng.integers(-30, 30, 500), [0.0, 1.0, -1.0, 2**-140, 3e38, 256.0]]
    ).astype(np.float32)
    raw = b"".join(pack_float(float(v)) for v in values) + pack_int(7)
    batch = Reader(raw)
    got = batch.floats(len(values))
    scalar = Reader(raw)
    expected = [scalar.float() for _ in values]
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got.astype(np.float32), values)
    assert batch.pos == scalar.pos and batch.int() == 7


def test_string_bool_matrix_and_tensors():
    matrix = np.arange(6, dtype=np.float64).reshape(2, 3) / 4
    raw = (
        pack_string("héllo")
        + b"10"
        + pack_int(-2)
        + pack_int(-3)
        + b"".join(pack_float(v) for v in matrix.ravel())
        + pack_tensor(np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4) - 5.5, version=2)
        + pack_tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2, 1, 1), version=1)
        + pack_int(1)
        + b"".join(pack_int(n) for n in (1, 32, 1, 1))
    )
    r = Reader(raw)
    assert r.string() == "héllo"
    assert r.bool() is True and r.bool() is False
    np.testing.assert_array_equal(r.matrix(), matrix)
    np.testing.assert_array_equal(r.tensor(), np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4) - 5.5)
    np.testing.assert_array_equal(r.tensor(), np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2, 1, 1))
    assert r.alias_tensor() == (1, 32, 1, 1)
    assert r.at_end


@pytest.mark.parametrize(
    ("raw", "call", "message"),
    [
        (bytes([0x02, 0x01]), "int", "file ends"),
        (bytes([0x19, 0x01]), "int", "not a dlib integer header"),
        (bytes([0x01, 0x05]) + b"ab", "string", "file ends"),
        (b"x", "bool", "not a dlib bool"),
        (pack_int(3) + pack_int(1) * 4, "tensor", "unknown tensor version"),
        (pack_int(2) + pack_int(1) * 3 + pack_int(4) + b"\0" * 8, "tensor", "file ends"),
        (pack_float(1.5) + pack_int(1), "floats", "file ends"),
    ],
)
def test_errors_name_file_and_offset(raw, call, message):
    r = Reader(raw, "some/model.dat")
    with pytest.raises(DlibFormatError, match=message) as info:
        getattr(r, call)(*((2,) if call == "floats" else ()))
    assert "some/model.dat" in str(info.value) and "byte offset" in str(info.value)


# -- real model files --------------------------------------------------------------------------
@pytest.fixture
def model_files(asset_dir):
    folder = asset_dir("dlib_models")
    return {
        "resnet": folder / "dlib_face_recognition_resnet_model_v1.dat",
        "mmod": folder / "mmod_human_face_detector.dat",
    }


def test_read_face_resnet(model_files):
    net = datfile.read_dnn(model_files["resnet"])
    assert net.loss.type == "loss_metric"
    assert net.loss.params["margin"] == pytest.approx(0.04) and net.loss.params["dist_thresh"] == pytest.approx(0.6)
    assert net.input.type == "input_rgb_image_sized"
    assert (net.input.params["nr"], net.input.params["nc"]) == (150, 150)
    np.testing.assert_allclose(net.input.params["avg"], (122.782, 117.001, 104.298), atol=1e-4)
    counts = {t: net.types().count(t) for t in set(net.types())}
    assert counts == {"con": 29, "affine": 29, "relu": 29, "add_prev": 14, "avg_pool": 5, "max_pool": 1, "fc": 1}
    first = net.layers[0]
    assert first.weights["filters"].shape == (32, 3, 7, 7) and first.weights["biases"].shape == (32,)
    assert (first.params["stride_y"], first.params["padding_y"]) == (2, 0)
    fc = net.layers[-1]
    assert fc.weights["weights"].shape == (256, 128) and "biases" not in fc.weights
    assert net.layers[-2].params["nr"] == 0  # avg_pool_everything
    total = sum(w.size for layer in net.layers for w in layer.weights.values())
    assert 5_500_000 < total < 5_700_000
    assert all(np.isfinite(w).all() for layer in net.layers for w in layer.weights.values())


def test_read_mmod_detector(model_files):
    net = datfile.read_dnn(model_files["mmod"])
    assert net.loss.type == "loss_mmod"
    window = net.loss.params["detector_windows"][0]
    assert (window["width"], window["height"]) == (80, 80)
    assert net.loss.params["overlaps_nms"]["iou_thresh"] == pytest.approx(0.3383, abs=1e-4)
    assert net.input.type == "input_rgb_image_pyramid"
    assert net.types() == ["con", "bn_con", "relu"] * 6 + ["con"]
    assert net.layers[-1].weights["filters"].shape == (1, 45, 9, 9)


def test_bn_to_affine_matches_numpy(model_files):
    bn = datfile.read_dnn(model_files["mmod"]).layers[1]
    affine = datfile.bn_to_affine(bn)
    x = np.random.default_rng(1).normal(size=(4, bn.weights["gamma"].size))
    w = bn.weights
    expected = (x - w["running_means"]) / np.sqrt(w["running_variances"] + bn.params["eps"]) * w["gamma"] + w["beta"]
    np.testing.assert_allclose(x * affine.weights["gamma"] + affine.weights["beta"], expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="bn_con"):
        datfile.bn_to_affine(datfile.read_dnn(model_files["mmod"]).layers[0])


@pytest.mark.parametrize("cut", [0.0, 0.3, 0.999])
def test_truncated_file_names_file(model_files, tmp_path, cut):
    data = model_files["mmod"].read_bytes()
    broken = tmp_path / "broken.dat"
    broken.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(DlibFormatError, match="broken.dat.*byte offset"):
        datfile.read_dnn(broken)


def test_corrupt_and_missing_files(model_files, tmp_path):
    data = bytearray(model_files["mmod"].read_bytes())
    data[2] = 0x7F  # the loss layer's name length header
    bad = tmp_path / "bad.dat"
    bad.write_bytes(bytes(data))
    with pytest.raises(DlibFormatError, match="bad.dat"):
        datfile.read_dnn(bad)
    text = tmp_path / "notes.dat"
    text.write_bytes(b"this is not a model\n" * 10)
    with pytest.raises(DlibFormatError, match="notes.dat"):
        datfile.read_dnn(text)
    with pytest.raises(FileNotFoundError, match="missing.dat"):
        datfile.read_dnn(tmp_path / "missing.dat")


def test_tensor_layout_is_float32_le():
    values = np.array([1.5, -2.25, 3e-8], np.float32).reshape(3, 1, 1, 1)
    raw = pack_tensor(values)
    assert raw[-12:] == struct.pack("<3f", *values.ravel())
    np.testing.assert_array_equal(Reader(raw).tensor(), values)
