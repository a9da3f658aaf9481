"""Shared fixtures: real assets, which must be present in CI and may be absent on a laptop."""

from __future__ import annotations

import contextlib
import functools
import io
import os

import pytest
from hypothesis import settings

from facelib import assets

# CI runs every property test on the same examples (derandomize), so a red run is reproducible and never
# a chance draw; elsewhere each run draws new examples and can find new counter-examples.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")



def require_asset(name: str):
    """Folder of asset ``name``; in CI a missing asset FAILS the test, elsewhere it skips."""
    try:
        return assets.locate(name)
    except assets.AssetNotFoundError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs asset {name!r}:\n{error}")
        pytest.skip(f"asset {name!r} is not available here (set FACELIB_MIRROR): {error}")


@pytest.fixture
def asset_dir():
    """``asset_dir(name)`` -> folder of a real asset (fails in CI, skips elsewhere when missing)."""
    return require_asset


_DLIB_MODELS = {  # what each of dlib's own reference models is built from (dlib-bin)
    "hog_detector": ("get_frontal_face_detector", None),
    "cnn_detector": ("cnn_face_detection_model_v1", "mmod_human_face_detector.dat"),
    "shape_predictor": ("shape_predictor", "shape_predictor_5_face_landmarks.dat"),
    "face_encoder": ("face_recognition_model_v1", "dlib_face_recognition_resnet_model_v1.dat"),
}


@functools.cache
def dlib_model(kind: str):
    """One of dlib's own models (the parity reference), built once per session from the checked asset files.

    ``kind``: "hog_detector", "cnn_detector", "shape_predictor" or "face_encoder". Skips when dlib
    is not installed.
    """
    dlib = pytest.importorskip("dlib")
    factory, file = _DLIB_MODELS[kind]
    build = getattr(dlib, factory)
    return build() if file is None else build(str(require_asset("dlib_models") / file))


def run_cli(*argv) -> tuple[int, str, str]:
    """``facelib ARGV...`` in this process: (exit code, stdout, stderr)."""
    from facelib.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()
