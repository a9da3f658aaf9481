"""Neural style transfer (Gatys et al., 2015): the costs and an optimiser of the generated image.

The generated image G minimises

    J(G) = alpha J_content(C, G) + beta J_style(S, G) [+ tv_weight TV(G)]

where, with a^[l] the activations (n_H, n_W, n_C) of layer l of an ImageNet ConvNet
(:mod:`facelib.convnets.backbones`):

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

import dataclasses
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facelib.convnets import backbones
from facelib.errors import ArgumentError
from facelib.validation import check_bool, check_choice, check_float, check_int, check_rng

OPTIMIZERS = ("adam", "lbfgs")
INITS = ("content", "noise", "blend")


def _activation(a: Any, argument: str) -> Any:
    import tensorflow as tf

    try:
        a = tf.convert_to_tensor(a, dtype=tf.float32)
    except (ValueError, TypeError) as error:
        raise ArgumentError(f"{argument} must be real-valued activations (m, n_H, n_W, n_C) ({error})") from None
    if tf.executing_eagerly() and not np.all(np.isfinite(a.numpy())):  # (in a compiled step, the caller's job)
        raise ArgumentError(f"{argument} contains NaN or infinite values.")
    if a.shape.rank != 4:
        raise ArgumentError(f"{argument} must be activations of shape (m, n_H, n_W, n_C), got shape "
                         f"{tuple(a.shape)}. Add a batch axis with a[None] for a single image.")
    return a


def _same_shape(a: Any, b: Any, names: str) -> None:
    if tuple(a.shape) != tuple(b.shape):
        raise ArgumentError(f"{names} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}.")


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

    check_choice("normalization", normalization, ("volume", "half"))
    a_C, a_G = _activation(a_C, "a_C"), _activation(a_G, "a_G")
    _same_shape(a_C, a_G, "a_C and a_G")
    squared = tf.reduce_sum(tf.square(a_C - a_G))
    if normalization == "volume":
        n_H, n_W, n_C = a_C.shape[1:]
        return squared / (4.0 * n_H * n_W * n_C)
    if normalization == "half":
        return 0.5 * squared
    raise ArgumentError(f"normalization must be 'volume' or 'half', got {normalization!r}.")


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
    if not isinstance(layers, Mapping | Sequence) or not all(isinstance(name, str) for name in layers):
        raise ArgumentError(f"style layers must be layer names or a mapping name -> lambda^[l], got {layers!r}.")
    weights = dict(layers) if isinstance(layers, Mapping) else {name: 1.0 / len(layers) for name in layers}
    if not weights:
        raise ArgumentError("style layers must name at least one layer.")
    if any(isinstance(w, bool) or not isinstance(w, int | float | np.number) or not np.isfinite(w) or w < 0
           for w in weights.values()):
        raise ArgumentError(f"style layer weights lambda^[l] must be finite and >= 0, got {weights}.")
    return {name.replace("/", "_"): float(w) for name, w in weights.items()}


def style_cost(style_activations: Mapping[str, Any], generated_activations: Mapping[str, Any],
               layer_weights: Sequence[str] | Mapping[str, float] | None = None) -> Any:
    """J_style(S, G) = sum_l lambda^[l] J_style^[l](S, G).

    Parameters
    ----------
    style_activations, generated_activations : mapping of layer name to activations
        As returned by a :func:`facelib.convnets.backbones.feature_extractor` for S and for G.
    layer_weights : mapping of layer name to lambda^[l], or a list of layer names, optional
        A list gives each layer lambda = 1 / (number of layers); default: every layer of
        ``style_activations``, equally weighted.
    """
    for argument, value in (("style_activations", style_activations), ("generated_activations", generated_activations)):
        if not isinstance(value, Mapping):
            raise ArgumentError(f"{argument} must map layer names to activations, got {type(value).__name__}.")
    weights = _layer_weights(list(style_activations) if layer_weights is None else layer_weights)
    missing = [name for name in weights if name not in style_activations or name not in generated_activations]
    if missing:
        raise ArgumentError(f"style layers {missing} are missing from style_activations or generated_activations.")
    return sum(w * layer_style_cost(style_activations[name], generated_activations[name])
               for name, w in weights.items())


def total_cost(J_content: Any, J_style: Any, alpha: float = 10.0, beta: float = 40.0) -> Any:
    """J(G) = alpha J_content(C, G) + beta J_style(S, G)."""
    import tensorflow as tf

    alpha, beta = check_float("alpha", alpha, minimum=0.0), check_float("beta", beta, minimum=0.0)
    for argument, value in (("J_content", J_content), ("J_style", J_style)):
        if not tf.is_tensor(value) and not _finite_scalar(value):
            raise ArgumentError(f"{argument} must be a finite scalar cost, got {value!r}.")
    return alpha * J_content + beta * J_style


def _finite_scalar(value: Any) -> bool:
    try:
        return not isinstance(value, str | bytes | bool) and np.ndim(value) == 0 and bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False


def total_variation(images: Any) -> Any:
    """Smoothness penalty TV(G) = mean (G_i+1,j - G_i,j)^2 + mean (G_i,j+1 - G_i,j)^2.

    ``images`` has shape (m, H, W, C); the means run over every vertical (then horizontal)
    neighbour difference of every image and channel, so the value does not grow with the size.
    """
    import tensorflow as tf

    x = _activation(images, "images")
    return (tf.reduce_mean(tf.square(x[:, 1:] - x[:, :-1]))
            + tf.reduce_mean(tf.square(x[:, :, 1:] - x[:, :, :-1])))


# --- recipes -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Recipe:
    """Everything :func:`stylize` needs besides the two images: one per backbone in :data:`RECIPES`.

    Attributes
    ----------
    content_layer : str
        Layer l of J_content.
    style_weights : mapping of layer name to lambda^[l]
        Layers of J_style and their weights.
    alpha, beta : float
        J(G) = alpha J_content + beta J_style (+ tv_weight TV(G)).
    tv_weight : float
        Weight of :func:`total_variation`, in 1 / pixel^2 (0: off).
    learning_rate : float
        Adam's step size in pixel units (0-255).
    decay_at, decay : float
        After the fraction ``decay_at`` of the steps (of each size), the learning rate is multiplied
        by ``decay`` (1: constant): large steps build the texture, small ones clean it.
    init : {"content", "noise", "blend"}
        Starting point of G (:func:`initial_image`), with ``noise_ratio``.
    noise_ratio : float
    steps : int
        Adam steps (or L-BFGS iterations) at the first size; at every size when ``refine_steps`` is 0.
    pooling : {"max", "avg"}
        The backbone's pooling (:func:`facelib.convnets.backbones.feature_extractor`).
    normalize : bool
        Divide J_content by J_content(C, 0) and each J_style^[l] by J_style^[l](S, 0) (the targets'
        own costs against all-zero activations, :func:`balanced_weights`), so that both parts start
        near 1 and alpha / beta alone sets the balance. False: the lecture's costs as they are.
    coarse_size : int
        Coarse to fine: optimise first at this longer side, then double the size (upsampling G) and
        refine, up to the requested size (0: one size only).
    jitter : int
        Each Adam step sees G shifted by a random 0 to ``jitter`` pixels in each direction (0: off),
        so that no pixel keeps one position in the network's pooling grid.
    refine_steps : int
        Steps at each larger size of a coarse-to-fine run (0: ``steps``). A larger size starts from
        the previous size's G enlarged, which is close to its minimum, and each of its steps costs
        about four times as much.
    """

    content_layer: str
    style_weights: Mapping[str, float]
    alpha: float
    beta: float
    tv_weight: float
    learning_rate: float
    decay_at: float
    decay: float
    init: str
    noise_ratio: float
    steps: int
    pooling: str
    normalize: bool = False
    coarse_size: int = 0
    jitter: int = 0
    refine_steps: int = 0


RECIPES = {
    "squeezenet": Recipe(
        content_layer="fire5_concat",
        style_weights={name: 1 / 6 for name in backbones.REGISTRY["squeezenet"].style_layers},
        alpha=10.0, beta=40.0, tv_weight=2e-4, learning_rate=6.0, decay_at=0.8, decay=0.25,
        init="content", noise_ratio=0.0, steps=150, pooling="max", normalize=True, coarse_size=128, jitter=8,
        refine_steps=100),
    "vgg19": Recipe(
        content_layer="block5_conv2",
        style_weights={name: 1 / 5 for name in backbones.REGISTRY["vgg19"].style_layers},
        alpha=10.0, beta=40.0, tv_weight=0.0, learning_rate=4.0, decay_at=1.0, decay=1.0,
        init="blend", noise_ratio=0.6, steps=300, pooling="max"),
}
"""The default :class:`Recipe` of each backbone.

