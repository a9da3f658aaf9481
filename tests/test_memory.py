"""Peak memory of face detection on the largest photos it accepts, each in a fresh subprocess.

The bound is asserted on the subprocess's peak resident memory (``VmHWM`` in
``/proc/self/status``, TensorFlow included), not with ``RLIMIT_AS``: TensorFlow alone reserves
about 1.6 GB of address space it never touches. Speed is measured in
``benchmarks/detect_speed.py``, never here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facelib.dlibport import detector

pytestmark = pytest.mark.system  # make test-system (see pyproject.toml's markers)

pytest.importorskip("dlib")  # same environment as the parity tests (CI installs it)
if not Path("/proc/self/status").exists():
    pytest.skip("peak memory is read from /proc (Linux only)", allow_module_level=True)

BOUND_MIB = 2048  # issue 12: any photo the detector accepts, in at most 2 GB

# The child makes its photo from a mirror group photo (three faces), then detects; it prints
# its peak resident memory, the photo's size and the boxes as one JSON line.
CHILD = """
import json, sys
from pathlib import Path
import numpy as np
from PIL import Image
import facelib
facelib.quiet_tensorflow()
from facelib.dlibport import detector
from facelib.images import load_image

source, cols, rows, upsample, jpeg = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
detector.detect(np.zeros((64, 64, 3), np.uint8), upsample=0)  # TensorFlow and the model, loaded
photo = Image.open(source).convert("RGB").resize((cols, rows), Image.Resampling.BILINEAR)
if jpeg:  # through a file, as the command line reads photos
    photo.save(jpeg, quality=90)
    del photo
    pixels = load_image(jpeg)
else:
    pixels = np.asarray(photo)
    del photo
boxes, scores = detector.detect(pixels, upsample=upsample)
hwm = [line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:")]
print(json.dumps({"peak_mib": int(hwm[0].split()[1]) / 1024, "shape": list(pixels.shape),
                  "boxes": boxes.tolist()}))
"""


def _detect_in_child(source: Path, cols: int, rows: int, upsample: int, jpeg: Path | str = "") -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(source), str(cols), str(rows), str(upsample), str(jpeg)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _scaled_reference(source: Path, cols: int, rows: int) -> np.ndarray:
    """dlib-exact boxes of the original group photo, scaled to a cols x rows enlargement."""
    from facelib.images import load_image

    image = load_image(source)
    boxes, _ = detector.detect(image, upsample=0)
    factor = np.array([cols / image.shape[1], rows / image.shape[0]] * 2)
    return (boxes + [0, 0, 1, 1]) * factor - [0, 0, 1, 1]


def _assert_same_places(found: np.ndarray, expected: np.ndarray) -> None:
    assert len(found) == len(expected), f"{len(found)} faces found, {len(expected)} expected"
    for box in expected:
        lo, hi = np.maximum(found[:, :2], box[:2]), np.minimum(found[:, 2:], box[2:])
        inter = np.prod(np.clip(hi - lo + 1, 0, None), axis=1)
        union = np.prod(found[:, 2:] - found[:, :2] + 1, axis=1) + np.prod(box[2:] - box[:2] + 1) - inter
        assert (inter / union).max() > 0.6, f"no face found near {box.round().tolist()}"


def test_photo_at_the_pixel_limit_from_a_jpeg_stays_under_2gb(asset_dir, tmp_path):
    # the largest photo accepted (3:2, just under MAX_PIXELS = 100 MP), read from a JPEG file,
    # at the command line's default upsample=1: searched on a 2^22-pixel copy
    source = asset_dir("group_photos") / "sample1.jpg"
    cols, rows = 12247, 8165
    assert cols * rows <= detector.MAX_PIXELS < (cols + 1) * (rows + 1)
    result = _detect_in_child(source, cols, rows, upsample=1, jpeg=tmp_path / "huge.jpg")
    assert result["shape"] == [rows, cols, 3]
    assert result["peak_mib"] < BOUND_MIB, f"peak {result['peak_mib']:.0f} MiB"
    _assert_same_places(np.array(result["boxes"]), _scaled_reference(source, cols, rows))


def test_largest_upsampled_image_stays_under_2gb(asset_dir):
    # the largest image searched exactly as dlib does with upsample=1: a 16.7 MP pyramid
    cols = rows = 2040
    assert detector._upsampled_pixels(rows, cols, 1) <= detector.MAX_UPSAMPLED_PIXELS
    source = asset_dir("group_photos") / "sample1.jpg"
    result = _detect_in_child(source, cols, rows, upsample=1)
    assert result["peak_mib"] < BOUND_MIB, f"peak {result['peak_mib']:.0f} MiB"
    assert len(result["boxes"]) == 3
