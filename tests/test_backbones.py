"""Backbones: SqueezeNet 1.1 against an independent NumPy/h5py forward pass, ImageNet-sensible
features, VGG19 plumbing with random weights, preprocessing and clear errors."""

from __future__ import annotations

import h5py
import keras
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from facelib.convnets import backbones
from facelib.images import load_image

MEAN_BGR = np.array([103.939, 116.779, 123.68])


@pytest.fixture(scope="module")
def squeezenet_model():
    return backbones.squeezenet()


def _photo(folder, name: str, size: int) -> np.ndarray:
    image = Image.fromarray(load_image(folder / name)).resize((size, size), Image.BILINEAR)
    return np.asarray(image)


# --- an independent forward pass: NumPy float64, weights read straight from the HDF5 file ---

def _h5_weights(path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    with h5py.File(path, "r") as f:
        for layer in [n.decode() for n in f.attrs["layer_names"]]:
            names = [n.decode() for n in f[layer].attrs["weight_names"]]
            if names:
                out[layer] = tuple(np.asarray(f[layer][n], np.float64) for n in names)
    return out


def _conv(x, kernel, bias, stride=1, same=False):
    kh, kw = kernel.shape[:2]
    if same:
        x = np.pad(x, ((kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    windows = sliding_window_view(x, (kh, kw), axis=(0, 1))[::stride, ::stride]  # (H, W, C, kh, kw)
    return np.einsum("hwcij,ijco->hwo", windows, kernel) + bias


def _pool(x, pooling="max"):
    windows = sliding_window_view(x, (3, 3), axis=(0, 1))[::2, ::2]
    return windows.max(axis=(-2, -1)) if pooling == "max" else windows.mean(axis=(-2, -1))


def _numpy_squeezenet(rgb: np.ndarray, w, pooling="max") -> dict[str, np.ndarray]:
    relu = lambda v: np.maximum(v, 0.0)  # noqa: E731
    x = rgb.astype(np.float64)[..., ::-1] - MEAN_BGR
    acts = {"relu_conv1": relu(_conv(x, *w["conv1"], stride=2))}
    x = _pool(acts["relu_conv1"], pooling)
    for n in range(2, 10):
        if n in (4, 6):
            x = _pool(x, pooling)
        s = relu(_conv(x, *w[f"fire{n}/squeeze1x1"]))
        x = np.concatenate([relu(_conv(s, *w[f"fire{n}/expand1x1"])),
                            relu(_conv(s, *w[f"fire{n}/expand3x3"], same=True))], axis=-1)
        acts[f"fire{n}/concat"] = x
    return acts


@pytest.mark.parametrize("pooling", backbones.POOLINGS)
def test_squeezenet_matches_numpy_forward_pass_on_a_real_photo(asset_dir, squeezenet_model, pooling):
    photo = _photo(asset_dir("nst_content"), "chelsea.png", 113)
    weights = _h5_weights(asset_dir("squeezenet") / backbones.SQUEEZENET_FILE)
    expected = _numpy_squeezenet(photo, weights, pooling)
    layers = ["relu_conv1", "fire2/concat", "fire5/concat", "fire9/concat"]
    model = squeezenet_model if pooling == "max" else None
    extractor = backbones.feature_extractor("squeezenet", layers, model=model, pooling=pooling)
    got = extractor(backbones.preprocess(photo))
    for name in layers:
        ref = expected[name]
        out = np.asarray(got[name.replace("/", "_")][0], np.float64)
        assert out.shape == ref.shape, name
        assert ref.max() > 1.0  # real, non-trivial activations
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max(), err_msg=name)


def test_squeezenet_has_the_files_parameters(squeezenet_model):
    assert squeezenet_model.count_params() == 722_496
    assert squeezenet_model.get_layer("fire9_concat").output.shape[-1] == 512


def _style_signature(extractor, image) -> np.ndarray:
    acts = extractor(backbones.preprocess(image))
    parts = []
    for a in acts.values():
        a = np.asarray(a[0], np.float64)
        flat = a.reshape(-1, a.shape[-1])
        gram = flat.T @ flat / flat.shape[0]
        parts.append(gram.ravel() / np.linalg.norm(gram))
    return np.concatenate(parts)


def test_squeezenet_style_grams_of_one_painting_are_closer_than_of_two(asset_dir, squeezenet_model):
    folder = asset_dir("nst_style")
    extractor = backbones.feature_extractor(
        "squeezenet", ["fire2/concat", "fire3/concat", "fire4/concat"], model=squeezenet_model)
    # Every painting but Hokusai's wave, whose left half (the wave) and right half (sky and Mount Fuji)
    # differ in content as much as two paintings do.
    names = sorted(p.name for p in folder.glob("*.jpg") if not p.name.startswith("hokusai"))
    assert len(names) == 7
    crops = {}
    for name in names:
        image = _photo(folder, name, 256)
        crops[name] = (_style_signature(extractor, image[:, :128]), _style_signature(extractor, image[:, 128:]))
    for name in names:  # 7 x 6 comparisons, each crop pair against each other painting
        same = np.linalg.norm(crops[name][0] - crops[name][1])
        for other in names:
            if other != name:
                different = np.linalg.norm(crops[name][0] - crops[other][1])
                assert same < different, (name, other, same, different)


def test_random_squeezenet_is_not_the_pretrained_one(squeezenet_model):
    image = np.full((1, 64, 64, 3), 10.0, np.float32)
    random = backbones.squeezenet(weights=None)
    assert not np.allclose(random(image), squeezenet_model(image))


def test_vgg19_random_weights_feature_extractor():
    extractor = backbones.feature_extractor("vgg19", weights=None)
    acts = extractor(backbones.preprocess(np.zeros((2, 64, 48, 3), np.uint8), "vgg19"))
    entry = backbones.REGISTRY["vgg19"]
    assert list(acts) == [*entry.style_layers, entry.content_layer]
    assert acts["block1_conv1"].shape == (2, 64, 48, 64)
    assert acts["block5_conv2"].shape == (2, 4, 3, 512)


def test_vgg19_average_pooling_keeps_the_weights_and_averages():
    x = backbones.preprocess(np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 3)), "vgg19")
    keras_max = backbones.vgg19(weights=None)
    averaged = backbones.vgg19(weights=None, pooling="avg")
    averaged.set_weights(keras_max.get_weights())
    conv = keras_max.get_layer("block1_conv2").output
    first = np.asarray(keras.Model(keras_max.inputs, conv)(x))[0]
    pooled = np.asarray(keras.Model(averaged.inputs, averaged.get_layer("block1_pool").output)(x))[0]
    expected = first.reshape(16, 2, 16, 2, -1).mean(axis=(1, 3))
    np.testing.assert_allclose(pooled, expected, rtol=1e-5, atol=1e-5)
    assert [type(layer).__name__ for layer in averaged.layers].count("AveragePooling2D") == 5


def test_vgg19_without_cached_weights_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(backbones.WeightsNotCachedError, match="not in Keras's cache.*weights=None"):
        backbones.build("vgg19")


def test_preprocess_is_caffe_style_and_deprocess_inverts_it():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 5, 7, 3)).astype(np.uint8)
    x = np.asarray(backbones.preprocess(images, "squeezenet"))
    np.testing.assert_allclose(x, images[..., ::-1] - MEAN_BGR, atol=1e-4)
    assert backbones.preprocess(images[0]).shape == (1, 5, 7, 3)
    np.testing.assert_array_equal(backbones.deprocess(x), images)