VGG19's is the course's as written: content ``block5_conv2``, five style layers with lambda = 0.2,
alpha = 10, beta = 40 on the lecture's costs, the assignment's start G_0 = 0.4 C + 0.6 noise.

SqueezeNet's was measured on the mirror's paintings and photos (``benchmarks/style_quality.py``, one
recipe for every painting) and checked on pairs outside them:

* normalised costs (``normalize=True``): on SqueezeNet's Caffe-scale activations the lecture's
  J_style is about four orders of magnitude larger than J_content (a Gram matrix is a sum of
  products of activations, so its cost grows with their fourth power, the content cost with their
  square). Dividing each part by its target's own cost makes both dimensionless, so alpha = beta = 1
  means "as far from the photo's features as from the painting's Gram matrices, relatively";
* content layer ``fire5_concat`` (1/8 of the image's resolution, receptive field 63 px): it keeps the
  photo's shapes and layout, not the exact edges, so the strokes can redraw them; six equally weighted
  style layers ``relu_conv1`` to ``fire6_concat``;
* coarse to fine from 128 px: 150 Adam steps of 6 pixel units at 128 px, then 100 at each doubling
  (G enlarged starts close to its minimum, and a step at twice the size costs about four times as
  much; at 512 px this took 23 s instead of 29 s for J 3 % higher), the last 20 % of each size at a
  quarter of the step: the coarse sizes lay out the large strokes, each finer size adds detail;
* jitter 8 px: averaged over random shifts, no pixel sits at one place in the pools' stride grid, which
  otherwise prints a faint square grid into G (clearest with average pooling);
* TV weight 2e-4: with costs near 1, a smooth photo's TV of about 10^2 (grey levels squared) adds
  about 0.02, white noise's (about 2 x 10^4) about 4.
"""


# --- images ------------------------------------------------------------------------------------

MAX_SIZE = 1024
"""Largest side :func:`stylize` accepts, in pixels. Memory grows with the pixel count: measured peak
memory of a 1024 x 1024 run was 1.8 GB with SqueezeNet and 4.2 GB with VGG19 (2-core CPU machine)."""


def initial_image(content: np.ndarray, init: str = "blend", noise_ratio: float = 0.6,
                  seed: int = 0) -> np.ndarray:
    """Starting point for G (float32 in [0, 255]).

    ``"content"``: G = C. ``"noise"``: uniform noise in [0, 255]. ``"blend"``:
    G = (1 - noise_ratio) C + noise_ratio U, with U uniform noise in [0, 255].
    """
    check_choice("init", init, INITS)
    check_float("noise_ratio", noise_ratio, minimum=0.0, maximum=1.0)
    seed = check_int("seed", seed, minimum=0)
    try:
        content = np.asarray(content, np.float32)
    except (ValueError, TypeError):
        raise ArgumentError(f"content must be an image array (H, W, 3), got {type(content).__name__}") from None
    if content.ndim != 3 or content.shape[-1] != 3 or not np.all(np.isfinite(content)):
        raise ArgumentError(f"content must be a finite image array (H, W, 3), got shape {content.shape}")
    noise = check_rng("seed", seed).uniform(0, 255, size=content.shape).astype(np.float32)
    if init == "content":
        return content.copy()
    if init == "noise":
        return noise
    return (1.0 - noise_ratio) * content + noise_ratio * noise


def check_output_path(path: str | os.PathLike) -> Path:
    """``path`` as a Path if a generated image can be saved there; call it before the work starts.

    Raises
    ------
    facelib.errors.ArgumentError
        When ``path`` is a folder, its folder does not exist or cannot be written, or its extension
        names no image format that Pillow can both write and :func:`facelib.images.load_image` read back.
    """
    from PIL import Image

    from facelib.images import FORMATS

    path = Path(path)
    try:
        if path.is_dir():
            raise ArgumentError(f"output {path} is a folder; give a file name such as {path / 'out.png'}")
        if not path.parent.is_dir():
            raise ArgumentError(f"output folder {path.parent} does not exist; create it first")
    except OSError as error:  # a name too long, a loop of links
        raise ArgumentError(f"output {path}: {error.strerror or error}; choose another name") from error
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise ArgumentError(f"cannot write into the output folder {path.parent} (permission denied); choose a "
                            "folder you can write to")
    Image.init()
    writable = sorted(ext for ext, fmt in Image.registered_extensions().items()
                      if fmt in FORMATS and fmt in Image.SAVE)
    if path.suffix.lower() not in writable:
        raise ArgumentError(f"cannot save an image as {path.name!r}: its extension must be one of "
                            f"{', '.join(writable)} (formats Pillow can write and facelib can read back)")
    return path


# --- optimisation ------------------------------------------------------------------------------

@dataclass
class StyleResult:
    """What :func:`stylize` returns.

    Attributes
    ----------
    image : ndarray, uint8, shape (H, W, 3)
        The generated image G.
    history : dict of str to ndarray
        Per step (Adam) or iteration (L-BFGS), numbered on across the sizes of a coarse-to-fine run:
        ``step``, ``size`` (the longer side optimised at that step), ``seconds`` since the start
        (set-up and tracing excluded), ``cost`` J(G), and its parts ``content`` (J_content),
        ``style`` (J_style) and ``tv``, all of G before that step's update, with its
        :data:`EDGE_PAD` margin. With ``normalize`` the parts are the normalised ones.
    snapshots : list of (step, image)
        G every ``snapshot_every`` steps, and at the ``snapshot_at`` steps (step 0: the start).
    """

    image: np.ndarray
    history: dict[str, np.ndarray]
    snapshots: list[tuple[int, np.ndarray]] = field(default_factory=list)


EDGE_PAD = 8
"""Pixels of margin :func:`stylize` optimises around the image and crops at the end.

Why: SqueezeNet's first convolution and pools have stride 2 and no padding, so the last few rows
and columns of an image fall outside every window of some layers. Those pixels get almost no
gradient, and Adam, which divides by the gradient's running size, still moves them by full steps:
they end as a saturated stripe along the border. C and S are mirrored into the margin (reflection)
and G starts from the mirrored C, so the stripe forms in the margin, which is cut off.
"""

_HISTORY = ("step", "size", "seconds", "cost", "content", "style", "tv")


def balanced_weights(a_C: Any, style_activations: Mapping[str, Any],
                     layer_weights: Mapping[str, float]) -> tuple[float, dict[str, float]]:
    """Weights that make J_content and each J_style^[l] relative to their targets' own size.

    Returns ``(w_content, {layer: w_l})`` with w_content = 1 / J_content(C, 0) and
    w_l = lambda^[l] / J_style^[l](S, 0), the costs of the targets against all-zero activations:

        w_content J_content(C, G) = ||a(C) - a(G)||^2 / ||a(C)||^2,
        w_l J_style^[l](S, G) = lambda^[l] ||Gram(S) - Gram(G)||_F^2 / ||Gram(S)||_F^2,

    both 0 at the target and 1 for an all-black activation (G with nothing in it), whatever the
    layer's size or the network's activation scale. The lecture's normalisations
    1 / (4 n_H n_W n_C) and 1 / (2 n_H n_W n_C)^2 cancel, so alpha / beta alone sets the balance.
    """
    import tensorflow as tf

    a_C = _activation(a_C, "a_C")
    w_content = 1.0 / float(content_cost(a_C, tf.zeros_like(a_C)))
    weights = {}
    for name, lam in layer_weights.items():
        a_S = _activation(style_activations[name], f"style_activations[{name!r}]")
        weights[name] = lam / float(layer_style_cost(a_S, tf.zeros_like(a_S)))
    return w_content, weights


class _Problem:
    """The cost of G for fixed C and S at one size, with their targets computed once.

    With ``jitter`` > 0, G carries ``jitter`` more pixels of margin on each side than C, and each call
    of :meth:`cost` sees the window of G at the offset in ``self.offset``; C's content target is
    precomputed for every offset in ``offsets``.
    """

    def __init__(self, extractor: Any, backbone: str, content: np.ndarray, style: np.ndarray,
                 content_layer: str, style_weights: dict[str, float], alpha: float, beta: float,
                 tv_weight: float, normalize: bool, jitter: int = 0, seed: int = 0):
        import tensorflow as tf

        self.extractor, self.backbone = extractor, backbone
        self.content_layer = content_layer
        self.alpha, self.beta, self.tv_weight = alpha, beta, tv_weight
        self.window = content.shape[1:3]
        acts_S = extractor(backbones.preprocess(style, backbone))
        self.grams_S = {name: gram_matrix(acts_S[name]) for name in style_weights}
        if jitter:
            rng = np.random.default_rng(seed)
            self.offsets = np.concatenate([[[jitter, jitter]], rng.integers(0, 2 * jitter + 1, size=(15, 2))])
            shifted = np.pad(content, [(0, 0), (jitter, jitter), (jitter, jitter), (0, 0)], mode="reflect")
            targets = [self._window(shifted, dy, dx) for dy, dx in self.offsets]
        else:
            self.offsets, targets = np.zeros((1, 2), int), [content]
        self.a_C = extractor(backbones.preprocess(tf.concat(targets, 0), backbone))[content_layer]  # one batch
        self.content_weight, self.style_weights = 1.0, dict(style_weights)
        if normalize:
            self.content_weight, self.style_weights = balanced_weights(self.a_C[:1], acts_S, style_weights)
        self.offset = tf.Variable(0, trainable=False)  # index into offsets; 0: the centre
        self.parts = tf.Variable(tf.zeros(4), trainable=False)  # J, J_content, J_style, TV of the last call

    def _window(self, image: Any, dy: Any, dx: Any) -> Any:
        import tensorflow as tf

        return tf.slice(image, [0, dy, dx, 0], [1, self.window[0], self.window[1], 3])

    def costs(self, image: Any) -> tuple[Any, Any, Any, Any]:
        """(J, J_content, J_style, TV) of ``image`` (1, H, W, 3) in [0, 255] RGB (its window at ``offset``)."""
        import tensorflow as tf

        dy, dx = tf.unstack(tf.gather(tf.constant(self.offsets, tf.int32), self.offset))
        window = self._window(image, dy, dx)
        acts = self.extractor(backbones.preprocess(window, self.backbone))
        a_C = tf.gather(self.a_C, self.offset)[None]
        J_content = self.content_weight * content_cost(a_C, acts[self.content_layer])
        J_style = sum(w * _style_cost_from_gram(self.grams_S[name], acts[name])
                      for name, w in self.style_weights.items())
        tv = total_variation(window)
        return total_cost(J_content, J_style, self.alpha, self.beta) + self.tv_weight * tv, J_content, J_style, tv

    def cost(self, image: Any) -> Any:
        """J(G) of ``image``; its parts are kept in ``self.parts``."""
        import tensorflow as tf

        parts = self.costs(image)
        self.parts.assign(tf.stack(parts))
        return parts[0]


def train_step(image: Any, cost: Any, optimizer: Any) -> Any:
    """One step of gradient descent on the pixels: G := clip_[0, 255](G - step(dJ/dG)).

    Parameters
    ----------
    image : tf.Variable, shape (1, H, W, 3)
        The generated image G in [0, 255], updated in place.
    cost : callable
        ``cost(image)`` -> J(G), a scalar tensor.
    optimizer : keras.optimizers.Optimizer
        Turns the gradient into the step (``apply_gradients``).

    Returns
    -------
    tensor, scalar
        J(G) before the update.
    """
    import tensorflow as tf

    with tf.GradientTape() as tape:
        J = cost(image)
    optimizer.apply_gradients([(tape.gradient(J, image), image)])
    image.assign(tf.clip_by_value(image, 0.0, 255.0))
    return J


def _settings(recipe: Recipe, given: dict[str, Any]) -> Recipe:
    """``recipe`` with every setting in ``given`` that is not None put in its place, each checked."""
    s = dataclasses.replace(recipe, **{key: value for key, value in given.items() if value is not None})
    return dataclasses.replace(
        s, content_layer=s.content_layer.replace("/", "_"), style_weights=_layer_weights(s.style_weights),
        alpha=check_float("alpha", s.alpha, minimum=0.0), beta=check_float("beta", s.beta, minimum=0.0),
        tv_weight=check_float("tv_weight", s.tv_weight, minimum=0.0),
        learning_rate=check_float("learning_rate", s.learning_rate, minimum=0.0, exclusive_minimum=True),
        steps=check_int("steps", s.steps, minimum=1), init=check_choice("init", s.init, INITS),
        noise_ratio=check_float("noise_ratio", s.noise_ratio, minimum=0.0, maximum=1.0),
        pooling=check_choice("pooling", s.pooling, backbones.POOLINGS), normalize=bool(s.normalize),
        coarse_size=check_int("coarse_size", s.coarse_size, minimum=0), jitter=check_int("jitter", s.jitter, minimum=0),
        refine_steps=check_int("refine_steps", s.refine_steps, minimum=0))


def _check_size(size: int | tuple[int, int]) -> None:
    for i, side in enumerate(np.atleast_1d(size)):
        if isinstance(side, int | np.integer) and side > MAX_SIZE:
            raise ArgumentError(
                f"size{'' if np.ndim(size) == 0 else f'[{i}]'} must be at most {MAX_SIZE} pixels, got {side}: "
                "memory and time per step grow with the number of pixels (at 1024 x 1024 a run needs about 1.8 GB "
                "with SqueezeNet and 4.2 GB with VGG19; 3000 px would need about 9 times that). Stylise at up to "
                f"{MAX_SIZE} px and enlarge the result if you need it bigger.")


def coarse_to_fine_shapes(shape: tuple[int, int], coarse_size: int) -> list[tuple[int, int]]:
    """The (height, width) of each size a coarse-to-fine run optimises, coarsest first.

    Halve ``shape`` while its longer side stays at least ``coarse_size`` and its shorter side at least
    32 px (the smallest image facelib resizes to); ``coarse_size`` 0 (or at least the longer side) gives
    ``[shape]`` only.

    >>> coarse_to_fine_shapes((340, 512), 128)
    [(85, 128), (170, 256), (340, 512)]
    """
    shapes = [tuple(shape)]
    while coarse_size and max(shapes[0]) // 2 >= coarse_size and min(shapes[0]) // 2 >= 32:
        shapes.insert(0, tuple(max(1, round(side / 2)) for side in shapes[0]))
    return shapes


def stylize(content: Any, style: Any, *, size: int | tuple[int, int] = 256, backbone: str = "squeezenet",
            weights: str | None = "imagenet", recipe: Recipe | None = None, content_layer: str | None = None,
            style_layers: Sequence[str] | Mapping[str, float] | None = None, alpha: float | None = None,
            beta: float | None = None, tv_weight: float | None = None, optimizer: str = "adam",
            steps: int | None = None, learning_rate: float | None = None, init: str | None = None,
            noise_ratio: float | None = None, pooling: str | None = None, normalize: bool | None = None,
            coarse_size: int | None = None, jitter: int | None = None, refine_steps: int | None = None, seed: int = 0,
            max_seconds: float | None = None, snapshot_every: int = 0, snapshot_at: Sequence[int] = (),
            progress: bool = True, extractor: Any = None, step: Any = None) -> StyleResult:
    """Generate G with the content of ``content`` and the style of ``style``: min_G J(G).

    Every setting left at ``None`` comes from ``recipe`` (default ``RECIPES[backbone]``; see
    :class:`Recipe` for what each does).

    Parameters
    ----------
    content, style : path or array
        RGB images (anything :func:`facelib.images.load_image` reads). ``content`` is resized
        to ``size``; ``style`` is centre-cropped and resized to the same height and width, so
        n_H, n_W and n_C of every layer match between S and G.
    size : int or (height, width)
        The generated image's longer side, or its exact shape; 32 to :data:`MAX_SIZE` pixels.
    backbone, weights : see :func:`facelib.convnets.backbones.feature_extractor`.
    recipe : Recipe, optional
        The defaults of every setting below; ``RECIPES[backbone]`` when not given.
    content_layer : str, optional
        Layer l of J_content.
    style_layers : list of names or mapping name -> lambda^[l], optional
        Layers of J_style; a list weighs them equally.
    alpha, beta : float, optional
        Weights of J_content and J_style in J(G); raise beta for more style.
    tv_weight : float, optional
        Weight of :func:`total_variation` (0: off). It smooths high-frequency noise.
    optimizer : {"adam", "lbfgs"}
        Adam on the pixels (:func:`train_step` compiled with ``tf.function``), with the recipe's
        learning-rate drop; or SciPy's L-BFGS-B with the bounds [0, 255] (one compiled
        cost-and-gradient call per function evaluation; no jitter, as L-BFGS needs one fixed cost).
    steps : int, optional
        Adam steps, or L-BFGS iterations, at the first size (at every size if ``refine_steps`` is 0).
    learning_rate : float, optional
        Adam's step size, in pixel units (0-255).
    init : {"content", "noise", "blend"}, noise_ratio : float, seed : int
        Starting point (:func:`initial_image`); ``seed`` also draws the jitter.
    pooling : {"max", "avg"}, optional
        The backbone's pooling; must match ``extractor``'s when one is given.
    normalize : bool, optional
        Costs relative to their targets' own (:func:`balanced_weights`).
    coarse_size : int, optional
        Coarse to fine from this longer side (:func:`coarse_to_fine_shapes`; 0: one size).
    jitter : int, optional
        Random shift of G at each Adam step, up to this many pixels each way (0: off).
    refine_steps : int, optional
        Steps at each larger size of a coarse-to-fine run (0: ``steps``).
    max_seconds : float, optional
        Stop once this much optimisation time has passed (to compare optimisers on one budget).
    snapshot_every : int
        Keep G every this many steps (0: none).
    snapshot_at : sequence of int
        Keep G also at these steps (0: the starting image).
    progress : bool
        Show a tqdm progress bar (on stderr, redrawn in place).
    extractor : keras.Model, optional
        A ready :func:`facelib.convnets.backbones.feature_extractor` of ``backbone`` whose outputs include
        the content and style layers (built here otherwise).
    step : callable, optional
        The Adam step, ``step(image, cost, optimizer)`` -> J, as :func:`train_step` (the default).

    Returns
    -------
    StyleResult
        The image (uint8), the cost history and the snapshots.

    Raises
    ------
    facelib.errors.ArgumentError
        For a setting out of range, or a size above :data:`MAX_SIZE`.
    """
    from tqdm import tqdm

    from facelib.images import resize

    backbone = backbones.check_backbone(backbone)
    optimizer = check_choice("optimizer", optimizer, OPTIMIZERS)
    s = _settings(RECIPES[backbone] if recipe is None else recipe, dict(
        content_layer=content_layer, style_weights=style_layers, alpha=alpha, beta=beta, tv_weight=tv_weight,
        steps=steps, learning_rate=learning_rate, init=init, noise_ratio=noise_ratio, pooling=pooling,
        normalize=normalize, coarse_size=coarse_size, jitter=jitter, refine_steps=refine_steps))
    if max_seconds is not None:
        check_float("max_seconds", max_seconds, minimum=0.0, exclusive_minimum=True)
    check_int("snapshot_every", snapshot_every, minimum=0)
    progress = check_bool("progress", progress)
    seed = check_int("seed", seed, minimum=0)
    try:
        snapshot_at = {check_int("snapshot_at", n, minimum=0) for n in snapshot_at}
    except TypeError:
        raise ArgumentError(f"snapshot_at must be a collection of step numbers, got {snapshot_at!r}") from None
    _check_size(size)
    layers = [*s.style_weights, s.content_layer]
    if extractor is None:
        extractor = backbones.feature_extractor(backbone, layers, weights, pooling=s.pooling)
    missing = [n for n in layers if n not in extractor.output]
    if missing:
        raise ArgumentError(f"the extractor does not output layers {missing}; build it with them.")

    content_px = resize(content, size, name="content")
    style_px = resize(style, content_px.shape[:2], name="style")
    shapes = coarse_to_fine_shapes(content_px.shape[:2], s.coarse_size)
    jitter = s.jitter if optimizer == "adam" else 0
    steps = [s.steps] + [s.refine_steps or s.steps] * (len(shapes) - 1)
    run = _Run(s, snapshot_every, snapshot_at, max_seconds,
               tqdm(total=sum(steps), desc=f"stylize ({optimizer}, {backbone})", disable=not progress,
                    leave=False, mininterval=1.0))
    image = None
    try:
        for shape, count in zip(shapes, steps, strict=True):
            content_l, style_l = (_with_margin(resize(x, shape), EDGE_PAD) for x in (content_px, style_px))
            problem = _Problem(extractor, backbone, content_l[None], style_l[None], s.content_layer,
                               s.style_weights, s.alpha, s.beta, s.tv_weight, s.normalize, jitter, seed)
            if image is None:
                start = initial_image(content_l, s.init, s.noise_ratio, seed)
            else:  # the previous size's G without its margin, enlarged, then mirrored into a new margin
                start = _with_margin(_upsample(_inside(image, EDGE_PAD + jitter), shape), EDGE_PAD)
            start = _with_margin(start, jitter)[None]
            run.size = max(shape)
            image = (_adam(problem, start, count, run, step or train_step) if optimizer == "adam"
                     else _lbfgs(problem, start, count, run))[0]
            if run.stopped:
                break
    finally:
        run.bar.close()
    history = {key: np.array([row[i] for row in run.rows]) for i, key in enumerate(_HISTORY)}
    final = _inside(image, EDGE_PAD + jitter)
    if final.shape[:2] != content_px.shape[:2]:  # stopped early at a coarser size
        final = _upsample(final, content_px.shape[:2])
    return StyleResult(_to_uint8(final), history,
                       [(n, _to_uint8(_inside(g, EDGE_PAD + jitter))) for n, g in run.snapshots])


def _inside(image: np.ndarray, margin: int) -> np.ndarray:
    """``image`` (H, W, 3) without ``margin`` pixels on every side."""
    return image[margin:image.shape[0] - margin, margin:image.shape[1] - margin]


def _with_margin(image: np.ndarray, pad: int) -> np.ndarray:
    """``image`` (H, W, 3) mirrored ``pad`` pixels into a margin on every side."""
    return np.pad(np.asarray(image, np.float32), [(pad, pad), (pad, pad), (0, 0)], mode="reflect")


def _upsample(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``image`` (H, W, 3) float in [0, 255] resized to ``shape`` (bicubic), clipped to [0, 255]."""
    import tensorflow as tf

    resized = tf.image.resize(np.asarray(image, np.float32)[None], shape, method="bicubic")[0]
    return np.clip(resized.numpy(), 0.0, 255.0)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(image)), 0, 255).astype(np.uint8)


