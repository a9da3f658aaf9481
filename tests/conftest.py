"""Shared fixtures: real assets, which must be present in CI and may be absent on a laptop."""

from __future__ import annotations

import os

import pytest

from facelib import assets


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
