"""Checkers for notebook 06 (the style-transfer costs).

Each checker runs the learner's function on fixed random activations of several shapes
(including a batch of two) and compares it with :mod:`facelib.convnets.style`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from facelib.convnets import style
from facelib.course.checks._core import CheckFailed, call, expect_close, passed

_SHAPES = [(1, 4, 4, 3), (1, 3, 5, 8), (1, 6, 2, 16)]


def _activations(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # ReLU outputs, like the real layers: non-negative
    return (np.maximum(rng.normal(size=shape), 0).astype(np.float32),
            np.maximum(rng.normal(size=shape), 0).astype(np.float32))


def _check_two_activations(fn: Callable, name: str, reference: Callable, first_seed: int, hint: str) -> None:
    """Compare ``fn(a, b)`` with ``reference(a, b)`` on two ReLU-like activation volumes of each shape."""
    for i, shape in enumerate(_SHAPES, 1):
        a, b = _activations(shape, first_seed + i)
        expect_close(call(fn, a, b, name=name), reference(a, b), f"case {i} (activations {shape})", hint)
    passed(name, len(_SHAPES))


def check_compute_content_cost(fn: Callable) -> None:
    """``fn(a_C, a_G)`` = 1 / (4 n_H n_W n_C) sum (a_C - a_G)^2 on activations (1, n_H, n_W, n_C)."""
    _check_two_activations(fn, "compute_content_cost", style.content_cost, 0,
                           "Square the differences, sum over every element, and divide by 4 n_H n_W n_C "
                           "(read n_H, n_W, n_C from a_G's shape).")


def check_gram_matrix(fn: Callable) -> None:
    """``fn(a)`` = G with G_kk' = sum_i sum_j a_ijk a_ijk', shape (m, n_C, n_C), for a (m, n_H, n_W, n_C)."""
    shapes = [*_SHAPES, (2, 3, 3, 4)]
    for i, shape in enumerate(shapes, 1):
        a, _ = _activations(shape, 10 + i)
        expect_close(call(fn, a, name="gram_matrix"), style.gram_matrix(a), f"case {i} (activations {shape})",
                     "Unroll to shape (m, n_H*n_W, n_C), then multiply its transpose by it, so that "
                     "channels (not positions) index the result. Keep the batch axis m; do not normalise.")
    passed("gram_matrix", len(shapes))


def check_compute_layer_style_cost(fn: Callable) -> None:
    """``fn(a_S, a_G)`` = 1 / (2 n_H n_W n_C)^2 sum (G^(S) - G^(G))^2 for one layer."""
    _check_two_activations(fn, "compute_layer_style_cost", style.layer_style_cost, 20,
                           "Compare the two Gram matrices: square their differences, sum, and divide by "
                           "(2 n_H n_W n_C) squared.")


def check_compute_style_cost(fn: Callable) -> None:
    """``fn(style_activations, generated_activations, style_layers)`` = sum_l lambda^[l] J_style^[l]."""
    cases = [{"layer_a": 0.5, "layer_b": 0.5}, {"layer_a": 0.1, "layer_b": 0.2, "layer_c": 0.7},
             {"layer_c": 1.0}]
    acts_S, acts_G = {}, {}
    for i, (name, shape) in enumerate(zip(("layer_a", "layer_b", "layer_c"), _SHAPES, strict=True), 1):
        acts_S[name], acts_G[name] = _activations(shape, 30 + i)
    for i, lambdas in enumerate(cases, 1):
        expect_close(call(fn, acts_S, acts_G, lambdas, name="compute_style_cost"),
                     style.style_cost(acts_S, acts_G, lambdas), f"case {i} (layers and lambdas {lambdas})",
                     "Loop over style_layers only: add lambda^[l] times the layer's style cost for each.")
    passed("compute_style_cost", len(cases))


def check_total_cost(fn: Callable, hidden: bool = False) -> None:
    """``fn(J_content, J_style, alpha=10, beta=40)`` = alpha J_content + beta J_style."""
    cases = [((3.0, 2.0), {}), ((1.5, 0.25), {"alpha": 1.0, "beta": 100.0}), ((0.5, 4.0), {"alpha": 7.0, "beta": 0.5})]
    if hidden:  # run by the hidden tests only, never shown in the student copy
        cases = [((0.75, 5.0), {}), ((2.0, 0.125), {"alpha": 3.0, "beta": 9.0}), ((6.0, 1.5), {"beta": 2.0})]
    for i, (args, kwargs) in enumerate(cases, 1):
        expected = style.total_cost(*args, **kwargs)
        expect_close(call(fn, *args, name="total_cost", **kwargs), expected,
                     f"case {i} (J_content, J_style = {args}, {kwargs or 'default alpha=10, beta=40'})",
                     "alpha multiplies J_content and beta multiplies J_style; keep the defaults alpha=10, beta=40.")
    passed("total_cost", len(cases))


def check_train_step(fn: Callable) -> None:
    """``fn(image, cost, optimizer)``: one step G := clip_[0, 255](G - step(dJ/dG)) on the variable, returns J.

    Runs on a quadratic cost J(G) = mean (G - T)^2 whose target T lies partly outside [0, 255]: with
    plain SGD the expected G is computed here in NumPy (G - lr 2 (G - T) / N, clipped); with Adam it is
    :func:`facelib.convnets.style.train_step`'s.
    """
    import keras
    import tensorflow as tf

    rng = np.random.default_rng(40)
    start = rng.uniform(0, 255, size=(1, 4, 5, 3)).astype(np.float32)
    target = rng.uniform(-300, 555, size=start.shape).astype(np.float32)  # about a third outside [0, 255]

    def cost(image):
        return tf.reduce_mean(tf.square(image - target))

    hint = ("Inside a tf.GradientTape compute J = cost(image); take tape.gradient(J, image); call "
            "optimizer.apply_gradients([(gradient, image)]) (it descends: G - step); then "
            "image.assign(tf.clip_by_value(image, 0.0, 255.0)) and return J.")
    learning_rate = 2000.0  # an SGD step of lr 2 (G - T) / N that crosses the pixel range
    image = tf.Variable(start)
    sgd = keras.optimizers.SGD(learning_rate=learning_rate)
    sgd.build([image])  # its state exists before the call, so a step compiled with tf.function works too
    try:
        J = call(fn, image, cost, sgd, name="train_step")
    except ValueError as error:  # Keras refuses to step a variable the optimizer was not built for
        raise CheckFailed(f"case 1 (one SGD step) raised {error!s:.200}... Update `image` itself (the "
                          f"tf.Variable you were given), not a copy. {hint}") from error
    expect_close(J, np.mean((start.astype(np.float64) - target) ** 2), "case 1 (the returned J, SGD)",
                 "Return J of the image before the update. " + hint)
    expected = np.clip(start - learning_rate * 2.0 * (start - target) / start.size, 0.0, 255.0)
    expect_close(image, expected, "case 2 (the variable after one SGD step)", hint, atol=1e-3)

    results = []
    for step in (fn, style.train_step):
        image = tf.Variable(start)
        adam = keras.optimizers.Adam(learning_rate=30.0)
        adam.build([image])
        for _ in range(3):
            call(step, image, cost, adam, name="train_step")
        results.append(image.numpy())
    expect_close(results[0], results[1], "case 3 (the variable after three Adam steps)",
                 "Let the optimizer make the step (do not subtract the gradient yourself). " + hint, atol=1e-3)
    passed("train_step", 3)
