"""Style-transfer costs against NumPy references, and the optimiser end to end on tiny images."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from facelib.convnets import backbones, style
from facelib.errors import ArgumentError
from facelib.images import load_image, resize

SHAPES = [(1, 4, 4, 3), (1, 7, 5, 16), (2, 3, 6, 8), (1, 1, 1, 1)]


def _pair(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape).astype(np.float32), rng.normal(size=shape).astype(np.float32)


def _np_gram(a):
    a = np.asarray(a, np.float64)
    flat = a.reshape(a.shape[0], -1, a.shape[-1])
    return np.einsum("mpk,mpl->mkl", flat, flat)


def _np_layer_style(a_S, a_G):
    _, n_H, n_W, n_C = a_S.shape
    return np.sum((_np_gram(a_S) - _np_gram(a_G)) ** 2) / (2.0 * n_H * n_W * n_C) ** 2


def _close(got, expected):
    np.testing.assert_allclose(np.asarray(got, np.float64), expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
def test_content_cost_both_normalisations(shape):
    a_C, a_G = _pair(shape)
    squared = np.sum((a_C.astype(np.float64) - a_G) ** 2)
    _close(style.content_cost(a_C, a_G), squared / (4.0 * np.prod(shape[1:])))
    _close(style.content_cost(a_C, a_G, normalization="half"), 0.5 * squared)


@pytest.mark.parametrize("shape", SHAPES)
def test_gram_matrix_is_the_sum_over_positions_and_symmetric(shape):
    a, _ = _pair(shape)
    got = np.asarray(style.gram_matrix(a))
    expected = np.zeros((shape[0], shape[-1], shape[-1]))
    for m in range(shape[0]):  # the formula literally: G_kk' = sum_i sum_j a_ijk a_ijk'
        for i in range(shape[1]):
            for j in range(shape[2]):
                expected[m] += np.outer(a[m, i, j], a[m, i, j])
    _close(got, expected)
    np.testing.assert_array_equal(got, np.swapaxes(got, 1, 2))
    assert np.all(np.linalg.eigvalsh(expected) > -1e-9)  # a Gram matrix is positive semi-definite


@pytest.mark.parametrize("shape", SHAPES)
def test_layer_style_cost(shape):
    a_S, a_G = _pair(shape)
    _close(style.layer_style_cost(a_S, a_G), _np_layer_style(a_S, a_G))


def test_style_cost_weights_layers_by_lambda():
    shapes = {"a": (1, 6, 6, 4), "b": (1, 3, 3, 8), "c": (1, 2, 5, 2)}
    acts_S, acts_G = {}, {}
    for seed, (name, shape) in enumerate(shapes.items()):
        acts_S[name], acts_G[name] = _pair(shape, seed)
    lambdas = {"a": 0.2, "b": 0.5, "c": 0.3}
    expected = sum(w * _np_layer_style(acts_S[n], acts_G[n]) for n, w in lambdas.items())
    _close(style.style_cost(acts_S, acts_G, lambdas), expected)
    equal = sum(_np_layer_style(acts_S[n], acts_G[n]) for n in shapes) / 3
    _close(style.style_cost(acts_S, acts_G), equal)
    _close(style.style_cost(acts_S, acts_G, ["b"]), _np_layer_style(acts_S["b"], acts_G["b"]))


def test_total_cost_and_total_variation():
    _close(style.total_cost(2.0, 3.0, alpha=10, beta=40), 140.0)
    _close(style.total_cost(2.0, 3.0), 10 * 2.0 + 40 * 3.0)
    for shape in [(1, 5, 7, 3), (2, 4, 4, 1)]:
        x, _ = _pair(shape)
        x64 = x.astype(np.float64)
        expected = np.mean(np.diff(x64, axis=1) ** 2) + np.mean(np.diff(x64, axis=2) ** 2)
        _close(style.total_variation(x), expected)
    _close(style.total_variation(np.full((1, 4, 4, 3), 7.0)), 0.0)


@pytest.mark.parametrize("shape", SHAPES)
def test_costs_vanish_for_identical_inputs(shape):
    a, _ = _pair(shape)
    assert float(style.content_cost(a, a)) == 0.0
    assert float(style.layer_style_cost(a, a)) == 0.0
    assert float(style.style_cost({"l": a}, {"l": a})) == 0.0


def test_style_cost_ignores_where_things_are():
    a, _ = _pair((1, 5, 6, 4))
    shuffled = np.random.default_rng(1).permutation(a.reshape(-1, 4)).reshape(a.shape)
    assert float(style.layer_style_cost(a, shuffled)) < 1e-5 * float(style.layer_style_cost(a, 2 * a))
    assert float(style.content_cost(a, shuffled)) > 0.1


def test_bad_inputs_are_clear_errors():
    a, _ = _pair((1, 4, 4, 3))
    with pytest.raises(ValueError, match="a_C and a_G must have the same shape"):
        style.content_cost(a, a[:, :2])
    with pytest.raises(ValueError, match=r"a_G must be activations of shape \(m, n_H, n_W, n_C\)"):
        style.content_cost(a, a[0])
    with pytest.raises(ValueError, match="normalization must be"):
        style.content_cost(a, a, normalization="mean")
    with pytest.raises(ValueError, match="a_S and a_G must have the same shape"):
        style.layer_style_cost(a, a[..., :2])
    with pytest.raises(ValueError, match=r"style layers \['x'\] are missing"):
        style.style_cost({"l": a}, {"l": a}, ["x"])
    with pytest.raises(ValueError, match="lambda"):
        style.style_cost({"l": a}, {"l": a}, {"l": -1.0})


# --- the optimiser, end to end on tiny images -------------------------------------------------

@pytest.fixture
def images(asset_dir):
    return asset_dir("nst_content") / "chelsea.png", asset_dir("nst_style") / "van_gogh_starry_night.jpg"


RECIPE = style.RECIPES["squeezenet"]


@pytest.fixture(scope="module")
def extractor():
    return backbones.feature_extractor("squeezenet", [*RECIPE.style_weights, RECIPE.content_layer],
                                       pooling=RECIPE.pooling)


@pytest.mark.parametrize("optimizer", style.OPTIMIZERS)
def test_stylize_lowers_the_cost(images, extractor, optimizer):
    result = style.stylize(*images, size=64, steps=12, optimizer=optimizer, extractor=extractor, jitter=0,
                           learning_rate=8.0, snapshot_every=4, progress=False)
    h = result.history
    assert result.image.dtype == np.uint8 and result.image.shape == (43, 64, 3)
    assert set(h) == {"step", "size", "seconds", "cost", "content", "style", "tv"}
    assert len(h["step"]) == 12 and np.all(np.diff(h["seconds"]) >= 0)
    assert h["cost"][-1] < 0.6 * h["cost"][0]
    assert [step for step, _ in result.snapshots] == [4, 8, 12]


def _np_content(a_C, a_G):
    a_C, a_G = np.asarray(a_C, np.float64), np.asarray(a_G, np.float64)
    return np.sum((a_C - a_G) ** 2) / (4.0 * np.prod(a_C.shape[1:]))


@pytest.mark.parametrize("normalize", [False, True])
def test_first_recorded_cost_is_J_of_the_initial_image(images, extractor, normalize):
    kwargs = dict(size=(48, 64), alpha=3.0, beta=0.7, tv_weight=2.0, init="blend", noise_ratio=0.3,
                  normalize=normalize, jitter=0, coarse_size=0)
    result = style.stylize(*images, steps=1, extractor=extractor, progress=False, **kwargs)
    margin = [(8, 8), (8, 8), (0, 0)]  # style.EDGE_PAD pixels, mirrored
    content = np.pad(resize(images[0], (48, 64)), margin, mode="reflect")
    painting = np.pad(resize(images[1], (48, 64)), margin, mode="reflect")
    G = style.initial_image(content, "blend", 0.3, seed=0)[None].astype(np.float64)
    acts = {key: {name: np.asarray(a, np.float64) for name, a in extractor(backbones.preprocess(x)).items()}
            for key, x in [("C", content), ("S", painting), ("G", G)]}
    layer = RECIPE.content_layer
    J_content = _np_content(acts["C"][layer], acts["G"][layer])
    per_layer = {n: _np_layer_style(acts["S"][n], acts["G"][n]) for n in RECIPE.style_weights}
    if normalize:  # relative to the targets: ||a_C - a_G||^2 / ||a_C||^2 and ||Gram_S - Gram_G||^2 / ||Gram_S||^2
        J_content = np.sum((acts["C"][layer] - acts["G"][layer]) ** 2) / np.sum(acts["C"][layer] ** 2)
        per_layer = {n: np.sum((_np_gram(acts["S"][n]) - _np_gram(acts["G"][n])) ** 2)
                     / np.sum(_np_gram(acts["S"][n]) ** 2) for n in per_layer}
    J_style = sum(w * per_layer[n] for n, w in RECIPE.style_weights.items())
    tv = np.mean(np.diff(G, axis=1) ** 2) + np.mean(np.diff(G, axis=2) ** 2)
    np.testing.assert_allclose(result.history["cost"][0], 3.0 * J_content + 0.7 * J_style + 2.0 * tv, rtol=1e-4)
    np.testing.assert_allclose(result.history["content"][0], J_content, rtol=1e-4)
    np.testing.assert_allclose(result.history["style"][0], J_style, rtol=1e-4)


@pytest.mark.parametrize("shape", [(1, 6, 5, 4), (1, 3, 3, 16)])
def test_balanced_weights_make_the_costs_relative_to_their_targets(shape):
    a_C, a_G = (np.abs(x) * 50 for x in _pair(shape, 3))  # a Caffe-like scale: the weights must remove it
    w_content, w_style = style.balanced_weights(a_C, {"l": a_C, "k": a_G}, {"l": 0.25, "k": 0.75})
    c64, g64 = a_C.astype(np.float64), a_G.astype(np.float64)
    _close(w_content * float(style.content_cost(a_C, a_G)), np.sum((c64 - g64) ** 2) / np.sum(c64 ** 2))
    _close(w_style["l"] * _np_layer_style(a_C, a_G),
           0.25 * np.sum((_np_gram(c64) - _np_gram(g64)) ** 2) / np.sum(_np_gram(c64) ** 2))
    _close(w_style["k"] * _np_layer_style(a_G, np.zeros_like(a_G)), 0.75)  # 1 for all-zero activations


def test_coarse_to_fine_optimises_each_size_in_turn(images, extractor):
    assert style.coarse_to_fine_shapes((80, 128), 0) == [(80, 128)]
    assert style.coarse_to_fine_shapes((80, 128), 32) == [(40, 64), (80, 128)]  # not (20, 32): below 32 px
    assert style.coarse_to_fine_shapes((80, 128), 128) == [(80, 128)]
    result = style.stylize(*images, size=128, coarse_size=64, steps=3, refine_steps=2, extractor=extractor,
                           progress=False, snapshot_at=[0, 3, 4, 5])
    h = result.history
    np.testing.assert_array_equal(h["size"], [64, 64, 64, 128, 128])  # 3 steps at the first size, 2 after
    np.testing.assert_array_equal(h["step"], np.arange(1, 6))
    assert result.image.shape == (85, 128, 3)
    assert [(n, image.shape) for n, image in result.snapshots] == [
        (0, (42, 64, 3)), (3, (42, 64, 3)), (4, (85, 128, 3)), (5, (85, 128, 3))]
    every_size = style.stylize(*images, size=128, coarse_size=64, steps=2, refine_steps=0, extractor=extractor,
                               progress=False)
    np.testing.assert_array_equal(every_size.history["size"], [64, 64, 128, 128])  # 0: ``steps`` at each size
    np.testing.assert_array_equal(result.snapshots[0][1], resize(resize(images[0], 128), (42, 64)))  # G_0 = C


def test_jitter_moves_the_window_each_step(images, extractor):
    costs = {}
    for jitter in (0, 4):  # a learning rate of almost 0: G stays C, only the window the cost sees moves
        result = style.stylize(*images, size=48, steps=6, learning_rate=1e-9, jitter=jitter, extractor=extractor,
                               progress=False)
        costs[jitter] = result.history["cost"]
    np.testing.assert_allclose(costs[0], costs[0][0], rtol=1e-5)
    assert np.ptp(costs[4]) > 1e-3 * costs[4][0]


def test_stylize_stops_at_max_seconds(images, extractor):
    result = style.stylize(*images, size=48, steps=10_000, max_seconds=0.5, extractor=extractor, progress=False)
    assert len(result.history["step"]) < 10_000
    assert result.history["seconds"][-1] >= 0.5


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_stylize_on_vgg19_random_weights(images, pooling):
    result = style.stylize(*images, size=40, steps=2, backbone="vgg19", weights=None, pooling=pooling,
                           progress=False)
    assert result.image.shape == (32, 40, 3)  # 451 x 300 photo: the short side stops at 32 px
    assert np.isfinite(result.history["cost"]).all()


def test_the_margin_is_optimised_and_cut_off(images, extractor):
    variables = []

    def keep_the_variable(image, cost, optimizer):
        variables.append(image)
        return style.train_step(image, cost, optimizer)

    result = style.stylize(*images, size=(40, 56), steps=3, extractor=extractor, snapshot_every=3, jitter=2,
                           step=keep_the_variable, progress=False)
    optimised = variables[0].numpy()[0]
    margin = style.EDGE_PAD + 2  # the edge margin and the jitter's
    assert optimised.shape == (40 + 2 * margin, 56 + 2 * margin, 3)
    inside = np.clip(np.rint(optimised[margin:-margin, margin:-margin]), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(result.image, inside)
    np.testing.assert_array_equal(result.snapshots[0][1], inside)


def test_initial_images():
    content = np.full((8, 8, 3), 100, np.uint8)
    np.testing.assert_array_equal(style.initial_image(content, "content"), content)
    noise = style.initial_image(content, "noise", seed=3)
    assert 0 <= noise.min() and noise.max() <= 255 and noise.std() > 30
    blend = style.initial_image(content, "blend", noise_ratio=0.25, seed=3)
    np.testing.assert_allclose(blend, 0.75 * 100 + 0.25 * noise, rtol=1e-6)


def test_stylize_bad_arguments(images, extractor):
    for kwargs, match in [({"optimizer": "sgd"}, "optimizer must be one of"), ({"steps": 0}, "steps must be"),
                          ({"alpha": -1.0}, "alpha must be"), ({"learning_rate": 0.0}, "learning_rate"),
                          ({"init": "zeros"}, "init must be one of"), ({"size": 8}, "size must be"),
                          ({"content_layer": "fire9_concat"}, "does not output layers"),
                          ({"size": 3000}, "size must be at most 1024 pixels, got 3000: memory"),
                          ({"size": (64, 100_000)}, r"size\[1\] must be at most 1024"),
                          ({"pooling": "min"}, "pooling must be one of"),
                          ({"jitter": -1}, "jitter must be"), ({"coarse_size": -2}, "coarse_size must be")]:
        with pytest.raises(ArgumentError, match=match):
            style.stylize(*images, extractor=extractor, progress=False, **{"steps": 1, **kwargs})


def test_stylize_refuses_a_huge_size_before_reading_the_images(tmp_path):
    missing = tmp_path / "nothing.png"
    with pytest.raises(ArgumentError, match="at most 1024"):
        style.stylize(missing, missing, size=100_000)


@pytest.mark.parametrize("name, match", [("out.psd", "cannot save an image as 'out.psd'"),
                                         ("out.h5", "cannot save an image as 'out.h5'"),
                                         ("out", "cannot save"), ("missing/out.png", "does not exist"),
                                         ("folder.png", "is a folder")])
def test_check_output_path_refuses_what_cannot_be_written(tmp_path, name, match):
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(ArgumentError, match=match):
        style.check_output_path(tmp_path / name)


@pytest.mark.parametrize("name", ["out.png", "out.JPG", "out.jpeg", "out.webp", "out.tif"])
def test_check_output_path_accepts_image_files_that_can_be_read_back(tmp_path, name):
    path = style.check_output_path(tmp_path / name)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)
    assert load_image(path).shape == (4, 4, 3)


def test_train_step_is_clipped_gradient_descent_on_the_variable():
    import keras
    import tensorflow as tf

    rng = np.random.default_rng(5)
    start = rng.uniform(0, 255, (1, 3, 4, 3)).astype(np.float32)
    target = rng.uniform(-100, 355, start.shape).astype(np.float32)
    image = tf.Variable(start)
    J = style.train_step(image, lambda x: tf.reduce_sum(tf.square(x - target)), keras.optimizers.SGD(0.3))
    np.testing.assert_allclose(float(J), np.sum((start.astype(np.float64) - target) ** 2), rtol=1e-5)
    np.testing.assert_allclose(image.numpy(), np.clip(start - 0.3 * 2 * (start - target), 0, 255), atol=1e-3)


def test_learning_rate_drop_of_the_recipe(images, extractor):
    frozen = dataclasses.replace(RECIPE, decay_at=0.5, decay=0.0, steps=4)  # after step 2 the steps are 0
    result = style.stylize(*images, size=48, recipe=frozen, extractor=extractor, snapshot_every=1, progress=False)
    snapshots = [image for _, image in result.snapshots]
    assert not np.array_equal(snapshots[0], snapshots[1])
    np.testing.assert_array_equal(snapshots[1], snapshots[3])


def test_stylize_uses_the_step_it_is_given(images, extractor):
    calls = []

    def counting_step(image, cost, optimizer):
        calls.append(1)  # runs once, while tf.function traces
        return style.train_step(image, cost, optimizer)

    result = style.stylize(*images, size=48, steps=3, step=counting_step, extractor=extractor, progress=False)
    assert calls and len(result.history["step"]) == 3


def test_small_preview_with_the_default_recipe(images, extractor):
    result = style.stylize(*images, size=128, steps=30, extractor=extractor, progress=False)
    h = result.history
    assert result.image.shape == (85, 128, 3)
    assert h["style"][-1] < 0.5 * h["style"][0]  # the painting's style is taking over (balanced: 0.88 -> 0.31)
    assert h["content"][0] == 0 < h["content"][-1]


@pytest.mark.parametrize("output, size, match", [("out.psd", "64", "cannot save an image as 'out.psd'"),
                                                 ("out.h5", "64", "cannot save an image as 'out.h5'"),
                                                 ("", "64", "is a folder"),
                                                 ("out.png", "3000", "at most 1024 pixels")])
def test_cli_stylize_refuses_before_the_work(images, tmp_path, capsys, output, size, match):
    from facelib.cli import main

    assert main(["stylize", str(images[0]), str(images[1]), "-o", str(tmp_path / output), "--size", size]) == 2
    assert match in capsys.readouterr().err
    assert not (tmp_path / output).is_file()
