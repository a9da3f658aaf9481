"""Reproducible runs: one seed for Python, NumPy and TensorFlow, and quiet logs."""

from __future__ import annotations

import logging
import warnings

from facelib.validation import check_int


def quiet_tensorflow() -> None:
    """Silence TensorFlow's and absl's informational logging (errors still show).

    TensorFlow's C++ start-up chatter is silenced by ``TF_CPP_MIN_LOG_LEVEL=2``, which importing
    :mod:`facelib` sets (unless the environment already sets it) before TensorFlow loads.
    """
    import tensorflow as tf

    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="keras")


def set_seed(seed: int = 0, deterministic: bool = True) -> None:
    """Seed Python, NumPy, TensorFlow and Keras; optionally make TF ops deterministic.

    Python's string hashing (``PYTHONHASHSEED``) is fixed when the interpreter starts and cannot
    be changed from inside it; nothing here depends on it (set it in the environment if you need
    set iteration order to repeat across runs).

    Parameters
    ----------
    seed : int
        The one seed for every generator.
    deterministic : bool
        Call ``tf.config.experimental.enable_op_determinism()`` so that repeated runs on
        the same machine give the same numbers (some ops get slower).
    """
    seed = check_int("seed", seed, minimum=0)
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(int(seed))  # seeds Python's random, NumPy's global RNG and TensorFlow
    if deterministic:
        tf.config.experimental.enable_op_determinism()