class _Run:
    """The bookkeeping of one :func:`stylize` call across its sizes: history rows, snapshots, clock."""

    def __init__(self, settings: Recipe, snapshot_every: int, snapshot_at: set[int], max_seconds: float | None,
                 bar: Any):
        self.settings, self.snapshot_every, self.snapshot_at = settings, snapshot_every, snapshot_at
        self.max_seconds, self.bar = max_seconds, bar
        self.rows: list[tuple] = []
        self.snapshots: list[tuple[int, np.ndarray]] = []
        self.size, self.seconds, self.stopped = 0, 0.0, False

    def record(self, seconds: float, parts: Sequence[float], image: Any) -> None:
        """Log one step (``seconds`` of this size's clock, J and its parts of G before the step)."""
        number = len(self.rows) + 1
        self.rows.append((number, self.size, self.seconds + seconds, *parts))
        self.bar.update()
        if (self.snapshot_every and number % self.snapshot_every == 0) or number in self.snapshot_at:
            self.snapshots.append((number, np.asarray(image())[0]))
        self.stopped = self.max_seconds is not None and self.rows[-1][2] >= self.max_seconds

    def snapshot_start(self, image: np.ndarray) -> None:
        if not self.rows and 0 in self.snapshot_at:
            self.snapshots.append((0, image[0]))