@pytest.mark.parametrize("bad", [np.zeros((4, 4)), np.zeros((4, 4, 4)), np.zeros((1, 2, 4, 4, 3))])
def test_preprocess_rejects_bad_shapes(bad):
    with pytest.raises(ValueError, match="images must have shape"):
        backbones.preprocess(bad)


def test_unknown_backbone_layer_and_weights_are_clear_errors(squeezenet_model):
    with pytest.raises(ValueError, match="backbone must be one of"):
        backbones.feature_extractor("resnet50")
    with pytest.raises(ValueError, match=r"\['fire10_concat'\] are not in squeezenet"):
        backbones.feature_extractor("squeezenet", ["fire10/concat"], model=squeezenet_model)
    with pytest.raises(ValueError, match="at least one layer"):
        backbones.feature_extractor("squeezenet", [], model=squeezenet_model)
    with pytest.raises(ValueError, match="pooling must be one of"):
        backbones.squeezenet(weights=None, pooling="min")
    with pytest.raises(ValueError, match="weights must be"):
        backbones.squeezenet(weights="places365")


def test_the_registry_names_every_backbone_once_with_layers_it_has(squeezenet_model):
    from facelib.convnets import style

    assert backbones.NAMES == tuple(backbones.REGISTRY) == tuple(style.RECIPES) == ("squeezenet", "vgg19")
    for name, entry in backbones.REGISTRY.items():
        assert entry.name == name and entry.content_layer not in ("", None) and entry.style_layers
        recipe = style.RECIPES[name]
        assert set(recipe.style_weights) == set(entry.style_layers) and recipe.content_layer == entry.content_layer
    known = backbones.layer_names(squeezenet_model)
    entry = backbones.REGISTRY["squeezenet"]
    assert {entry.content_layer, *entry.style_layers} <= set(known)
    assert backbones.REGISTRY["squeezenet"].build is backbones.squeezenet
    assert backbones.REGISTRY["vgg19"].build is backbones.vgg19
