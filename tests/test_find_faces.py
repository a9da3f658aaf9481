"""faces.find_faces: every face of a photo, read once, equal to the chain of the pipeline's steps."""

from __future__ import annotations

import numpy as np

from facelib import faces
from facelib.dlibport import align, detector, landmarks
from facelib.images import load_image


def test_find_faces_is_the_pipeline_chained(asset_dir):
    path = asset_dir("group_photos")
    photo = sorted(p for p in path.rglob("*.jpg"))[0]
    found = faces.find_faces(photo, upsample=0)  # the chaining does not depend on the upsampling
    image = load_image(photo)
    boxes, _ = detector.detect(image, upsample=0)
    points = np.floor(np.stack([landmarks.predict(image, box) for box in boxes]) + 0.5)
    chips = align.face_chips(image, points)
    np.testing.assert_array_equal(found.boxes, boxes)
    np.testing.assert_array_equal(found.chips, chips)
    np.testing.assert_allclose(found.encodings, faces.encode_chips(chips), atol=1e-6)
    assert len(found.boxes) >= 2 and found.encodings.shape == (len(boxes), 128)


def test_find_faces_without_a_face():
    found = faces.find_faces(np.full((64, 64, 3), 128, np.uint8), upsample=0)
    assert found.boxes.shape == (0, 4) and found.chips.shape == (0, 150, 150, 3) and found.encodings.shape == (0, 128)
