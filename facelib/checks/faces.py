"""The former home of the triplet-loss checker, now :mod:`facelib.checks.losses`; this import path still works."""

from facelib.checks.losses import check_triplet_loss

__all__ = ["check_triplet_loss"]
