"""Checkers for notebooks 06 (the style-transfer costs) and 07 (the training step).

Each checker runs the learner's function on fixed random activations of several shapes
(including a batch of two) and compares it with :mod:`facelib.convnets.style`, itself tested
against NumPy references. A wrong answer is matched against the likely mistakes, each computed
here in NumPy from the same inputs (the lecture's 1/2 instead of the assignment's normalisation, a
plain mean, absolute instead of squared differences, ...), so the message names the mistake the
learner's values show, as :func:`facelib.course.checks.signals.check_conv_output_shape` does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from facelib.convnets import style
from facelib.course.checks._core import CheckFailed, as_numpy, call, expect_close, passed

_SHAPES = [(1, 4, 4, 3), (1, 3, 5, 8), (1, 6, 2, 16)]

Mistakes = list[tuple[np.ndarray, str]]
"""(the value a mistake gives on a case's inputs, what to tell the learner who made it)."""


def _activations(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # ReLU outputs, like the real layers: non-negative
    return (np.maximum(rng.normal(size=shape), 0).astype(np.float32),
            np.maximum(rng.normal(size=shape), 0).astype(np.float32))


def diagnose(got: object, expected: object, mistakes: Mistakes, hint: str) -> str:
    """The message for a wrong ``got``: the first mistake whose value ``got`` matches, else ``hint``.

    A mistake whose value equals ``expected`` on these inputs cannot be told apart, so it is skipped.
    """
    got_arr, expected_arr = as_numpy(got), as_numpy(expected)
    for value, message in mistakes:
        value = np.asarray(value, np.float64)
        if value.shape != got_arr.shape:
            continue
        if value.shape == expected_arr.shape and np.allclose(value, expected_arr, rtol=1e-4, atol=1e-5):
            continue
        if np.allclose(got_arr, value, rtol=1e-4, atol=1e-5):
            return f"Your values match this mistake: {message} {hint}"
    return hint


def _expect(got: object, expected: object, case: str, mistakes: Mistakes, hint: str) -> None:
    expect_close(got, expected, case, diagnose(got, expected, mistakes, hint))


def _np_gram(a: np.ndarray) -> np.ndarray:
    flat = a.reshape(a.shape[0], -1, a.shape[-1])
    return flat.transpose(0, 2, 1) @ flat


def _content_mistakes(a_C: np.ndarray, a_G: np.ndarray) -> Mistakes:
    d = a_C.astype(np.float64) - a_G
    volume = np.prod(d.shape[1:])
    return [(0.5 * np.sum(d ** 2), "1/2 sum (a_C - a_G)^2 is the lecture's normalisation; this course uses the "
                                   "assignment's 1 / (4 n_H n_W n_C)."),
            (np.mean(d ** 2), "a plain mean of the squared differences divides by n_H n_W n_C, not by "
                              "4 n_H n_W n_C."),
            (np.sum(np.abs(d)) / (4 * volume), "absolute differences |a_C - a_G| instead of squared ones."),
            (np.sum(d ** 2), "the sum of squares is right, but it is not divided by 4 n_H n_W n_C."),
            (np.sqrt(np.sum(d ** 2)) / (4 * volume), "a norm ||a_C - a_G|| (a square root) instead of its square.")]


def check_compute_content_cost(fn: Callable) -> None:
    """``fn(a_C, a_G)`` = 1 / (4 n_H n_W n_C) sum (a_C - a_G)^2 on activations (1, n_H, n_W, n_C)."""
    hint = ("Square the differences, sum over every element, and divide by 4 n_H n_W n_C "
            "(read n_H, n_W, n_C from a_G's shape).")
    for i, shape in enumerate(_SHAPES, 1):
        a_C, a_G = _activations(shape, i)
        _expect(call(fn, a_C, a_G, name="compute_content_cost"), style.content_cost(a_C, a_G),
                f"case {i} (activations {shape})", _content_mistakes(a_C, a_G), hint)
    passed("compute_content_cost", len(_SHAPES))


def check_gram_matrix(fn: Callable) -> None:
    """``fn(a)`` = G with G_kk' = sum_i sum_j a_ijk a_ijk', shape (m, n_C, n_C), for a (m, n_H, n_W, n_C)."""
    shapes = [*_SHAPES, (2, 3, 3, 4)]
    hint = ("Unroll to shape (m, n_H*n_W, n_C), then multiply its transpose by it, so that channels (not "
            "positions) index the result. Keep the batch axis m; do not normalise.")
    for i, shape in enumerate(shapes, 1):
        a, _ = _activations(shape, 10 + i)
        m, n_H, n_W, n_C = shape
        flat, a64 = a.reshape(m, n_H * n_W, n_C).astype(np.float64), a.astype(np.float64)
        straight = a64.reshape(m, n_C, n_H * n_W)
        mistakes = [(_np_gram(a64) / (n_H * n_W), "the Gram matrix divided by n_H n_W (a mean over positions); "
                                                  "the lecture's style matrix is the plain sum."),
                    (flat @ flat.transpose(0, 2, 1), "a matrix over positions (n_H n_W x n_H n_W): transpose "
                                                     "the other factor so that channels index the result."),
                    (straight @ straight.transpose(0, 2, 1), "reshaping straight to (m, n_C, n_H n_W) mixes "
                                                             "positions and channels: reshape to (m, n_H n_W, "
                                                             "n_C) first, then transpose."),
                    (_np_gram(a64)[0], "the batch axis m is gone.")]
        _expect(call(fn, a, name="gram_matrix"), style.gram_matrix(a), f"case {i} (activations {shape})",
                mistakes, hint)
    passed("gram_matrix", len(shapes))


def _layer_style_mistakes(a_S: np.ndarray, a_G: np.ndarray) -> Mistakes:
    a_S, a_G = a_S.astype(np.float64), a_G.astype(np.float64)
    d = _np_gram(a_S) - _np_gram(a_G)
    n = np.prod(a_G.shape[1:])
    return [(0.5 * np.sum(d ** 2), "1/2 sum (...)^2 is the lecture's content normalisation; the style cost "
                                   "divides by (2 n_H n_W n_C)^2."),
            (np.mean(d ** 2), "a plain mean over the Gram matrix's entries divides by n_C^2, not by "
                              "(2 n_H n_W n_C)^2."),
            (np.sum(np.abs(d)) / (2 * n) ** 2, "absolute differences of the Gram matrices instead of squared ones."),
            (np.sum(d ** 2) / (2 * n), "divided by 2 n_H n_W n_C, not by its square."),
            (np.sum(d ** 2) / n ** 2, "divided by (n_H n_W n_C)^2: the 2 inside the square is missing."),
            (np.sum(d ** 2), "the sum of squares is right, but it is not divided by (2 n_H n_W n_C)^2."),
            (np.sum((a_S - a_G) ** 2) / (2 * n) ** 2, "compared the activations, not their Gram matrices.")]


def check_compute_layer_style_cost(fn: Callable) -> None:
    """``fn(a_S, a_G)`` = 1 / (2 n_H n_W n_C)^2 sum (G^(S) - G^(G))^2 for one layer."""
    hint = ("Compare the two Gram matrices: square their differences, sum, and divide by (2 n_H n_W n_C) squared.")
    for i, shape in enumerate(_SHAPES, 1):
        a_S, a_G = _activations(shape, 20 + i)
        _expect(call(fn, a_S, a_G, name="compute_layer_style_cost"), style.layer_style_cost(a_S, a_G),
                f"case {i} (activations {shape})", _layer_style_mistakes(a_S, a_G), hint)
    passed("compute_layer_style_cost", len(_SHAPES))


def check_compute_style_cost(fn: Callable) -> None:
    """``fn(style_activations, generated_activations, style_layers)`` = sum_l lambda^[l] J_style^[l]."""
    cases = [{"layer_a": 0.5, "layer_b": 0.5}, {"layer_a": 0.1, "layer_b": 0.2, "layer_c": 0.7},
             {"layer_c": 1.0}]
    acts_S, acts_G = {}, {}
    for i, (name, shape) in enumerate(zip(("layer_a", "layer_b", "layer_c"), _SHAPES, strict=True), 1):
        acts_S[name], acts_G[name] = _activations(shape, 30 + i)
    per_layer = {name: float(style.layer_style_cost(acts_S[name], acts_G[name])) for name in acts_S}
    for i, lambdas in enumerate(cases, 1):
        mistakes = [(sum(per_layer[n] for n in lambdas), "the layers' costs are added without their lambda^[l]."),
                    (np.mean(list(per_layer.values())), "every layer of style_activations weighed equally; use "
                                                        "the layers and lambdas of style_layers."),
                    (sum(w * per_layer[n] for n, w in lambdas.items()) / len(lambdas),
                     "the weighted sum is divided by the number of layers; the lambdas already weigh them."),
                    (lambdas[list(lambdas)[-1]] * per_layer[list(lambdas)[-1]],
                     "only the last layer counts: add every layer inside the loop (check the return's "
                     "indentation).")]
        _expect(call(fn, acts_S, acts_G, lambdas, name="compute_style_cost"),
                style.style_cost(acts_S, acts_G, lambdas), f"case {i} (layers and lambdas {lambdas})", mistakes,
                "Loop over style_layers only: add lambda^[l] times the layer's style cost for each.")
    passed("compute_style_cost", len(cases))


def _total_mistakes(J_content: float, J_style: float, kwargs: Mapping[str, float]) -> Mistakes:
    alpha, beta = kwargs.get("alpha", 10.0), kwargs.get("beta", 40.0)
    mistakes = [(beta * J_content + alpha * J_style, "alpha and beta are swapped: alpha weighs J_content."),
                ((alpha * J_content + beta * J_style) / (alpha + beta),
                 "divided by alpha + beta; J = alpha J_content + beta J_style, not a weighted mean.")]
    if not kwargs:
        mistakes.append((J_content + J_style, "the defaults must be alpha=10, beta=40."))
    return mistakes


def check_total_cost(fn: Callable, hidden: bool = False) -> None:
    """``fn(J_content, J_style, alpha=10, beta=40)`` = alpha J_content + beta J_style."""
    cases = [((3.0, 2.0), {}), ((1.5, 0.25), {"alpha": 1.0, "beta": 100.0}), ((0.5, 4.0), {"alpha": 7.0, "beta": 0.5})]
    if hidden:  # run by the hidden tests only, never shown in the student copy
        cases = [((0.75, 5.0), {}), ((2.0, 0.125), {"alpha": 3.0, "beta": 9.0}), ((6.0, 1.5), {"beta": 2.0})]
    for i, (args, kwargs) in enumerate(cases, 1):
        _expect(call(fn, *args, name="total_cost", **kwargs), style.total_cost(*args, **kwargs),
                f"case {i} (J_content, J_style = {args}, {kwargs or 'default alpha=10, beta=40'})",
                _total_mistakes(*args, kwargs),
                "alpha multiplies J_content and beta multiplies J_style; keep the defaults alpha=10, beta=40.")
    passed("total_cost", len(cases))


def _adam_steps(start: np.ndarray, target: np.ndarray, learning_rate: float, steps: int) -> np.ndarray:
    """``steps`` Adam steps (Keras's defaults: beta_1 0.9, beta_2 0.999, epsilon 1e-7) on mean (G - T)^2, clipped."""
    x, m, v = start.astype(np.float64), 0.0, 0.0
    for t in range(1, steps + 1):
        g = 2.0 * (x - target) / x.size
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g ** 2
        x = x - learning_rate * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * m / (np.sqrt(v) + 1e-7)
        x = np.clip(x, 0.0, 255.0)
    return x


def check_train_step(fn: Callable) -> None:
    """``fn(image, cost, optimizer)``: one step G := clip_[0, 255](G - step(dJ/dG)) on the variable, returns J.

    Runs on a quadratic cost J(G) = mean (G - T)^2 whose target T lies partly outside [0, 255]; the
    expected G after one plain SGD step (G - lr 2 (G - T) / N, clipped) and after three Adam steps
    (Kingma and Ba's update with Keras's defaults) is computed here in NumPy.
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

    image = tf.Variable(start)
    adam = keras.optimizers.Adam(learning_rate=30.0)
    adam.build([image])
    for _ in range(3):
        call(fn, image, cost, adam, name="train_step")
    expect_close(image, _adam_steps(start, target, 30.0, 3), "case 3 (the variable after three Adam steps)",
                 "Let the optimizer make the step (do not subtract the gradient yourself). " + hint, atol=1e-2)
    passed("train_step", 3)
