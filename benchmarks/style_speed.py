"""Seconds per style-transfer step (``stylize`` against the eager TensorFlow-tutorial loop), and ``facelib stylize``
from start to finish.

Both sides compute the same cost J(G) = alpha J_content + beta J_style (+ no TV) on the same backbone,
image size, layers and Adam settings; the eager side is written out here the way the TensorFlow
tutorial "Neural style transfer" does it: a Python loop of ``tf.GradientTape`` steps, no ``tf.function``.
Steps are timed after a warm-up, alternating the two sides in rounds so that a change in machine
load hits both. VGG19 runs with random weights (``weights=None``): speed does not depend on them.

The command-line rows time ``python -m facelib stylize CONTENT STYLE -o OUT --size N -q`` as a new process
(Python and TensorFlow start-up, loading, every coarse-to-fine size with the recipe's steps, saving), the median
of ``--cli-rounds`` runs, sizes alternating.

Usage: ``python benchmarks/style_speed.py [--steps 20] [--rounds 3] [--sizes 256 400] [--cli-sizes 256 512]``
Writes ``benchmarks/results/style_speed.json``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _report
import numpy as np

import facelib
from facelib import assets
from facelib.convnets import backbones, style
from facelib.images import resize

RESULTS = Path(__file__).resolve().parent / "results" / "style_speed.json"


def eager_steps(extractor, backbone, content, style_image, content_layer, style_weights, alpha, beta,
                learning_rate, steps):
    """The tutorial's way: targets once, then GradientTape steps in a Python loop (eager)."""
    import keras
    import tensorflow as tf

    def gram(a):
        return tf.linalg.einsum("bijc,bijd->bcd", a, a)

    a_C = extractor(backbones.preprocess(content, backbone))[content_layer]
    style_acts = extractor(backbones.preprocess(style_image, backbone))
    grams_S = {n: gram(style_acts[n]) for n in style_weights}
    image = tf.Variable(style.initial_image(content[0], "blend")[None])
    opt = keras.optimizers.Adam(learning_rate=learning_rate, epsilon=1e-1)

    def step():
        with tf.GradientTape() as tape:
            acts = extractor(backbones.preprocess(image, backbone))
            n_H, n_W, n_C = a_C.shape[1:]
            J_content = tf.reduce_sum(tf.square(acts[content_layer] - a_C)) / (4.0 * n_H * n_W * n_C)
            J_style = 0.0
            for name, weight in style_weights.items():
                n_H, n_W, n_C = acts[name].shape[1:]
                J_style += weight * tf.reduce_sum(tf.square(gram(acts[name]) - grams_S[name])) / (
                    2.0 * n_H * n_W * n_C) ** 2
            J = alpha * J_content + beta * J_style
        opt.apply_gradients([(tape.gradient(J, image), image)])
        image.assign(tf.clip_by_value(image, 0.0, 255.0))
        return float(J)

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps


def padded(images: np.ndarray) -> np.ndarray:
    """``images`` with stylize's mirrored margin, so both sides compute on the same number of pixels."""
    m = style.EDGE_PAD
    return np.pad(images, [(0, 0), (m, m), (m, m), (0, 0)], mode="reflect")


def command_seconds(content: Path, style_image: Path, sizes: list[int], rounds: int) -> list[dict]:
    """Wall-clock seconds of ``facelib stylize`` at each size (median of ``rounds``; sizes alternate)."""
    with tempfile.TemporaryDirectory() as folder:
        def run(size: int) -> float:
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "facelib", "stylize", str(content), str(style_image), "-o",
                            str(Path(folder) / f"out_{size}.png"), "--size", str(size), "-q"], check=True)
            return time.perf_counter() - start

        seconds = _report.alternate({str(size): (lambda size=size: run(size)) for size in sizes}, rounds,
                                    warm_up=False)
    rows = [{"command": f"facelib stylize --size {size}", "size": size, "rounds": rounds,
             "seconds_median": float(np.median(seconds[str(size)])), "seconds": seconds[str(size)]}
            for size in sizes]
    for row in rows:
        print(f"{row['command']}: {row['seconds_median']:.1f} s (median of {rounds})", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 400])
    parser.add_argument("--backbones", nargs="+", default=list(backbones.NAMES))
    parser.add_argument("--cli-sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--cli-rounds", type=int, default=3)
    args = parser.parse_args()
    facelib.quiet_tensorflow()

    content_path = assets.locate("nst_content") / "chelsea.png"
    style_path = assets.locate("nst_style") / "van_gogh_starry_night.jpg"
    commands = command_seconds(content_path, style_path, args.cli_sizes, args.cli_rounds)
    rows = []
    for backbone in args.backbones:
        weights = "imagenet" if backbone == "squeezenet" else None
        recipe = style.RECIPES[backbone]
        style_weights = dict(recipe.style_weights)
        extractor = backbones.feature_extractor(backbone, [*style_weights, recipe.content_layer], weights,
                                                pooling=recipe.pooling)
        for size in args.sizes:
            content = resize(content_path, (size, size))[None]
            style_image = resize(style_path, (size, size))[None]
            common = dict(alpha=recipe.alpha, beta=recipe.beta, learning_rate=recipe.learning_rate)
            ours, eager = [], []
            for _ in range(args.rounds):
                result = style.stylize(content[0], style_image[0], size=(size, size), backbone=backbone,
                                       extractor=extractor, steps=args.steps + 1, progress=False, tv_weight=0.0,
                                       init="blend", noise_ratio=0.6, coarse_size=0, jitter=0, **common)
                seconds = result.history["seconds"]
                ours.append((seconds[-1] - seconds[0]) / args.steps)  # first step excluded (warm-up)
                eager.append(eager_steps(extractor, backbone, padded(content), padded(style_image),
                                         recipe.content_layer, style_weights, steps=args.steps, **common))
            row = {"backbone": backbone, "weights": weights or "random", "size": size, "steps": args.steps,
                   "rounds": args.rounds, "stylize_s_per_step": float(np.median(ours)),
                   "eager_s_per_step": float(np.median(eager))}
            row["speedup"] = row["eager_s_per_step"] / row["stylize_s_per_step"]
            print(f"{backbone:10s} {size:4d} px  stylize {row['stylize_s_per_step']:.4f} s/step  "
                  f"eager {row['eager_s_per_step']:.4f} s/step  ratio {row['speedup']:.2f}x", flush=True)
            rows.append(row)
    _report.write(RESULTS, {
        "protocol": "median over rounds of seconds per Adam step after one warm-up step; the two sides alternate "
                    "in each round; content chelsea.png, style van_gogh_starry_night.jpg, square crops",
        "rows": rows,
        "command_protocol": "python -m facelib stylize chelsea.png van_gogh_starry_night.jpg --size N -q as a new "
                            "process, SqueezeNet with the recipe (coarse to fine from 128 px), wall clock",
        "commands": commands})


if __name__ == "__main__":
    main()
