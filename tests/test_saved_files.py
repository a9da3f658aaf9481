"""Files saved before facelib moved into subpackages still load: Keras models with facelib's layers, a database.

``tests/data/before_layout/`` was written by the flat layout (commit 7664928): two ``.keras`` models holding
facelib's registered layers (``ChiSquare``; ``ChannelAffine`` and ``ZeroPadAdd``) and a ``FaceDatabase``
of three people, with the models' outputs on fixed inputs in ``expected.json``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import numpy as np

from facelib.dlibport import encoder
from facelib.recognition import verify
from facelib.recognition.database import FaceDatabase

DATA = Path(__file__).resolve().parent / "data" / "before_layout"
EXPECTED = json.loads((DATA / "expected.json").read_text())


def test_binary_head_saved_before_the_move_loads_and_predicts_the_same():
    head = keras.models.load_model(DATA / "binary_head_chi2.keras")
    assert isinstance(head.get_layer("chi2"), verify.ChiSquare)
    pair = [np.array([[0.1, 0.2, 0.3, 0.4]], "float32"), np.array([[0.4, 0.1, 0.2, 0.3]], "float32")]
    np.testing.assert_allclose(np.asarray(head(pair)), EXPECTED["binary_head_chi2"], rtol=1e-6)


def test_dlib_layers_saved_before_the_move_load_and_compute_the_same():
    model = keras.models.load_model(DATA / "dlib_layers.keras")
    assert isinstance(model.get_layer("affine"), encoder.ChannelAffine)
    assert isinstance(model.get_layer("add"), encoder.ZeroPadAdd)
    x = np.arange(32, dtype="float32").reshape(1, 4, 4, 2) / 32
    np.testing.assert_allclose(np.asarray(model(x)), EXPECTED["dlib_layers"], rtol=1e-6)


def test_database_saved_before_the_move_loads(tmp_path):
    path = shutil.copy(DATA / "people.npz", tmp_path / "people.npz")
    database = FaceDatabase.load(path)
    assert database.names == EXPECTED["names"]
    assert len(database.names) == 3
