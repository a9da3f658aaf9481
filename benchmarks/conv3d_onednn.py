"""Seconds per training step of notebook 08's Conv3D layers, with and without TensorFlow's oneDNN kernels.

``TF_ENABLE_ONEDNN_OPTS`` must be set before TensorFlow is imported, so each side runs in its own
child process; the two sides alternate for several rounds so that a change in machine load hits
both. Each child times forward + backward passes (the gradient of a sum with respect to the
layer's weights) of three layers on a batch of 16: Conv3D(8, 3) on 16^3 volumes (the lesion
detector), the same with stride 2 on 32^3 volumes, and Conv3D(8, 3) on 8x24x24 clips (the
motion classifier). The median seconds of each side and their ratio (off / on) are reported.

Usage: ``python benchmarks/conv3d_onednn.py [--rounds 3]``
Writes ``benchmarks/results/conv3d_onednn.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import _report

RESULTS = Path(__file__).resolve().parent / "results" / "conv3d_onednn.json"
CASES = {  # name: (input shape without batch, filters, stride)
    "lesion 16^3, Conv3D(8, 3)": ((16, 16, 16, 1), 8, 1),
    "volume 32^3, Conv3D(8, 3, strides=2)": ((32, 32, 32, 1), 8, 2),
    "clip 8x24x24, Conv3D(8, 3)": ((8, 24, 24, 1), 8, 1),
}
BATCH, STEPS = 16, 5

_CHILD = """
import json, sys, time
import numpy as np
import tensorflow as tf
import keras
cases, batch, steps = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
out = {}
for name, (shape, filters, stride) in cases.items():
    layer = keras.layers.Conv3D(filters, 3, strides=stride)
    x = tf.constant(np.random.default_rng(0).normal(size=(batch, *shape)).astype("float32"))
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x))
        return tape.gradient(loss, layer.trainable_variables)
    step()  # build and warm up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    out[name] = (time.perf_counter() - start) / steps
print(json.dumps(out))
"""


def run_side(onednn: bool) -> dict[str, float]:
    """Seconds per step of every case, in a fresh process with oneDNN on or off."""
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="1" if onednn else "0", TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(CASES), str(BATCH), str(STEPS)],
                          env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per side (default 3)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    runs = _report.alternate({"off": lambda: run_side(False), "on": lambda: run_side(True)}, args.rounds,
                             warm_up=False)  # each call is a fresh process
    rows = []
    for name in CASES:
        off = sorted(r[name] for r in runs["off"])[len(runs["off"]) // 2]
        on = sorted(r[name] for r in runs["on"])[len(runs["on"]) // 2]
        rows.append({"case": name, "seconds_per_step_onednn_off": round(off, 4),
                     "seconds_per_step_onednn_on": round(on, 4), "speedup_off_over_on": round(off / on, 2)})
        print(f"{name:40s} off {off:8.4f} s   on {on:8.4f} s   off/on {off / on:6.2f}")
    result = {"what": __doc__.split("\n")[0], "batch": BATCH, "steps": STEPS, "rounds": args.rounds, "rows": rows}
    _report.write(RESULTS, result)
    return result


if __name__ == "__main__":
    main()
