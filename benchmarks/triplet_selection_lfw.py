"""Triplet selection on LFW: random vs batch-hard vs semi-hard, equal training seconds, several seeds.

The LFW version of notebook 02's comparison. A small encoder (:func:`facelib.metric.siamese.small_encoder`)
is trained from scratch for the same number of training seconds per strategy and seed on LFW's
View 1 training people (``peopleDevTrain.txt``, those with at least ``--min-images`` images), and
tested on the official ``pairsDevTest.txt`` (500 matched + 500 mismatched pairs), whose people
are disjoint from the training people (checked). Images: the deep-funneled 250x250 photos,
the central 110x110 box (where LFW's faces are) resized to ``--size`` pixels, RGB.

Reported per run: steps, AUC and TAR at FAR = 1e-2 on the test pairs, and accuracy with the
threshold chosen on ``pairsDevTrain.txt`` (training people); per strategy the mean over seeds and
its difference from random's. All runs share one process and alternate strategies within each
seed, so a change in machine load hits every strategy alike.

Usage: ``python benchmarks/triplet_selection_lfw.py [--seconds 60] [--seeds 0 1] [--size 64]``
Writes ``benchmarks/results/triplet_selection_lfw.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _report
import numpy as np

import facelib
from facelib import assets
from facelib.metric import siamese
from facelib.recognition import datasets, verify

RESULTS = Path(__file__).resolve().parent / "results" / "triplet_selection_lfw.json"
STRATEGIES = ("random", "batch_hard", "semi_hard")
_BOX = (70, 180)   # rows and columns of LFW's central face box


def _people_file(root: Path, name: str) -> set[str]:
    return {line.split()[0] for line in (root / name).read_text().splitlines()[1:] if line.strip()}


def load(paths, size: int) -> np.ndarray:
    """Central face box of each LFW photo, resized to size x size, uint8 RGB."""
    from PIL import Image

    from facelib.images import load_image

    lo, hi = _BOX
    return np.stack([np.asarray(Image.fromarray(load_image(p)[lo:hi, lo:hi]).resize((size, size),
                                                                                    Image.Resampling.BILINEAR))
                     for p in paths])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="training seconds per strategy and seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--min-images", type=int, default=4)
    args = parser.parse_args()
    facelib.quiet_tensorflow()

    root = assets.locate("lfw")
    train_people = _people_file(root, "peopleDevTrain.txt")
    test_people = _people_file(root, "peopleDevTest.txt")
    people = datasets.lfw_people(args.min_images, root)
    keep = np.isin(np.array(people.names)[people.labels], sorted(train_people))
    test_pairs = datasets.lfw_pairs("test", root)
    threshold_pairs = datasets.lfw_pairs("train", root)
    in_test = {p.parent.name for p in np.concatenate([test_pairs.first, test_pairs.second])}
    overlap = in_test & {people.names[k] for k in np.unique(people.labels[keep])}
    if overlap or not in_test <= test_people:
        raise SystemExit(f"identity overlap between training people and test pairs: {sorted(overlap)[:5]}")

    start = time.perf_counter()
    x_train, y_train = load(people.items[keep], args.size), people.labels[keep]
    test_images = (load(test_pairs.first, args.size), load(test_pairs.second, args.size))
    tau_images = (load(threshold_pairs.first, args.size), load(threshold_pairs.second, args.size))
    print(f"{len(x_train)} training images of {len(np.unique(y_train))} people, {len(test_pairs)} test pairs; "
          f"loaded in {time.perf_counter() - start:.0f} s", flush=True)

    def distances(encoder, images) -> np.ndarray:
        return verify.distances(siamese.embed(encoder, images[0]), siamese.embed(encoder, images[1]))

    runs = []
    for seed in args.seeds:
        for strategy in STRATEGIES:
            facelib.set_seed(seed)
            encoder = siamese.small_encoder((args.size, args.size, 3), 64, seed=seed)
            untrained = verify.roc(distances(encoder, test_images), test_pairs.same).auc
            history = siamese.train_encoder(encoder, x_train, y_train, strategy, args.seconds, people=16,
                                            images_per_person=4, seed=seed)
            d = distances(encoder, test_images)
            tau = verify.best_threshold(distances(encoder, tau_images), threshold_pairs.same)
            roc = verify.roc(d, test_pairs.same)
            run = {"strategy": strategy, "seed": seed, "steps": history.steps[-1], "untrained_auc": untrained,
                   "auc": roc.auc, "tar_at_far_1e-2": roc.tar_at_far(1e-2), "threshold": tau,
                   "accuracy": verify.accuracy(d, test_pairs.same, tau)}
            runs.append(run)
            print(f"seed {seed} {strategy:10s} {run['steps']:5d} steps  AUC {run['auc']:.4f} "
                  f"(untrained {untrained:.4f})  TAR@FAR=1e-2 {run['tar_at_far_1e-2']:.4f}  "
                  f"accuracy {run['accuracy']:.4f}", flush=True)

    summary = {}
    for strategy in STRATEGIES:
        mine = [r for r in runs if r["strategy"] == strategy]
        summary[strategy] = {k: float(np.mean([r[k] for r in mine])) for k in ("auc", "accuracy", "steps")}
    for strategy in STRATEGIES:
        summary[strategy]["auc_minus_random"] = summary[strategy]["auc"] - summary["random"]["auc"]
        print(f"{strategy:10s} mean AUC {summary[strategy]['auc']:.4f} "
              f"({summary[strategy]['auc_minus_random']:+.4f} vs random), "
              f"mean accuracy {summary[strategy]['accuracy']:.4f}", flush=True)
    _report.write(RESULTS, {
        "protocol": (f"small encoder from scratch, {args.seconds:g} training s per strategy and seed, P x K = 16 x 4, "
                     f"alpha 0.2, Adam 1e-3; train: peopleDevTrain people with >= {args.min_images} images, "
                     f"central 110x110 box resized to {args.size}x{args.size} RGB; test: pairsDevTest.txt "
                     "(identity-disjoint); threshold chosen on pairsDevTrain.txt"),
        "runs": runs, "summary": summary})


if __name__ == "__main__":
    main()
