"""The notebook-06 checkers pass the reference, and reject a stub and plausible mistakes."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from facelib.course.checks import CheckFailed
from facelib.course.checks import style as checks


def _stub(*args, **kwargs):
    raise NotImplementedError()


# --- reference implementations, written as a learner would -------------------------------------

def compute_content_cost(a_C, a_G):
    _, n_H, n_W, n_C = a_G.shape
    return tf.reduce_sum(tf.square(a_C - a_G)) / (4 * n_H * n_W * n_C)


def gram_matrix(a):
    m, n_H, n_W, n_C = a.shape
    unrolled = tf.reshape(a, (m, n_H * n_W, n_C))
    return tf.matmul(unrolled, unrolled, transpose_a=True)


def compute_layer_style_cost(a_S, a_G):
    _, n_H, n_W, n_C = a_G.shape
    return tf.reduce_sum(tf.square(gram_matrix(a_S) - gram_matrix(a_G))) / (2 * n_H * n_W * n_C) ** 2


def compute_style_cost(style_activations, generated_activations, style_layers):
    return sum(w * compute_layer_style_cost(style_activations[n], generated_activations[n])
               for n, w in style_layers.items())


def total_cost(J_content, J_style, alpha=10, beta=40):
    return alpha * J_content + beta * J_style


# --- plausible mistakes --------------------------------------------------------------------------

def content_lecture_half(a_C, a_G):
    return 0.5 * tf.reduce_sum(tf.square(a_C - a_G))


def content_mean(a_C, a_G):
    return tf.reduce_mean(tf.square(a_C - a_G))


def content_no_square(a_C, a_G):
    _, n_H, n_W, n_C = a_G.shape
    return tf.reduce_sum(tf.abs(a_C - a_G)) / (4 * n_H * n_W * n_C)


def gram_without_transpose(a):  # reshapes straight to (m, n_C, n_H*n_W): mixes positions and channels
    m, n_H, n_W, n_C = a.shape
    unrolled = tf.reshape(a, (m, n_C, n_H * n_W))
    return tf.matmul(unrolled, unrolled, transpose_b=True)


def gram_over_positions(a):  # (m, n_H n_W, n_H n_W) instead of (m, n_C, n_C)
    m, n_H, n_W, n_C = a.shape
    unrolled = tf.reshape(a, (m, n_H * n_W, n_C))
    return tf.matmul(unrolled, unrolled, transpose_b=True)


def gram_normalised(a):
    return gram_matrix(a) / (a.shape[1] * a.shape[2])


def gram_drops_batch(a):
    return gram_matrix(a)[0]


def layer_cost_not_squared_norm(a_S, a_G):
    _, n_H, n_W, n_C = a_G.shape
    return tf.reduce_sum(tf.square(gram_matrix(a_S) - gram_matrix(a_G))) / (2 * n_H * n_W * n_C)


def layer_cost_missing_two(a_S, a_G):
    _, n_H, n_W, n_C = a_G.shape
    return tf.reduce_sum(tf.square(gram_matrix(a_S) - gram_matrix(a_G))) / (n_H * n_W * n_C) ** 2


def layer_cost_on_activations(a_S, a_G):
    _, n_H, n_W, n_C = a_G.shape
    return tf.reduce_sum(tf.square(a_S - a_G)) / (2 * n_H * n_W * n_C) ** 2


def style_cost_ignores_lambda(style_activations, generated_activations, style_layers):
    return sum(compute_layer_style_cost(style_activations[n], generated_activations[n]) for n in style_layers)


def style_cost_every_layer(style_activations, generated_activations, style_layers):
    weight = 1.0 / len(style_activations)
    return sum(weight * compute_layer_style_cost(style_activations[n], generated_activations[n])
               for n in style_activations)


def style_cost_last_layer_only(style_activations, generated_activations, style_layers):
    name, w = list(style_layers.items())[-1]
    return w * compute_layer_style_cost(style_activations[name], generated_activations[name])


def total_swapped(J_content, J_style, alpha=10, beta=40):
    return beta * J_content + alpha * J_style


def total_wrong_defaults(J_content, J_style, alpha=1, beta=1):
    return alpha * J_content + beta * J_style


def total_convex(J_content, J_style, alpha=10, beta=40):
    return (alpha * J_content + beta * J_style) / (alpha + beta)


CASES = {
    "check_compute_content_cost": (compute_content_cost, [content_lecture_half, content_mean, content_no_square]),
    "check_gram_matrix": (gram_matrix, [gram_without_transpose, gram_over_positions, gram_normalised,
                                        gram_drops_batch]),
    "check_compute_layer_style_cost": (compute_layer_style_cost, [layer_cost_not_squared_norm,
                                                                  layer_cost_missing_two,
                                                                  layer_cost_on_activations]),
    "check_compute_style_cost": (compute_style_cost, [style_cost_ignores_lambda, style_cost_every_layer,
                                                      style_cost_last_layer_only]),
    "check_total_cost": (total_cost, [total_swapped, total_wrong_defaults, total_convex]),
}


@pytest.mark.parametrize("checker", CASES)
def test_reference_passes(checker, capsys):
    reference, _ = CASES[checker]
    assert getattr(checks, checker)(reference) is None
    assert capsys.readouterr().out.endswith("tests passed.\n")


# --- independent NumPy references: the checkers (which compare with facelib.convnets.style) accept them ---

def np_content_cost(a_C, a_G):
    a_C, a_G = np.asarray(a_C, np.float64), np.asarray(a_G, np.float64)
    return np.sum((a_C - a_G) ** 2) / (4 * np.prod(a_G.shape[1:]))


def np_gram(a):
    a = np.asarray(a, np.float64)
    out = np.zeros((a.shape[0], a.shape[-1], a.shape[-1]))
    for m in range(a.shape[0]):  # G_kk' = sum_i sum_j a_ijk a_ijk', literally
        for i in range(a.shape[1]):
            for j in range(a.shape[2]):
                out[m] += np.outer(a[m, i, j], a[m, i, j])
    return out


def np_layer_style_cost(a_S, a_G):
    n_H, n_W, n_C = np.shape(a_G)[1:]
    return np.sum((np_gram(a_S) - np_gram(a_G)) ** 2) / (2.0 * n_H * n_W * n_C) ** 2


def np_style_cost(style_activations, generated_activations, style_layers):
    return sum(w * np_layer_style_cost(style_activations[n], generated_activations[n]) for n, w in style_layers.items())


def np_total_cost(J_content, J_style, alpha=10, beta=40):
    return np.float64(alpha) * J_content + np.float64(beta) * J_style


NUMPY = {"check_compute_content_cost": np_content_cost, "check_gram_matrix": np_gram,
         "check_compute_layer_style_cost": np_layer_style_cost, "check_compute_style_cost": np_style_cost,
         "check_total_cost": np_total_cost}


@pytest.mark.parametrize("checker", CASES)
def test_independent_numpy_references_pass(checker):
    getattr(checks, checker)(NUMPY[checker])


@pytest.mark.parametrize("checker", CASES)
def test_stub_fails_clearly(checker):
    with pytest.raises(CheckFailed, match="not implemented yet"):
        getattr(checks, checker)(_stub)


@pytest.mark.parametrize("checker, wrong", [(c, w) for c, (_, ws) in CASES.items() for w in ws],
                         ids=lambda v: getattr(v, "__name__", v))
def test_plausible_mistakes_fail(checker, wrong):
    with pytest.raises(CheckFailed, match="case"):
        getattr(checks, checker)(wrong)


def content_unnormalised(a_C, a_G):
    return tf.reduce_sum(tf.square(a_C - a_G))


def gram_positions_by_hand(a):  # builds the (positions x positions) matrix without reshaping to channels first
    return np.stack([x.reshape(-1, x.shape[-1]) @ x.reshape(-1, x.shape[-1]).T for x in np.asarray(a)])


def layer_cost_lecture_half(a_S, a_G):
    return 0.5 * tf.reduce_sum(tf.square(gram_matrix(a_S) - gram_matrix(a_G)))


def layer_cost_mean(a_S, a_G):
    return tf.reduce_mean(tf.square(gram_matrix(a_S) - gram_matrix(a_G)))


def layer_cost_absolute(a_S, a_G):
    _, n_H, n_W, n_C = a_G.shape
    return tf.reduce_sum(tf.abs(gram_matrix(a_S) - gram_matrix(a_G))) / (2 * n_H * n_W * n_C) ** 2


def style_cost_divided_by_layers(style_activations, generated_activations, style_layers):
    return compute_style_cost(style_activations, generated_activations, style_layers) / len(style_layers)


@pytest.mark.parametrize("checker, wrong, diagnosis", [
    ("check_compute_content_cost", content_lecture_half, "the lecture's normalisation"),
    ("check_compute_content_cost", content_mean, "a plain mean"),
    ("check_compute_content_cost", content_no_square, "absolute differences"),
    ("check_compute_content_cost", content_unnormalised, "not divided by 4 n_H n_W n_C"),
    ("check_gram_matrix", gram_normalised, "divided by n_H n_W"),
    ("check_gram_matrix", gram_over_positions, "a matrix over positions"),
    ("check_gram_matrix", gram_positions_by_hand, "a matrix over positions"),
    ("check_gram_matrix", gram_without_transpose, "mixes positions and channels"),
    ("check_gram_matrix", gram_drops_batch, "batch axis m is gone"),
    ("check_compute_layer_style_cost", layer_cost_lecture_half, "the lecture's content normalisation"),
    ("check_compute_layer_style_cost", layer_cost_mean, "a plain mean"),
    ("check_compute_layer_style_cost", layer_cost_absolute, "absolute differences"),
    ("check_compute_layer_style_cost", layer_cost_not_squared_norm, "not by its square"),
    ("check_compute_layer_style_cost", layer_cost_missing_two, "the 2 inside the square is missing"),
    ("check_compute_layer_style_cost", layer_cost_on_activations, "not their Gram matrices"),
    ("check_compute_style_cost", style_cost_ignores_lambda, "without their lambda"),
    ("check_compute_style_cost", style_cost_every_layer, "every layer of style_activations"),
    ("check_compute_style_cost", style_cost_divided_by_layers, "divided by the number of layers"),
    ("check_compute_style_cost", style_cost_last_layer_only, "only the last layer"),
    ("check_total_cost", total_swapped, "swapped"),
    ("check_total_cost", total_wrong_defaults, "defaults must be alpha=10, beta=40"),
    ("check_total_cost", total_convex, "divided by alpha + beta"),
], ids=lambda v: getattr(v, "__name__", None))
def test_the_message_names_the_mistake(checker, wrong, diagnosis):
    with pytest.raises(CheckFailed, match="Your values match this mistake") as failure:
        getattr(checks, checker)(wrong)
    assert diagnosis in str(failure.value)


def content_cost_scaled(a_C, a_G):  # a mistake the checker has no name for: the general hint only
    return 3 * compute_content_cost(a_C, a_G)


def test_an_unknown_mistake_gets_the_general_hint():
    with pytest.raises(CheckFailed, match="divide by 4 n_H n_W n_C") as failure:
        checks.check_compute_content_cost(content_cost_scaled)
    assert "match this mistake" not in str(failure.value)


# --- train_step (notebook 07) -------------------------------------------------------------------

def train_step(image, cost, optimizer):  # written apart from facelib's: optimizer.apply, clip by min and max
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(image)
        before = cost(image)
    (gradient,) = tape.gradient(before, [image])
    optimizer.apply([gradient], [image])
    image.assign(tf.minimum(tf.maximum(image, 0.0), 255.0))
    return before


def _adam_step(name: str, direction: float = 1.0, pixel_range: tuple[float, float] | None = (0.0, 255.0)):
    """A train_step: one optimizer step along ``direction`` times the gradient, then a clip to ``pixel_range``."""
    def step(image, cost, optimizer):
        with tf.GradientTape() as tape:
            J = cost(image)
        optimizer.apply_gradients([(direction * tape.gradient(J, image), image)])
        if pixel_range is not None:
            image.assign(tf.clip_by_value(image, *pixel_range))
        return J

    step.__name__ = name
    return step


_facelib_style_step = _adam_step("facelib_style_step")
step_no_clip = _adam_step("step_no_clip", pixel_range=None)
step_ascent = _adam_step("step_ascent", direction=-1.0)
step_clip_to_unit = _adam_step("step_clip_to_unit", pixel_range=(0.0, 1.0))  # the TF tutorial's [0, 1] range


def step_on_a_copy(image, cost, optimizer):
    copy = tf.Variable(image)
    with tf.GradientTape() as tape:
        J = cost(copy)
    optimizer.apply_gradients([(tape.gradient(J, copy), copy)])
    copy.assign(tf.clip_by_value(copy, 0.0, 255.0))
    return J


def step_by_hand(image, cost, optimizer):  # plain gradient descent: ignores the optimizer's rule
    with tf.GradientTape() as tape:
        J = cost(image)
    image.assign_sub(optimizer.learning_rate * tape.gradient(J, image))
    image.assign(tf.clip_by_value(image, 0.0, 255.0))
    return J


def step_returns_cost_after(image, cost, optimizer):
    _facelib_style_step(image, cost, optimizer)
    return cost(image)


@pytest.mark.parametrize("wrong", [step_no_clip, step_ascent, step_on_a_copy, step_by_hand, step_clip_to_unit,
                                   step_returns_cost_after], ids=lambda f: f.__name__)
def test_train_step_checker_rejects_plausible_mistakes(wrong):
    with pytest.raises(CheckFailed, match="case"):
        checks.check_train_step(wrong)


def test_train_step_checker_accepts_a_correct_step_and_a_compiled_one(capsys):
    checks.check_train_step(train_step)
    checks.check_train_step(tf.function(train_step))
    checks.check_train_step(_facelib_style_step)
    assert capsys.readouterr().out == "train_step: all 3 tests passed.\n" * 3
    with pytest.raises(CheckFailed, match="not implemented yet"):
        checks.check_train_step(_stub)
