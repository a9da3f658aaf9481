"""LFW verification, the standard protocol: facelib's pipeline and dlib's own, side by side.

Protocol (the project's design notes, "LFW protocol"): the official ``pairs.txt`` (10 folds of
300 matched + 300 mismatched pairs); per image the detected face nearest the image centre (detector upsample 1), else a
fixed centre box (counted); Euclidean distance between descriptors; the threshold tau is
chosen on 9 folds and the accuracy measured on the 10th; mean and std over the folds. Also
ROC AUC and the true accept rate at a false accept rate of 1e-3 (all 6,000 pairs).

Rows:

- ``facelib``: facelib's MMOD detector (``--method detect``; ``center`` skips detection and
  finds the landmarks in the centre box, valid for the deep-funneled images), 5 landmarks,
  aligned chip, the Keras ResNet.
- ``facelib + flip``: the descriptor is the mean of the chip's and its mirror image's.
- ``facelib + flip + N jitters`` (``--jitter N``): mean over the chip, its mirror and N
  random jitters (dlib's ``jitter_image``).
- ``dlib`` (``--dlib``): ``face_recognition`` 1.3 with dlib's HOG detector (upsample 1), no
  jitter. Without ``--dlib`` the dlib row stored in the results file is reused, with its date.

Usage: ``python benchmarks/lfw.py [--method detect|center] [--jitter N] [--dlib] [--folds 10]``
Writes ``benchmarks/results/lfw.json`` and ``benchmarks/results/lfw_roc.png``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

import _report
import matplotlib
import numpy as np
from tqdm import tqdm

import facelib
from facelib import faces
from facelib.images import load_image
from facelib.recognition import datasets, encoding_cache, verify

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _scores(first, second, same, folds) -> dict:
    d = verify.distances(first, second)
    kfold = verify.kfold_accuracy(d, same, folds)
    curve = verify.roc(d, same)
    return {"accuracy": kfold.mean, "accuracy_std": kfold.std, "auc": curve.auc,
            "tar_at_far_1e-3": curve.tar_at_far(1e-3), "_roc": (curve.far, curve.tar)}


def facelib_chips(files: list[Path], method: str, upsample: int) -> tuple[np.ndarray, int, float]:
    """Aligned chips of every file, how many fell back to the centre box, seconds per image."""
    chips, fallbacks = [], 0
    start = time.perf_counter()
    for path in tqdm(files, desc=f"facelib {method}", unit="img"):
        if method == "detect":
            chip, detected = faces.align_faces([path], upsample=upsample, fallback=True)  # counted below
            chips.append(chip[0])
            fallbacks += int(not detected[0])
        else:
            chips.append(encoding_cache.chip_of(path, "center"))
    return np.stack(chips), fallbacks, (time.perf_counter() - start) / len(files)


def dlib_encodings(files: list[Path], upsample: int) -> tuple[np.ndarray, int, float]:
    """dlib's own pipeline through face_recognition: HOG detector, nearest-centre face, no jitter."""
    import face_recognition

    rows, fallbacks = [], 0
    start = time.perf_counter()
    for path in tqdm(files, desc="dlib hog", unit="img"):
        image = load_image(path)
        h, w = image.shape[:2]
        boxes = face_recognition.face_locations(image, upsample, model="hog")  # (top, right, bottom, left)
        if boxes:
            box = min(boxes, key=lambda b: ((b[1] + b[3]) / 2 - w / 2) ** 2 + ((b[0] + b[2]) / 2 - h / 2) ** 2)
        else:
            left, top, right, bottom = faces.center_box(image.shape)
            box, fallbacks = (int(top), int(right), int(bottom), int(left)), fallbacks + 1
        rows.append(face_recognition.face_encodings(image, [box], num_jitters=0)[0])
    return np.array(rows, np.float32), fallbacks, (time.perf_counter() - start) / len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--method", choices=encoding_cache.METHODS, default="detect")
    parser.add_argument("--upsample", type=int, default=1)
    parser.add_argument("--jitter", type=int, default=0, help="random jitters added to chip + mirror")
    parser.add_argument("--dlib", action="store_true", help="measure dlib's row in this run")
    parser.add_argument("--folds", type=int, default=10, help="use the first N folds, 2 to 10 (quick runs)")
    args = parser.parse_args()
    if not 2 <= args.folds <= 10:
        parser.error("--folds must be 2 to 10: the threshold is chosen on the other folds")
    facelib.quiet_tensorflow()

    pairs = datasets.lfw_pairs()
    keep = pairs.fold < args.folds
    first, second, same, folds = pairs.first[keep], pairs.second[keep], pairs.same[keep], pairs.fold[keep]
    files = list(dict.fromkeys([*first, *second]))
    row_of = {f: i for i, f in enumerate(files)}
    a, b = [row_of[f] for f in first], [row_of[f] for f in second]
    print(f"LFW: {len(same)} pairs in {args.folds} folds, {len(files)} images")

    chips, fallbacks, per_image = facelib_chips(files, args.method, args.upsample)
    start = time.perf_counter()
    plain = faces.encode_chips(chips)
    flipped = faces.encode_chips(chips[:, :, ::-1])
    encode_s = (time.perf_counter() - start) / (2 * len(files))
    protocol = {"method": args.method, "upsample": args.upsample, "folds": args.folds, "pairs": int(len(same)),
                "images": len(files), "distance": "euclidean", "threshold": "chosen on the other folds"}
    rows = {
        "facelib": {**_scores(plain[a], plain[b], same, folds), "centre_box_fallbacks": fallbacks,
                    "seconds_per_image_align": per_image, "seconds_per_chip_encode": encode_s},
        "facelib + flip": _scores(((plain + flipped) / 2)[a], ((plain + flipped) / 2)[b], same, folds),
    }
    if args.jitter:
        rng = np.random.default_rng(0)
        total = plain + flipped
        for _ in tqdm(range(args.jitter), desc="jitters"):
            total += faces.encode_chips(np.stack([faces.jitter_chip(c, rng) for c in chips]))
        tta = total / (2 + args.jitter)
        rows[f"facelib + flip + {args.jitter} jitters"] = _scores(tta[a], tta[b], same, folds)

    out = RESULTS / "lfw.json"
    previous = json.loads(out.read_text()) if out.exists() else {}
    if args.dlib:
        enc, dlib_fallbacks, dlib_per_image = dlib_encodings(files, args.upsample)
        rows["dlib (face_recognition, HOG)"] = {**_scores(enc[a], enc[b], same, folds),
                                                "centre_box_fallbacks": dlib_fallbacks,
                                                "seconds_per_image": dlib_per_image,
                                                "measured": datetime.date.today().isoformat()}
    elif "dlib (face_recognition, HOG)" in previous.get("rows", {}) and previous.get("protocol", {}).get(
            "folds") == args.folds:
        rows["dlib (face_recognition, HOG)"] = previous["rows"]["dlib (face_recognition, HOG)"]

    print(f"\n{'pipeline':36s} {'accuracy':>16s} {'AUC':>7s} {'TAR@FAR=1e-3':>13s}")
    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    for name, row in rows.items():
        print(f"{name:36s} {100 * row['accuracy']:7.2f}% +- {100 * row['accuracy_std']:4.2f} "
              f"{row['auc']:7.4f} {row['tar_at_far_1e-3']:13.3f}")
        if "_roc" in row:
            far, tar = row.pop("_roc")
            ax.plot(np.maximum(far, 1e-4), tar, label=f"{name} (AUC {row['auc']:.4f})")
    ax.set(xscale="log", xlabel="false accept rate", ylabel="true accept rate", title="LFW, official 10 folds")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(RESULTS / "lfw_roc.png")
    _report.write(out, {"protocol": protocol, "rows": rows})


if __name__ == "__main__":
    main()
