"""LFW deep-funneled images: full pipeline (CNN detector + landmarks) against centre box + landmarks.

Both sides encode the same images of the first ``--pairs`` pairs of the official fold 1
(half matched, half mismatched) with the same encoder; only how the face is found differs
(:data:`facelib.recognition.encoding_cache.METHODS`). Reported per side: seconds per image (no cache),
verification accuracy (threshold chosen on 9 of 10 interleaved sub-folds, measured on the
tenth) and AUC; and how far apart the two sides' encodings of the same image are.

Usage: ``python benchmarks/lfw_alignment.py [--pairs 200]``
Writes ``benchmarks/results/lfw_alignment.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import _report
import numpy as np

import facelib
from facelib import faces
from facelib.recognition import datasets, encoding_cache, verify

RESULTS = Path(__file__).resolve().parent / "results" / "lfw_alignment.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=200)
    args = parser.parse_args()
    facelib.quiet_tensorflow()
    pairs = datasets.lfw_pairs()
    half = args.pairs // 2
    index = np.concatenate([np.arange(half), 300 + np.arange(half)])  # fold 1: 300 matched, then 300 mismatched
    first, second, same = pairs.first[index], pairs.second[index], pairs.same[index]
    files = list(dict.fromkeys([*first, *second]))
    faces.encode_chips(np.zeros((1, 150, 150, 3), np.uint8))  # build the encoder outside the timing
    row = {f: i for i, f in enumerate(files)}
    result = {"pairs": len(index), "images": len(files), "methods": {}}
    enc = {}
    for method in encoding_cache.METHODS:
        start = time.perf_counter()
        enc[method] = encoding_cache.encode_files(files, method=method, use_cache=False)
        seconds = time.perf_counter() - start
        d = verify.distances(enc[method][[row[f] for f in first]], enc[method][[row[f] for f in second]])
        folds = np.arange(len(d)) % 10
        acc = verify.kfold_accuracy(d, same, folds)
        result["methods"][method] = {"seconds_per_image": seconds / len(files), "accuracy": acc.mean,
                                     "accuracy_std": acc.std, "auc": verify.roc(d, same).auc}
        print(method, result["methods"][method], flush=True)
    gap = verify.distances(enc["center"], enc["detect"])
    result["encoding_gap"] = {"median": float(np.median(gap)), "max": float(gap.max()),
                              "above_0.3": int((gap > 0.3).sum())}
    times = [result["methods"][m]["seconds_per_image"] for m in encoding_cache.METHODS]
    result["speedup_center_over_detect"] = times[1] / times[0]
    print(json.dumps(result, indent=2))
    _report.write(RESULTS, result)


if __name__ == "__main__":
    main()
