"""A small face encoder f(x) trained from scratch with the triplet loss, on a time budget.

A Siamese network runs *one* encoder, with one set of weights, on every image it compares;
training shapes that encoder so that d(A, P) + alpha <= d(A, N). Each step draws a "P x K"
batch (P people, K images each, :func:`facelib.metric.mining.pk_batch`), encodes it, picks triplets
by one of the strategies below and takes a gradient step on their mean triplet loss:

- ``"random"``: one random positive and negative per anchor (:func:`facelib.metric.mining.random_triplets`);
- ``"batch_all"``, ``"batch_hard"``, ``"semi_hard"``: :mod:`facelib.metric.losses`' batch losses,
  which select inside the graph from the current encodings.

Training runs for a number of *seconds* of training time (batch drawing, triplet selection and
gradient steps; evaluation and the one-off graph building excluded), so that strategies can be
compared at equal cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from facelib.errors import ArgumentError
from facelib.metric import losses, mining
from facelib.validation import check_int

STRATEGIES = ("random", "batch_all", "batch_hard", "semi_hard")


def small_encoder(input_shape: tuple[int, int, int] = (56, 46, 1), dim: int = 64, seed: int = 0) -> keras.Model:
    """Three conv blocks, a dense layer and L2 normalisation: f(x) in R^dim with ||f(x)||_2 = 1.

    Inputs are uint8-range pixels (0..255), rescaled inside the model.
    """
    init = keras.initializers.HeUniform
    layers = [keras.Input(input_shape), keras.layers.Rescaling(1 / 255.0)]
    for i, filters in enumerate((8, 16, 32)):
        layers += [keras.layers.Conv2D(filters, 3, padding="same", activation="relu",
                                       kernel_initializer=init(seed + i)),
                   keras.layers.MaxPooling2D()]
    layers += [keras.layers.Flatten(), keras.layers.Dense(dim, kernel_initializer=init(seed + 3)),
               keras.layers.UnitNormalization()]
    return keras.Sequential(layers, name="small_encoder")


def embed(encoder: keras.Model, images, batch_size: int = 256) -> np.ndarray:
    """Encodings f(x) of a stack of images, as a float32 NumPy array (n, dim)."""
    images = np.asarray(images)
    if images.ndim == len(encoder.input_shape) - 1:
        images = images[..., None]  # greyscale (n, H, W) -> (n, H, W, 1)
    return np.concatenate([np.asarray(encoder(images[i:i + batch_size], training=False))
                           for i in range(0, len(images), batch_size)])


@dataclass
class History:
    """What training recorded at each evaluation: training seconds, steps, mean loss since the last one, metric."""

    seconds: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    metric: list[float] = field(default_factory=list)


def train_encoder(encoder: keras.Model, images, labels, strategy: str, seconds: float, *, people: int = 8,
                  images_per_person: int = 4, alpha: float = 0.2, learning_rate: float = 1e-3, seed: int = 0,
                  evaluate: Callable[[keras.Model], float] | None = None, eval_every: float = 1.0,
                  max_steps: int | None = None) -> History:
    """Train ``encoder`` in place with the triplet loss for ``seconds`` of training time (or ``max_steps`` steps).

    Parameters
    ----------
    encoder : keras.Model
        Maps a batch of images to encodings.
    images, labels : arrays
        Training images (n, H, W[, C]) and person labels (n,).
    strategy : {"random", "batch_all", "batch_hard", "semi_hard"}
        How triplets are chosen in each batch.
    seconds : float
        Training time budget; evaluation time is not counted.
    people, images_per_person : int
        Batch composition P x K.
    alpha : float
        Triplet margin.
    evaluate : callable, optional
        ``evaluate(encoder) -> float`` (e.g. held-out AUC), recorded at start, about every
        ``eval_every`` training seconds, and at the end.
    max_steps : int, optional
        Stop after this many steps even when time is left: an outcome that depends on the number of
        steps (not on the machine's speed) then repeats on any machine.

    Returns
    -------
    History
    """
    if strategy not in STRATEGIES:
        raise ArgumentError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if not seconds > 0:
        raise ArgumentError(f"seconds must be > 0, got {seconds!r}")
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim == len(encoder.input_shape) - 1:
        images = images[..., None]
    if len(images) != len(labels):
        raise ArgumentError(f"images and labels must have the same length, got {len(images)} and {len(labels)}")
    if max_steps is not None:
        max_steps = check_int("max_steps", max_steps, minimum=1)
    rng = np.random.default_rng(seed)
    step = _training_step(encoder, strategy, alpha, learning_rate)
    history, spent, steps, recent = History(), 0.0, 0, []

    def record():
        history.seconds.append(spent)
        history.steps.append(steps)
        history.loss.append(float(np.mean(recent)) if recent else float("nan"))
        history.metric.append(float(evaluate(encoder)) if evaluate else float("nan"))
        recent.clear()

    record()
    next_eval = eval_every
    while spent < seconds and (max_steps is None or steps < max_steps):
        start = time.perf_counter()
        index = mining.pk_batch(labels, people, images_per_person, rng)
        y = labels[index]
        triplets = mining.random_triplets(y, rng) if strategy == "random" else np.zeros((0, 3), np.int64)
        recent.append(float(step(tf.constant(images[index], tf.float32), tf.constant(y), tf.constant(triplets))))
        if steps:  # the first step also builds the graph: that one-off cost is not counted
            spent += time.perf_counter() - start
        steps += 1
        if spent >= next_eval:
            record()
            next_eval += eval_every
    if history.steps[-1] != steps:
        record()
    return history


def _training_step(encoder: keras.Model, strategy: str, alpha: float, learning_rate: float) -> Callable:
    """One compiled Adam step on a batch ``(x, y, triplets)``: the triplet loss of ``strategy``, returned.

    ``"random"`` averages the loss over the given triplets (index rows a, p, n of the batch); the
    batch strategies mine their own triplets from the labels ``y`` (:data:`facelib.metric.losses.BATCH_LOSSES`).
    """
    optimizer = keras.optimizers.Adam(learning_rate)
    optimizer.build(encoder.trainable_variables)  # its slots exist before the step is traced

    def loss_of(batch_labels, encodings, triplets):
        if strategy == "random":
            a, p, n = (tf.gather(encodings, triplets[:, k]) for k in range(3))
            return losses.triplet_loss(a, p, n, alpha) / tf.cast(tf.shape(triplets)[0], encodings.dtype)
        return losses.BATCH_LOSSES[strategy](batch_labels, encodings, alpha)

    @tf.function
    def step(x, y, triplets):
        with tf.GradientTape() as tape:
            loss = loss_of(y, encoder(x, training=True), triplets)
        grads = tape.gradient(loss, encoder.trainable_variables)
        optimizer.apply_gradients(zip(grads, encoder.trainable_variables, strict=True))
        return loss

    return step