def _adam(problem: _Problem, start: np.ndarray, steps: int, run: _Run, step_fn: Any) -> tuple[np.ndarray]:
    import keras
    import tensorflow as tf

    s = run.settings
    image = tf.Variable(start)
    run.snapshot_start(start)
    # epsilon: Adam divides by sqrt(v) + epsilon, v the running mean of squared gradients; Keras's 1e-7 makes
    # the first steps jump by the full learning rate on pixels whose gradient is tiny; epsilon at about a
    # thousandth of the typical gradient damps those (gradients of the normalised J are about 1e-6 to 1e-4
    # a pixel, of the lecture's J 1e2 to 1e4).
    epsilon = 1e-8 if s.normalize else 1e-1
    adam = keras.optimizers.Adam(learning_rate=s.learning_rate, beta_1=0.9, beta_2=0.999, epsilon=epsilon)
    adam.build([image])  # create its state now: a step_fn compiled by the caller may not create variables
    # autograph=False: the step has no Python control flow on tensors to convert, and tracing is faster
    compiled = tf.function(lambda: step_fn(image, problem.cost, adam), autograph=False)
    compiled.get_concrete_function()  # trace before the clock starts
    draws = np.random.default_rng(len(run.rows)).integers(0, len(problem.offsets), size=steps)
    decay_step = int(s.decay_at * steps)
    t0 = time.perf_counter()
    for number in range(1, steps + 1):
        if number == decay_step + 1 and s.decay != 1.0:
            adam.learning_rate.assign(s.learning_rate * s.decay)
        problem.offset.assign(draws[number - 1])
        compiled()
        run.record(time.perf_counter() - t0, [float(v) for v in problem.parts.numpy()], image.numpy)
        if run.stopped:
            break
    run.seconds = run.rows[-1][2]
    return (image.numpy()[0],)


def _lbfgs(problem: _Problem, start: np.ndarray, steps: int, run: _Run) -> tuple[np.ndarray]:
    import tensorflow as tf
    from scipy.optimize import Bounds, minimize

    shape = start.shape
    run.snapshot_start(start)

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
        run.record(time.perf_counter() - t0, [float(intermediate_result.fun), *latest[1:]],
                   lambda: intermediate_result.x.reshape(shape))
        if run.stopped:
            raise StopIteration

    latest: list[float] = [0.0] * 4
    cost_and_gradient.get_concrete_function()
    t0 = time.perf_counter()
    # maxcor: the number of past gradients L-BFGS keeps to model the curvature (SciPy's default)
    result = minimize(fun, start.reshape(-1).astype(np.float64), jac=True, method="L-BFGS-B",
                      bounds=Bounds(0.0, 255.0), callback=callback,
                      options={"maxiter": steps, "maxcor": 10})
    run.seconds = run.rows[-1][2] if run.rows else run.seconds
    return (result.x.reshape(shape)[0],)
