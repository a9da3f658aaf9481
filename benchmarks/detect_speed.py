"""Seconds per image on CPU: facelib's MMOD face detector (Keras) against dlib's CNN detector.

Both sides detect faces in the same RGB image at the same upsampling, in the same process:
scikit-image's astronaut (512x512) at upsample 0 and 1, and a group photo of the mirror
(``sample1.jpg``, 1920x1280, three faces) at upsample 0. After a warm-up, the two sides
alternate for several rounds so that a change in machine load hits both; the median seconds of
each side and dlib's time divided by facelib's are reported, with how well the boxes agree
(face counts, smallest IoU between matched boxes, largest score difference).

A 12 MP photo (``sample1.jpg`` enlarged to 4240x2830 with Lanczos, faces about 420 px wide)
is then detected once per side, each in a fresh subprocess that reports its seconds and its
peak resident memory (``VmHWM``): facelib at ``upsample=1`` (its default; large photos are
searched on a 2^22-pixel copy), dlib through ``face_recognition.face_locations(model="cnn")``
at ``number_of_times_to_upsample=0`` (dlib's own pyramid on the full photo; at 1 it would build
a 48 MP pyramid), and, with ``--before REV``, the detector of git revision ``REV`` (e.g. the
main branch before the bounded-memory change) at ``upsample=1``, which ran its pyramid on the
whole upsampled photo. Each subprocess first runs its detector on a small image, so one-time
start-up (TensorFlow's first call) is not timed; its memory is in the peak.

Usage: ``python benchmarks/detect_speed.py [--rounds 3] [--before REV]``
Writes ``benchmarks/results/detect_speed.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _report
import numpy as np
import skimage.data

import facelib
from facelib import assets
from facelib.dlibport import detector
from facelib.images import load_image

RESULTS = Path(__file__).resolve().parent / "results" / "detect_speed.json"
LARGE_SIZE = (4240, 2830)  # 12.0 MP, the 3:2 shape of sample1.jpg


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def large_photo() -> np.ndarray:
    """The 12 MP test photo: the mirror's sample1.jpg enlarged with Lanczos."""
    from PIL import Image

    photo = Image.open(assets.locate("group_photos") / "sample1.jpg").convert("RGB")
    return np.asarray(photo.resize(LARGE_SIZE, Image.Resampling.LANCZOS))


def child(side: str, path: str, upsample: int, module: str | None) -> None:
    """Detect faces in the .npy image at ``path`` once; print seconds, boxes and peak memory as JSON."""
    image = np.load(path)
    warm = skimage.data.astronaut()[::2, ::2]
    if side == "dlib":
        import face_recognition

        face_recognition.face_locations(warm, 0, model="cnn")
        t0 = time.perf_counter()
        found = face_recognition.face_locations(image, upsample, model="cnn")
        seconds = time.perf_counter() - t0
        boxes = [[left, top, right, bottom] for top, right, bottom, left in found]
    else:
        facelib.quiet_tensorflow()
        if module:  # another revision's detector.py, run against this facelib
            spec = importlib.util.spec_from_file_location("detector_under_test", module)
            det = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # dataclasses look it up
            spec.loader.exec_module(det)
        else:
            det = detector
        det.detect(warm, upsample=0)
        t0 = time.perf_counter()
        found, _ = det.detect(image, upsample=upsample)
        seconds = time.perf_counter() - t0
        boxes = found.astype(int).tolist()
    print(json.dumps({"seconds": seconds, "boxes": boxes, "peak_rss_mb": peak_rss_mb()}))


def measure(side: str, path: Path, upsample: int, module: Path | None = None) -> dict:
    """Run :func:`child` in a fresh Python; its JSON, or the way it failed."""
    command = [sys.executable, __file__, "--child", side, str(path), str(upsample), str(module or "")]
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        return {"failed": f"exit {done.returncode} after {time.perf_counter() - t0:.0f} s",
                "stderr_tail": done.stderr[-600:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def large_rows(before: str | None) -> list[dict]:
    """The 12 MP photo through facelib, dlib and (optionally) revision ``before``, one subprocess each."""
    image = large_photo()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo.npy"
        np.save(path, image)
        runs = [("facelib", 1, None), ("dlib (face_recognition cnn)", 0, None)]
        if before:
            old = Path(tmp) / "detector_before.py"
            old.write_bytes(subprocess.run(["git", "show", f"{before}:facelib/detector.py"], check=True,
                                           capture_output=True, cwd=Path(__file__).parent).stdout)
            runs.append((f"facelib before ({before})", 1, old))
        for name, upsample, module in runs:
            result = measure("dlib" if name.startswith("dlib") else "facelib", path, upsample, module)
            row = {"image": f"sample1.jpg enlarged to {LARGE_SIZE[0]}x{LARGE_SIZE[1]} (12.0 MP)",
                   "side": name, "upsample": upsample, **result}
            if "boxes" in result:
                row["faces"] = len(result["boxes"])
            rows.append(row)
            print(f"12 MP photo  {name:30s} upsample {upsample}: "
                  + (f"{row['seconds']:7.1f} s  peak {row['peak_rss_mb']:6.0f} MiB  faces {row['faces']}"
                     if "seconds" in row else row["failed"]), flush=True)
    ours = np.array(rows[0].get("boxes", []), float).reshape(-1, 4)
    theirs = np.array(rows[1].get("boxes", []), float).reshape(-1, 4)
    if len(ours) and len(theirs):
        rows[0]["min_iou_with_dlib"] = float(iou(theirs, ours).max(axis=1).min())
    return rows


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
    parser.add_argument("--before", help="also time this git revision's detector on the 12 MP photo")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        side, path, upsample, module = args.child
        return child(side, path, int(upsample), module or None)
    large = large_rows(args.before)
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
        "large_photo_protocol": "one detection per side, each in a fresh subprocess after a warm-up call on a "
                                "256x256 image; seconds of the one call, peak resident memory (VmHWM) of the "
                                "whole subprocess (TensorFlow or dlib included)",
        "large_photo": large,
    }, dlib=dlib.__version__)


if __name__ == "__main__":
    main()
