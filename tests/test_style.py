"""Style-transfer costs against NumPy references, and the optimiser end to end on tiny images."""

from __future__ import annotations

import numpy as np
import pytest

from facelib import backbones, style

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


@pytest.fixture(scope="module")
def extractor():
    return backbones.feature_extractor("squeezenet")


@pytest.mark.parametrize("optimizer", style.OPTIMIZERS)
def test_stylize_lowers_the_cost(images, extractor, optimizer):
    result = style.stylize(*images, size=64, steps=12, optimizer=optimizer, extractor=extractor,
                           snapshot_every=4, tv_weight=1e-3, progress=False)
    h = result.history
    assert result.image.dtype == np.uint8 and result.image.shape == (43, 64, 3)
    assert set(h) == {"step", "seconds", "cost", "content", "style", "tv"}
    assert len(h["step"]) == 12 and np.all(np.diff(h["seconds"]) >= 0)
    assert h["cost"][-1] < 0.5 * h["cost"][0]
    assert [step for step, _ in result.snapshots] == [4, 8, 12]


def test_first_recorded_cost_is_J_of_the_initial_image(images, extractor):
    kwargs = dict(size=(48, 64), alpha=3.0, beta=0.7, tv_weight=2.0, init="blend", noise_ratio=0.3)
    result = style.stylize(*images, steps=1, extractor=extractor, progress=False, **kwargs)
    content = style.resize(images[0], (48, 64))
    painting = style.resize(images[1], (48, 64))
    G = style.initial_image(content, "blend", 0.3, seed=0)[None]
    acts = {name: extractor(backbones.preprocess(x, "squeezenet")) for name, x in
            [("C", content), ("S", painting), ("G", G)]}
    layer = backbones.DEFAULT_LAYERS["squeezenet"]["content"]
    J_content = style.content_cost(acts["C"][layer], acts["G"][layer])
    J_style = style.style_cost({n: acts["S"][n] for n in backbones.DEFAULT_LAYERS["squeezenet"]["style"]},
                               acts["G"])
    expected = style.total_cost(J_content, J_style, 3.0, 0.7) + 2.0 * style.total_variation(G)
    np.testing.assert_allclose(result.history["cost"][0], float(expected), rtol=1e-4)
    np.testing.assert_allclose(result.history["content"][0], float(J_content), rtol=1e-4)


def test_stylize_stops_at_max_seconds(images, extractor):
    result = style.stylize(*images, size=48, steps=10_000, max_seconds=0.5, extractor=extractor, progress=False)
    assert len(result.history["step"]) < 10_000
    assert result.history["seconds"][-1] >= 0.5


def test_stylize_on_vgg19_random_weights(images):
    result = style.stylize(*images, size=40, steps=2, backbone="vgg19", weights=None, progress=False)
    assert result.image.shape == (32, 40, 3)  # 451 x 300 photo: the short side stops at 32 px
    assert np.isfinite(result.history["cost"]).all()


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
                          ({"content_layer": "fire9_concat"}, "does not output layers")]:
        with pytest.raises(ValueError, match=match):
            style.stylize(*images, extractor=extractor, progress=False, **{"steps": 1, **kwargs})
