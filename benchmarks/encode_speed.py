"""Faces per second on CPU: facelib's Keras encoder (batched) against dlib's, on the same aligned chips.

Chips: LFW images drawn with a fixed seed, each face found by dlib's HOG detector and 5-point
predictor and cut by ``facelib.faces.face_chips`` (identical to ``dlib.get_face_chip``). Both sides
encode exactly these chips: facelib with ``encode_chips`` (one TensorFlow graph per batch), dlib with
``face_recognition_model_v1.compute_face_descriptor`` on the list of chips (its own batches of 16).
After a warm-up, the two sides alternate for several rounds so that a change in machine load hits
both; the median faces/s of each side and their ratio are reported. The script also times loading
the encoder: first conversion from the ``.dat`` file and loading the cached ``.weights.h5``.

Usage: ``python benchmarks/encode_speed.py [--faces 64] [--rounds 3] [--batch-sizes 16 32 64]``
Writes ``benchmarks/results/encode_speed.json``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _report
import numpy as np

import facelib
from facelib import assets, faces
from facelib.images import load_image

RESULTS = Path(__file__).resolve().parent / "results" / "encode_speed.json"


def lfw_chips(count: int, seed: int = 0) -> np.ndarray:
    """Aligned chips of ``count`` LFW faces (dlib's HOG detector and 5-point landmarks)."""
    import dlib

    models = assets.locate("dlib_models")
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
    files = sorted((assets.locate("lfw") / "lfw_funneled").glob("*/*.jpg"))
    chips = []
    for index in np.random.default_rng(seed).permutation(len(files)):
        image = load_image(files[index])
        boxes = detector(image, 1)
        if boxes:
            points = [(p.x, p.y) for p in predictor(image, boxes[0]).parts()]
            chips.append(faces.face_chips(image, points))
        if len(chips) == count:
            return np.stack(chips)
    raise RuntimeError("not enough faces found")


_LOAD_SNIPPET = """
import json, sys, time
from facelib import faces
t0, c0 = time.perf_counter(), time.process_time()
faces.load_encoder(sys.argv[1])
print(json.dumps([time.perf_counter() - t0, time.process_time() - c0]))
"""


def load_times() -> dict:
    """Wall and CPU seconds to get the encoder in a fresh process (imports excluded): first from
    the .dat file (conversion), then from the checked cache of converted weights."""
    dat = assets.file("dlib_models", faces.RESNET_FILE)
    times = {}
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "FACELIB_HOME": home, "TF_CPP_MIN_LOG_LEVEL": "3"}
        for label in ("first_load_with_conversion", "cached_load"):
            run = subprocess.run(
                [sys.executable, "-c", _LOAD_SNIPPET, str(dat)], env=env, capture_output=True, text=True, check=True
            )
            wall, cpu = json.loads(run.stdout.strip().splitlines()[-1])
            times[f"{label}_wall_s"], times[f"{label}_cpu_s"] = wall, cpu
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32, 64])
    args = parser.parse_args()
    facelib.quiet_tensorflow()
    import dlib

    loading = load_times()
    print(
        f"encoder load: {loading['first_load_with_conversion_wall_s']:.2f} s with conversion, "
        f"{loading['cached_load_wall_s']:.2f} s from the cache ({loading['cached_load_cpu_s']:.2f} s CPU)",
        flush=True,
    )
    chips = lfw_chips(args.faces)
    recognizer = dlib.face_recognition_model_v1(str(assets.file("dlib_models", faces.RESNET_FILE)))
    chip_list = list(chips)

    def dlib_rate() -> float:
        t0 = time.perf_counter()
        recognizer.compute_face_descriptor(chip_list)
        return len(chips) / (time.perf_counter() - t0)

    def facelib_rate(batch_size: int) -> float:
        t0 = time.perf_counter()
        faces.encode_chips(chips, batch_size=batch_size)
        return len(chips) / (time.perf_counter() - t0)

    sides = {"dlib": dlib_rate, **{f"facelib_batch_{b}": functools.partial(facelib_rate, b) for b in args.batch_sizes}}
    rates = _report.alternate(sides, args.rounds)
    dlib_median = float(np.median(rates["dlib"]))
    rows = []
    for name, values in rates.items():
        row = {"encoder": name, "faces_per_s": float(np.median(values)), "rounds": values}
        row["ratio_to_dlib"] = row["faces_per_s"] / dlib_median
        rows.append(row)
        print(f"{name:18s} {row['faces_per_s']:7.2f} faces/s  ratio to dlib {row['ratio_to_dlib']:.2f}x", flush=True)
    ours = faces.encode_chips(chips[:8])
    theirs = np.array(recognizer.compute_face_descriptor(chip_list[:8]))
    _report.write(RESULTS, {
        "protocol": f"{args.faces} aligned LFW chips (seed 0), the same chips for both sides; median over "
                    f"{args.rounds} alternating rounds after a warm-up; CPU only",
        "encoder_load": loading,
        "max_abs_difference_to_dlib_first_8": float(np.abs(ours - theirs).max()),
        "rows": rows,
    }, dlib=dlib.__version__)


if __name__ == "__main__":
    main()
