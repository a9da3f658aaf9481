"""Style-transfer quality per recipe: seconds, content kept, style taken, on SqueezeNet.

Recipes on the same backbone (SqueezeNet 1.1, ImageNet weights) and machine, one run per image:

``recipe``            ``facelib.convnets.style.RECIPES["squeezenet"]``, the default of ``stylize`` (balanced
                      costs, coarse to fine from 128 px, jitter), at 256 px; ``recipe, 512 px`` the same at
                      512 px (scored after shrinking it to the 256 px photo's size);
``one size``          the recipe at one size without jitter (the coarse-to-fine and jitter ablation), 300 steps;
``previous``          the defaults before it (content fire3, the lecture's costs with alpha = 10, beta = 40,
                      TV 300, Adam lr 6 for 200 steps from C, the last 20 % at a tenth).

Reference rows score ``the photo`` and ``the painting`` themselves with the same metrics: the two ends of
each scale.

Every result is measured with one fixed network (SqueezeNet with its own max pooling), at layers
chosen so that no recipe wins by construction:

* content distance: ||a(G) - a(C)|| / ||a(C)|| at ``fire4_concat`` (no recipe's content layer);
* held-out style distance: at ``fire7_concat`` and ``fire9_concat`` (in no recipe's objective), the
  normalised Gram distance d_l(X, S) = ||G_l(X) - G_l(S)||_F / ||G_l(S)||_F, averaged over the two
  layers and divided by the photo's own distance d(C, S): 1 is the photo's style, lower is closer
  to the painting, 0 would be the painting's.

Seconds are wall-clock to a finished image (set-up, tracing and every step), one run per image.

Usage: ``python benchmarks/style_quality.py [--size 256]``
Writes ``benchmarks/results/style_quality.json`` and ``benchmarks/results/style_quality.jpg``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import _report
import numpy as np

import facelib
from facelib import assets
from facelib.convnets import backbones, style
from facelib.images import resize

RESULTS = Path(__file__).resolve().parent / "results"
PHOTOS = ("chelsea.png", "coffee.png")
PAINTINGS = {"van_gogh_starry_night.jpg": "The Starry Night", "munch_the_scream.jpg": "The Scream",
             "hokusai_great_wave_off_kanagawa.jpg": "The Great Wave"}
CONTENT_PROBE = "fire4_concat"
STYLE_PROBES = ("fire7_concat", "fire9_concat")

RECIPES = {
    "recipe": style.RECIPES["squeezenet"],
    "recipe, 512 px": style.RECIPES["squeezenet"],
    "one size": dataclasses.replace(style.RECIPES["squeezenet"], coarse_size=0, jitter=0, steps=300),
    "previous": style.Recipe(
        content_layer="fire3_concat",
        style_weights={n: 1 / 6 for n in ("relu_conv1", "fire2_concat", "fire3_concat", "fire4_concat",
                                          "fire5_concat", "fire6_concat")},
        alpha=10.0, beta=40.0, tv_weight=300.0, learning_rate=6.0, decay_at=0.8, decay=0.1, init="content",
        noise_ratio=0.0, steps=200, pooling="max"),
}
SIZES = {"recipe, 512 px": 512}  # the others at --size
REFERENCES = ("the photo", "the painting")


def _grams(acts: dict) -> dict:
    out = {}
    for name in STYLE_PROBES:
        a = np.asarray(acts[name], np.float64)[0]
        flat = a.reshape(-1, a.shape[-1])
        out[name] = flat.T @ flat / flat.shape[0]
    return out


def style_distance(grams_x: dict, grams_s: dict) -> float:
    """Mean over the probe layers of ||G(X) - G(S)||_F / ||G(S)||_F."""
    return float(np.mean([np.linalg.norm(grams_x[n] - grams_s[n]) / np.linalg.norm(grams_s[n])
                          for n in STYLE_PROBES]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    facelib.quiet_tensorflow()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    probe = backbones.feature_extractor("squeezenet", [CONTENT_PROBE, *STYLE_PROBES])

    def measure(image):
        return probe(backbones.preprocess(image[None], "squeezenet"))

    def score(name, photo, painting, seconds, image, acts_C, grams_S, photo_style):
        a_C, acts = np.asarray(acts_C[CONTENT_PROBE]), measure(image)
        return {"photo": photo, "painting": painting, "recipe": name, "seconds": round(seconds, 2),
                "content_distance": float(np.linalg.norm(np.asarray(acts[CONTENT_PROBE]) - a_C) / np.linalg.norm(a_C)),
                "style_distance": style_distance(_grams(acts), grams_S) / photo_style}

    content_dir, style_dir = assets.locate("nst_content"), assets.locate("nst_style")
    rows, sheet = [], []
    for photo in PHOTOS:
        for painting in PAINTINGS:
            content = resize(content_dir / photo, args.size)
            painting_px = resize(style_dir / painting, content.shape[:2])
            acts_C, grams_S = measure(content), _grams(measure(painting_px))
            photo_style = style_distance(_grams(acts_C), grams_S)
            images = [content, painting_px]
            for name, image in zip(REFERENCES, images, strict=True):
                rows.append(score(name, photo, painting, 0.0, image, acts_C, grams_S, photo_style))
            for name, recipe in RECIPES.items():
                size = SIZES.get(name, args.size)
                start = time.perf_counter()
                result = style.stylize(content_dir / photo, style_dir / painting, size=size, recipe=recipe,
                                       progress=False)
                seconds = time.perf_counter() - start
                image = resize(result.image, content.shape[:2])
                rows.append(score(name, photo, painting, seconds, image, acts_C, grams_S, photo_style))
                images.append(result.image)
                row = rows[-1]
                print(f"{photo:12s} {painting:36s} {name:15s} {seconds:6.1f} s  content {row['content_distance']:.3f}"
                      f"  held-out style {row['style_distance']:.3f}", flush=True)
            sheet.append((f"{Path(photo).stem}, {PAINTINGS[painting]}", images))

    titles = ["photo", "painting", *RECIPES]
    panel = args.size / 100  # inches at dpi 100: every panel at the 256 px pixel size (512 px shrunk)
    fig, axes = plt.subplots(len(sheet), len(titles), figsize=(panel * len(titles), panel * 0.8 * len(sheet)),
                             dpi=100)
    for row_axes, (label, images) in zip(axes, sheet, strict=True):
        for ax, image, title in zip(row_axes, images, titles, strict=True):
            ax.imshow(image)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(title, fontsize=9)
        row_axes[0].set_title(label, fontsize=9)
    fig.tight_layout()
    fig.savefig(RESULTS / "style_quality.jpg", dpi=100, pil_kwargs={"quality": 85})  # photos: JPEG keeps it small

    summary = {name: {key: float(np.median([r[key] for r in rows if r["recipe"] == name]))
                      for key in ("seconds", "content_distance", "style_distance")} for name in [*REFERENCES, *RECIPES]}
    for name, values in summary.items():
        print(f"median {name:15s} {values['seconds']:6.1f} s  content {values['content_distance']:.3f}  "
              f"held-out style {values['style_distance']:.3f}")
    _report.write(RESULTS / "style_quality.json", {
        "protocol": f"SqueezeNet 1.1 (ImageNet), {args.size} px longer side, Adam, one run per image; content "
                    f"distance ||a(G)-a(C)||/||a(C)|| at {CONTENT_PROBE}; held-out style distance: mean over "
                    f"{', '.join(STYLE_PROBES)} of ||Gram(G)-Gram(S)||_F/||Gram(S)||_F (Gram / positions), "
                    "divided by the photo's own distance (1 = the photo's style); both measured with max "
                    "pooling, on the result at the photo's size (512 px results shrunk to it); seconds = wall "
                    "clock of stylize from the image files (loading, set-up, tracing, all steps); reference rows "
                    "score the photo and the painting themselves",
        "sizes": {name: SIZES.get(name, args.size) for name in RECIPES},
        "recipes": {name: dataclasses.asdict(recipe) for name, recipe in RECIPES.items()},
        "median": summary, "rows": rows})


if __name__ == "__main__":
    main()
