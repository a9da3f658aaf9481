"""Neural style transfer (Gatys et al., 2015): the costs and an optimiser of the generated image.

The generated image G minimises

    J(G) = alpha J_content(C, G) + beta J_style(S, G) [+ tv_weight TV(G)]

where, with a^[l] the activations (n_H, n_W, n_C) of layer l of an ImageNet ConvNet
(:mod:`facelib.backbones`):

* J_content(C, G) = 1 / (4 n_H n_W n_C) sum (a^[l](C) - a^[l](G))^2 (the programming
  assignment's normalisation; the lecture writes 1/2 sum (...)^2, ``normalization="half"``);
* G^[l]_kk' = sum_i sum_j a^[l]_ijk a^[l]_ijk' (the Gram, or style, matrix);
* J_style^[l](S, G) = 1 / (2 n_H n_W n_C)^2 sum_k sum_k' (G^[l](S)_kk' - G^[l](G)_kk')^2;
* J_style(S, G) = sum_l lambda^[l] J_style^[l](S, G).

Activations carry a leading batch axis ``(m, n_H, n_W, n_C)``; each cost sums over the batch
(the lessons use m = 1). All functions take NumPy arrays or tensors and return tensors.

References
----------
Gatys, Ecker and Bethge, "A neural algorithm of artistic style", arXiv:1508.06576 (2015).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facelib import backbones

OPTIMIZERS = ("adam", "lbfgs")
INITS = ("content", "noise", "blend")


def _activation(a: Any, argument: str) -> Any:
    import tensorflow as tf

    a = tf.convert_to_tensor(a, dtype=tf.float32)
    if a.shape.rank != 4:
        raise ValueError(f"{argument} must be activations of shape (m, n_H, n_W, n_C), got shape "
                         f"{tuple(a.shape)}. Add a batch axis with a[None] for a single image.")
    return a


def _same_shape(a: Any, b: Any, names: str) -> None:
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"{names} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}.")


def content_cost(a_C: Any, a_G: Any, normalization: str = "volume") -> Any:
    """J_content(C, G) for one layer.

    Parameters
    ----------
    a_C, a_G : array or tensor, shape (m, n_H, n_W, n_C)
        Activations of the content image C and of the generated image G.
    normalization : {"volume", "half"}
        ``"volume"``: J = 1 / (4 n_H n_W n_C) sum (a_C - a_G)^2 (the assignment's, used by default);
        ``"half"``: J = 1/2 ||a_C - a_G||^2 (the lecture's).

    Returns
    -------
    tensor, scalar float32
    """
    import tensorflow as tf

    a_C, a_G = _activation(a_C, "a_C"), _activation(a_G, "a_G")
    _same_shape(a_C, a_G, "a_C and a_G")
    squared = tf.reduce_sum(tf.square(a_C - a_G))
    if normalization == "volume":
        n_H, n_W, n_C = a_C.shape[1:]
        return squared / (4.0 * n_H * n_W * n_C)
    if normalization == "half":
        return 0.5 * squared
    raise ValueError(f"normalization must be 'volume' or 'half', got {normalization!r}.")


def gram_matrix(a: Any) -> Any:
    """Style matrix G_kk' = sum_i sum_j a_ijk a_ijk' of activations ``a`` (m, n_H, n_W, n_C).

    Returns a tensor of shape (m, n_C, n_C): symmetric, and unnormalised as in the lecture.
    """
    import tensorflow as tf

    return tf.einsum("mijk,mijl->mkl", _activation(a, "a"), _activation(a, "a"))


def _style_cost_from_gram(gram_S: Any, a_G: Any) -> Any:
    import tensorflow as tf

    n_H, n_W, n_C = a_G.shape[1:]
    return tf.reduce_sum(tf.square(gram_S - gram_matrix(a_G))) / float(2 * n_H * n_W * n_C) ** 2


def layer_style_cost(a_S: Any, a_G: Any) -> Any:
    """J_style^[l](S, G) = 1 / (2 n_H n_W n_C)^2 sum_k sum_k' (G^(S)_kk' - G^(G)_kk')^2.

    ``a_S`` and ``a_G`` are one layer's activations (m, n_H, n_W, n_C) of the style and
    generated images; returns a scalar tensor.
    """
    a_S, a_G = _activation(a_S, "a_S"), _activation(a_G, "a_G")
    _same_shape(a_S, a_G, "a_S and a_G")
    return _style_cost_from_gram(gram_matrix(a_S), a_G)


def _layer_weights(layers: Sequence[str] | Mapping[str, float]) -> dict[str, float]:
    """``{layer: lambda^[l]}``; a plain list of layers weighs them equally, summing to 1."""
    if isinstance(layers, str):
        layers = [layers]
    weights = dict(layers) if isinstance(layers, Mapping) else {name: 1.0 / len(layers) for name in layers}
    if not weights:
        raise ValueError("style layers must name at least one layer.")
    if any(not np.isfinite(w) or w < 0 for w in weights.values()):
        raise ValueError(f"style layer weights lambda^[l] must be finite and >= 0, got {weights}.")
    return {name.replace("/", "_"): float(w) for name, w in weights.items()}


def style_cost(style_activations: Mapping[str, Any], generated_activations: Mapping[str, Any],
               layer_weights: Sequence[str] | Mapping[str, float] | None = None) -> Any:
    """J_style(S, G) = sum_l lambda^[l] J_style^[l](S, G).

    Parameters
    ----------
    style_activations, generated_activations : mapping of layer name to activations
        As returned by a :func:`facelib.backbones.feature_extractor` for S and for G.
    layer_weights : mapping of layer name to lambda^[l], or a list of layer names, optional
        A list gives each layer lambda = 1 / (number of layers); default: every layer of
        ``style_activations``, equally weighted.
    """
    weights = _layer_weights(list(style_activations) if layer_weights is None else layer_weights)
    missing = [name for name in weights if name not in style_activations or name not in generated_activations]
    if missing:
        raise ValueError(f"style layers {missing} are missing from style_activations or generated_activations.")
    return sum(w * layer_style_cost(style_activations[name], generated_activations[name])
               for name, w in weights.items())


def total_cost(J_content: Any, J_style: Any, alpha: float = 10.0, beta: float = 40.0) -> Any:
    """J(G) = alpha J_content(C, G) + beta J_style(S, G)."""
    return alpha * J_content + beta * J_style


def total_variation(images: Any) -> Any:
    """Smoothness penalty TV(G) = mean (G_i+1,j - G_i,j)^2 + mean (G_i,j+1 - G_i,j)^2.

    ``images`` has shape (m, H, W, C); the means run over every vertical (then horizontal)
    neighbour difference of every image and channel, so the value does not grow with the size.
    """
    import tensorflow as tf

    x = _activation(images, "images")
    return (tf.reduce_mean(tf.square(x[:, 1:] - x[:, :-1]))
            + tf.reduce_mean(tf.square(x[:, :, 1:] - x[:, :, :-1])))


# --- images ------------------------------------------------------------------------------------

def resize(image: Any, size: int | tuple[int, int]) -> np.ndarray:
    """Resize an RGB image: ``size`` an int sets the longer side (keeping the aspect ratio);
    ``(height, width)`` crops the centre to that aspect ratio first, then resizes."""
    from PIL import Image

    from facelib.images import load_image

    pixels = load_image(image)
    h, w = pixels.shape[:2]
    if isinstance(size, (int, np.integer)):
        if size < 32:
            raise ValueError(f"size must be at least 32 pixels, got {size}.")
        scale = size / max(h, w)
        target = (max(32, round(h * scale)), max(32, round(w * scale)))
    else:
        target = tuple(int(s) for s in size)
        if len(target) != 2 or min(target) < 32:
            raise ValueError(f"size must be an int or (height, width), each at least 32, got {size}.")
        aspect = target[1] / target[0]
        crop_h, crop_w = (h, round(h * aspect)) if w / h >= aspect else (round(w / aspect), w)
        top, left = (h - crop_h) // 2, (w - crop_w) // 2
        pixels = pixels[top:top + crop_h, left:left + crop_w]
    out = Image.fromarray(pixels).resize((target[1], target[0]), Image.LANCZOS)
    return np.asarray(out)


def initial_image(content: np.ndarray, init: str = "blend", noise_ratio: float = 0.6,
                  seed: int = 0) -> np.ndarray:
    """Starting point for G (float32 in [0, 255]).

    ``"content"``: G = C. ``"noise"``: uniform noise in [0, 255]. ``"blend"``:
    G = (1 - noise_ratio) C + noise_ratio U, with U uniform noise in [0, 255].
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}.")
    if not 0.0 <= noise_ratio <= 1.0:
        raise ValueError(f"noise_ratio must lie in [0, 1], got {noise_ratio}.")
    content = np.asarray(content, np.float32)
    noise = np.random.default_rng(seed).uniform(0, 255, size=content.shape).astype(np.float32)
    if init == "content":
        return content.copy()
    if init == "noise":
        return noise
    return (1.0 - noise_ratio) * content + noise_ratio * noise


# --- optimisation ------------------------------------------------------------------------------

@dataclass
class StyleResult:
    """What :func:`stylize` returns.

    Attributes
    ----------
    image : ndarray, uint8, shape (H, W, 3)
        The generated image G.
    history : dict of str to ndarray
        Per step (Adam) or iteration (L-BFGS): ``step``, ``seconds`` since the start (set-up and
        tracing excluded), ``cost`` J(G), and its parts ``content`` (J_content), ``style``
        (J_style) and ``tv``.
    snapshots : list of (step, image)
        G every ``snapshot_every`` steps.
    """

    image: np.ndarray
    history: dict[str, np.ndarray]
    snapshots: list[tuple[int, np.ndarray]] = field(default_factory=list)


class _Problem:
    """The cost of G for fixed C and S, with their targets computed once."""

    def __init__(self, extractor: Any, backbone: str, content: np.ndarray, style: np.ndarray,
                 content_layer: str, style_weights: dict[str, float], alpha: float, beta: float,
                 tv_weight: float):
        self.extractor, self.backbone = extractor, backbone
        self.content_layer, self.style_weights = content_layer, style_weights
        self.alpha, self.beta, self.tv_weight = alpha, beta, tv_weight
        self.a_C = extractor(backbones.preprocess(content, backbone))[content_layer]
        acts_S = extractor(backbones.preprocess(style, backbone))
        self.grams_S = {name: gram_matrix(acts_S[name]) for name in style_weights}

    def costs(self, image: Any) -> tuple[Any, Any, Any, Any]:
        """(J, J_content, J_style, TV) of ``image`` (1, H, W, 3) in [0, 255] RGB."""
        acts = self.extractor(backbones.preprocess(image, self.backbone))
        J_content = content_cost(self.a_C, acts[self.content_layer])
        J_style = sum(w * _style_cost_from_gram(self.grams_S[name], acts[name])
                      for name, w in self.style_weights.items())
        tv = total_variation(image)
        return total_cost(J_content, J_style, self.alpha, self.beta) + self.tv_weight * tv, J_content, J_style, tv


def _check_positive(value: float, argument: str, allow_zero: bool = False) -> float:
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{argument} must be {'>= 0' if allow_zero else '> 0'}, got {value}.")
    return float(value)


def stylize(content: Any, style: Any, *, size: int | tuple[int, int] = 256, backbone: str = "squeezenet",
            weights: str | None = "imagenet", content_layer: str | None = None,
            style_layers: Sequence[str] | Mapping[str, float] | None = None, alpha: float = 10.0,
            beta: float = 0.5, tv_weight: float = 0.0, optimizer: str = "adam", steps: int = 300,
            learning_rate: float = 4.0, init: str = "blend", noise_ratio: float = 0.2, seed: int = 0,
            max_seconds: float | None = None, snapshot_every: int = 0, progress: bool = True,
            extractor: Any = None) -> StyleResult:
    """Generate G with the content of ``content`` and the style of ``style``: min_G J(G).

    Parameters
    ----------
    content, style : path or array
        RGB images (anything :func:`facelib.images.load_image` reads). ``content`` is resized
        to ``size``; ``style`` is centre-cropped and resized to the same height and width, so
        n_H, n_W and n_C of every layer match between S and G.
    size : int or (height, width)
        The generated image's longer side, or its exact shape.
    backbone, weights : see :func:`facelib.backbones.feature_extractor`.
    content_layer : str, optional
        Layer l of J_content; default ``backbones.DEFAULT_LAYERS[backbone]["content"]``.
    style_layers : list of names or mapping name -> lambda^[l], optional
        Layers of J_style; a list weighs them equally. Default: the backbone's style layers.
    alpha, beta : float
        Weights of J_content and J_style in J(G). The default ratio alpha / beta = 20 suits
        SqueezeNet's Caffe-scale activations at 256 px (the course's alpha=10, beta=40 was set
        for VGG19 and gives SqueezeNet almost pure style); raise beta for more style.
    tv_weight : float
        Weight of :func:`total_variation` (0: off). It smooths high-frequency noise.
    optimizer : {"adam", "lbfgs"}
        Adam on the pixels in a compiled ``tf.function`` step, clipping G to [0, 255] after each
        step; or SciPy's L-BFGS-B with the bounds [0, 255] (one compiled cost-and-gradient call
        per function evaluation).
    steps : int
        Adam steps, or L-BFGS iterations.
    learning_rate : float
        Adam's step size, in pixel units (0-255).
    init : {"content", "noise", "blend"}, noise_ratio : float, seed : int
        Starting point (:func:`initial_image`). A little noise (0.2) lets textures form; more
        (the assignment's 0.6) needs many more steps to clean up.
    max_seconds : float, optional
        Stop once this much optimisation time has passed (to compare optimisers on one budget).
    snapshot_every : int
        Keep G every this many steps (0: none).
    progress : bool
        Show a tqdm progress bar.
    extractor : keras.Model, optional
        A ready :func:`facelib.backbones.feature_extractor` of ``backbone`` whose outputs include
        the content and style layers (built here otherwise).

    Returns
    -------
    StyleResult
        The image (uint8), the cost history and the snapshots.
    """
    from tqdm import tqdm

    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}.")
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps}.")
    alpha, beta = _check_positive(alpha, "alpha", True), _check_positive(beta, "beta", True)
    tv_weight = _check_positive(tv_weight, "tv_weight", True)
    learning_rate = _check_positive(learning_rate, "learning_rate")
    if max_seconds is not None:
        _check_positive(max_seconds, "max_seconds")
    defaults = backbones.DEFAULT_LAYERS[backbones._check_backbone(backbone)]
    content_layer = (content_layer or defaults["content"]).replace("/", "_")
    style_weights = _layer_weights(defaults["style"] if style_layers is None else style_layers)
    if extractor is None:
        extractor = backbones.feature_extractor(backbone, [*style_weights, content_layer], weights)
    missing = [n for n in [*style_weights, content_layer] if n not in extractor.output]
    if missing:
        raise ValueError(f"the extractor does not output layers {missing}; build it with them.")

    content_px = resize(content, size)
    style_px = resize(style, content_px.shape[:2])
    problem = _Problem(extractor, backbone, content_px[None], style_px[None], content_layer,
                       style_weights, alpha, beta, tv_weight)
    start = initial_image(content_px, init, noise_ratio, seed)[None]
    run = _adam if optimizer == "adam" else _lbfgs
    bar = tqdm(total=steps, desc=f"stylize ({optimizer}, {backbone})", disable=not progress, leave=False,
               mininterval=1.0)
    try:
        image, rows, snapshots = run(problem, start, steps, learning_rate, max_seconds, snapshot_every, bar)
    finally:
        bar.close()
    history = {key: np.array([row[i] for row in rows])
               for i, key in enumerate(("step", "seconds", "cost", "content", "style", "tv"))}
    return StyleResult(_to_uint8(image), history, snapshots)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(image)[0]), 0, 255).astype(np.uint8)


