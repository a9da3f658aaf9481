"""Is the recipe's result the best G of the three? J of the photo, the painting and the result, on held-out pairs.

The recipe (``facelib.convnets.style.RECIPES["squeezenet"]``) was chosen on the course's two photos and three
paintings. Here every pair is outside that set: photos and paintings of the mirror that the recipe never saw.
For each pair, stylize at ``--size`` with the recipe, then score three candidates for G with the recipe's own
cost at its own weights: J(G) = alpha J_content + beta J_style on the balanced costs
(:func:`facelib.convnets.style.balanced_weights`; no TV term, so the three are scored alike):

* G = C, the photo: J_content = 0, so J = beta J_style(S, C);
* G = S, the painting (resized to the photo's shape): J_style = 0, so J = alpha J_content(C, S);
* G = the result.

The lesson's claim (notebook 06) is that at these weights neither the photo nor the painting is the best G:
``result_lowest`` says whether J(result) is below both.

Usage: ``python benchmarks/style_balance.py [--size 256]``
Writes ``benchmarks/results/style_balance.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _report

import facelib
from facelib import assets
from facelib.convnets import backbones, style
from facelib.images import resize

RESULTS = Path(__file__).resolve().parent / "results" / "style_balance.json"
PAIRS = [  # (asset, file) of the photo, file of the painting: none is in the recipe's tuning set
    (("nst_content", "astronaut.png"), "van_gogh_olive_orchard.jpg"),
    (("nst_content", "rocket.jpg"), "monet_sainte_adresse.jpg"),
    (("nst_content", "hubble_deep_field.jpg"), "kandinsky_composition_vii.jpg"),
    (("group_photos", "sample1.jpg"), "van_gogh_olive_orchard.jpg"),
    (("group_photos", "sample3.jpg"), "renoir_oarsmen_at_chatou.jpg"),
    (("nst_content", "astronaut.png"), "turner_shipwreck_of_the_minotaur.jpg"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    facelib.quiet_tensorflow()
    recipe = style.RECIPES["squeezenet"]
    layer, weights = recipe.content_layer, dict(recipe.style_weights)
    extractor = backbones.feature_extractor("squeezenet", [*weights, layer], pooling=recipe.pooling)

    def activations(image):
        return extractor(backbones.preprocess(image[None], "squeezenet"))

    rows = []
    for (asset, photo), painting in PAIRS:
        content = resize(assets.locate(asset) / photo, args.size)
        painting_px = resize(assets.locate("nst_style") / painting, content.shape[:2])
        start = time.perf_counter()
        result = style.stylize(content, painting_px, size=args.size, extractor=extractor, progress=False)
        seconds = time.perf_counter() - start
        acts_C, acts_S = activations(content), activations(painting_px)
        w_content, w_style = style.balanced_weights(acts_C[layer], acts_S, weights)

        def J(image, acts_C=acts_C, acts_S=acts_S, w_content=w_content, w_style=w_style):
            acts = activations(image)
            J_content = w_content * style.content_cost(acts_C[layer], acts[layer])
            return float(style.total_cost(J_content, style.style_cost(acts_S, acts, w_style), recipe.alpha,
                                          recipe.beta))

        row = {"photo": photo, "painting": painting, "seconds": round(seconds, 2), "J_photo": J(content),
               "J_painting": J(painting_px), "J_result": J(result.image)}
        row["result_lowest"] = row["J_result"] < min(row["J_photo"], row["J_painting"])
        rows.append(row)
        print(f"{photo:22s} {painting:38s} J: photo {row['J_photo']:7.2f}  painting {row['J_painting']:7.2f}  "
              f"result {row['J_result']:7.2f}  lowest: {row['result_lowest']}  ({seconds:.1f} s)", flush=True)
    lowest = sum(row["result_lowest"] for row in rows)
    print(f"the result has the lowest J on {lowest} of {len(rows)} held-out pairs")
    _report.write(RESULTS, {
        "protocol": f"stylize with RECIPES['squeezenet'] at {args.size} px; J = alpha J_content + beta J_style on "
                    "balanced costs at the recipe's layers and weights, without TV; the painting resized to the "
                    "photo's shape",
        "alpha": recipe.alpha, "beta": recipe.beta, "rows": rows, "result_lowest": f"{lowest} of {len(rows)}"})


if __name__ == "__main__":
    main()
