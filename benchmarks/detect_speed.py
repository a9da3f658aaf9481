"""Seconds per image on CPU: facelib's MMOD face detector (Keras) against dlib's CNN detector.

Both sides detect faces in the same RGB image at the same upsampling, in the same process:
scikit-image's astronaut (512x512) at upsample 0 and 1, and a group photo of the mirror
(``sample1.jpg``, 1920x1280, three faces) at upsample 0. After a warm-up, the two sides
alternate for several rounds so that a change in machine load hits both; the median seconds of
each side and dlib's time divided by facelib's are reported, with how well the boxes agree
(face counts, smallest IoU between matched boxes, largest score difference).

Usage: ``python benchmarks/detect_speed.py [--rounds 3]``
Writes ``benchmarks/results/detect_speed.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _report
import numpy as np
import skimage.data

import facelib
from facelib import assets, detector
from facelib.images import load_image

RESULTS = Path(__file__).resolve().parent / "results" / "detect_speed.json"


def area(boxes: np.ndarray) -> np.ndarray:
    """Pixel count of inclusive (left, top, right, bottom) boxes."""
    return np.prod(boxes[:, 2:] - boxes[:, :2] + 1, axis=1)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of inclusive pixel boxes, every a against every b."""
    lo, hi = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo + 1, 0, None), axis=2)
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    facelib.quiet_tensorflow()
    import dlib

    cases = [
        ("astronaut 512x512", skimage.data.astronaut(), 0),
        ("astronaut 512x512", skimage.data.astronaut(), 1),
        ("group photo sample1.jpg 1920x1280", load_image(assets.locate("group_photos") / "sample1.jpg"), 0),
    ]
    theirs = dlib.cnn_face_detection_model_v1(str(assets.file("dlib_models", detector.MODEL_FILE)))
    ours = detector.FaceDetector()

    def run_dlib(image, upsample):
        t0 = time.perf_counter()
        found = theirs(image, upsample)
        seconds = time.perf_counter() - t0
        boxes = np.array([[d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()] for d in found], float)
        return seconds, boxes.reshape(-1, 4), np.array([d.confidence for d in found])

    def run_facelib(image, upsample):
        t0 = time.perf_counter()
        boxes, scores = ours.detect(image, upsample=upsample)
        return time.perf_counter() - t0, boxes, scores

    ours.detect(cases[0][1], upsample=0)  # warm-up (TensorFlow's first call)
    rows = []
    for name, image, upsample in cases:
        times = {"dlib": [], "facelib": []}
        for _ in range(args.rounds):
            t_dlib, ref_boxes, ref_scores = run_dlib(image, upsample)
            t_ours, boxes, scores = run_facelib(image, upsample)
            times["dlib"].append(t_dlib)
            times["facelib"].append(t_ours)
        matched = iou(ref_boxes, boxes).max(axis=1) if len(boxes) and len(ref_boxes) else np.ones(0)
        row = {
            "image": name,
            "upsample": upsample,
            "dlib_s": float(np.median(times["dlib"])),
            "facelib_s": float(np.median(times["facelib"])),
            "rounds": times,
            "faces_dlib": len(ref_boxes),
            "faces_facelib": len(boxes),
            "min_iou": float(matched.min(initial=1.0)),
            "max_score_difference": float(np.abs(np.sort(scores) - np.sort(ref_scores)).max(initial=0.0))
            if len(scores) == len(ref_scores) else None,
        }
        row["speedup_dlib_over_facelib"] = row["dlib_s"] / row["facelib_s"]
        rows.append(row)
        print(f"{name:36s} upsample {upsample}: dlib {row['dlib_s']:7.2f} s  facelib {row['facelib_s']:6.2f} s  "
              f"x{row['speedup_dlib_over_facelib']:.1f}  faces {row['faces_dlib']}/{row['faces_facelib']}  "
              f"min IoU {row['min_iou']:.3f}", flush=True)
    _report.write(RESULTS, {
        "protocol": f"same image and upsampling for both sides in one process; median over {args.rounds} "
                    "alternating rounds after a warm-up; CPU only; facelib time includes upsampling, pyramid, "
                    "network and suppression",
        "rows": rows,
    }, dlib=dlib.__version__)


if __name__ == "__main__":
    main()
