"""Style-transfer quality per recipe: seconds, content kept, style taken, on SqueezeNet at one size.

Three recipes on the same backbone (SqueezeNet 1.1, ImageNet weights), image size and machine:

``recipe``   ``facelib.convnets.style.RECIPES["squeezenet"]``, the default of ``stylize``, and the same with
             its three max-pools replaced by average pools (``recipe, avg pool``);
``previous`` the defaults before it (content fire5, six equally weighted style layers up to fire6,
             alpha = 10, beta = 0.5, no TV, Adam lr 4 for 300 steps from C + 20 % noise, max pooling);
``tutorial`` the TensorFlow tutorial's structure (a deep content layer, fire8; equal weights on the
             first layer of each stage, relu_conv1, fire2, fire4, fire6; start from C; 300 steps;
             alpha and beta as ``previous``, since the tutorial's numbers are for VGG19's scale).

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
    "recipe, avg pool": dataclasses.replace(style.RECIPES["squeezenet"], pooling="avg"),
    "previous": style.Recipe(
        content_layer="fire5_concat",
        style_weights={n: 1 / 6 for n in ("relu_conv1", "fire2_concat", "fire3_concat", "fire4_concat",
                                          "fire5_concat", "fire6_concat")},
        alpha=10.0, beta=0.5, tv_weight=0.0, learning_rate=4.0, decay_at=1.0, decay=1.0, init="blend",
        noise_ratio=0.2, steps=300, pooling="max"),
    "tutorial": style.Recipe(
        content_layer="fire8_concat",
        style_weights={n: 0.25 for n in ("relu_conv1", "fire2_concat", "fire4_concat", "fire6_concat")},
        alpha=10.0, beta=0.5, tv_weight=0.0, learning_rate=5.0, decay_at=1.0, decay=1.0, init="content",
        noise_ratio=0.0, steps=300, pooling="max"),
}


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

    content_dir, style_dir = assets.locate("nst_content"), assets.locate("nst_style")
    rows, sheet = [], []
    for photo in PHOTOS:
        for painting in PAINTINGS:
            content = resize(content_dir / photo, args.size)
            painting_px = resize(style_dir / painting, content.shape[:2])
            acts_C, grams_S = measure(content), _grams(measure(painting_px))
            a_C = np.asarray(acts_C[CONTENT_PROBE])
            photo_style = style_distance(_grams(acts_C), grams_S)
            images = [content, painting_px]
            for name, recipe in RECIPES.items():
                start = time.perf_counter()
                result = style.stylize(content, painting_px, size=content.shape[:2], recipe=recipe, progress=False)
                seconds = time.perf_counter() - start
                acts_G = measure(result.image)
                row = {"photo": photo, "painting": painting, "recipe": name, "seconds": round(seconds, 2),
                       "content_distance": float(np.linalg.norm(np.asarray(acts_G[CONTENT_PROBE]) - a_C)
                                                 / np.linalg.norm(a_C)),
                       "style_distance": style_distance(_grams(acts_G), grams_S) / photo_style}
                rows.append(row)
                images.append(result.image)
                print(f"{photo:12s} {painting:36s} {name:9s} {seconds:6.1f} s  content {row['content_distance']:.3f}"
                      f"  held-out style {row['style_distance']:.3f}", flush=True)
            sheet.append((f"{Path(photo).stem}, {PAINTINGS[painting]}", images))

    titles = ["photo", "painting", *RECIPES]
    panel = args.size / 100  # inches at dpi 100: every panel at its pixel size
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
                      for key in ("seconds", "content_distance", "style_distance")} for name in RECIPES}
    for name, values in summary.items():
        print(f"median {name:9s} {values['seconds']:6.1f} s  content {values['content_distance']:.3f}  "
              f"held-out style {values['style_distance']:.3f}")
    _report.write(RESULTS / "style_quality.json", {
        "protocol": f"SqueezeNet 1.1 (ImageNet), {args.size} px longer side, Adam, one run per image; content "
                    f"distance ||a(G)-a(C)||/||a(C)|| at {CONTENT_PROBE}; held-out style distance: mean over "
                    f"{', '.join(STYLE_PROBES)} of ||Gram(G)-Gram(S)||_F/||Gram(S)||_F (Gram / positions), "
                    "divided by the photo's own distance (1 = the photo's style); both measured with max "
                    "pooling; seconds = wall clock of stylize (set-up, tracing, all steps)",
        "recipes": {name: dataclasses.asdict(recipe) for name, recipe in RECIPES.items()},
        "median": summary, "rows": rows})


if __name__ == "__main__":
    main()