def _adam(problem: _Problem, start, steps, learning_rate, max_seconds, snapshot_every, bar):
    import keras
    import tensorflow as tf

    image = tf.Variable(start)
    adam = keras.optimizers.Adam(learning_rate=learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-1)

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            J, J_content, J_style, tv = problem.costs(image)
        adam.apply_gradients([(tape.gradient(J, image), image)])
        image.assign(tf.clip_by_value(image, 0.0, 255.0))
        return J, J_content, J_style, tv

    train_step.get_concrete_function()  # trace before the clock starts
    rows, snapshots, t0 = [], [], time.perf_counter()
    for step in range(1, steps + 1):
        J, J_content, J_style, tv = (float(v) for v in train_step())
        rows.append((step, time.perf_counter() - t0, J, J_content, J_style, tv))
        bar.update()
        bar.set_postfix(cost=f"{J:.4g}", refresh=False)
        if snapshot_every and step % snapshot_every == 0:
            snapshots.append((step, _to_uint8(image.numpy())))
        if max_seconds is not None and rows[-1][1] >= max_seconds:
            break
    return image.numpy(), rows, snapshots


def _lbfgs(problem: _Problem, start, steps, learning_rate, max_seconds, snapshot_every, bar):
    import tensorflow as tf
    from scipy.optimize import Bounds, minimize

    shape = start.shape

    @tf.function(input_signature=[tf.TensorSpec([int(np.prod(shape))], tf.float32)])
    def cost_and_gradient(flat):
        image = tf.reshape(flat, shape)
        with tf.GradientTape() as tape:
            tape.watch(image)
            parts = problem.costs(image)
        return parts, tf.reshape(tape.gradient(parts[0], image), [-1])

    def fun(x):
        parts, grad = cost_and_gradient(tf.constant(x, tf.float32))
        latest[:] = [float(p) for p in parts]
        return latest[0], grad.numpy().astype(np.float64)

    def callback(intermediate_result):
        step = len(rows) + 1
        rows.append((step, time.perf_counter() - t0, float(intermediate_result.fun), *latest[1:]))
        bar.update()
        bar.set_postfix(cost=f"{latest[0]:.4g}", refresh=False)
        if snapshot_every and step % snapshot_every == 0:
            snapshots.append((step, _to_uint8(intermediate_result.x.reshape(shape))))
        if max_seconds is not None and rows[-1][1] >= max_seconds:
            raise StopIteration

    latest: list[float] = [0.0] * 4
    rows, snapshots = [], []
    x0 = start.reshape(-1).astype(np.float64)
    cost_and_gradient.get_concrete_function()
    t0 = time.perf_counter()
    result = minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=Bounds(0.0, 255.0),
                      callback=callback, options={"maxiter": steps, "maxcor": 10})
    return result.x.reshape(shape), rows, snapshots
