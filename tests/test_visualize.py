"""Receptive fields against hand-computed layer arithmetic, top-k patches, activation maximisation, grids."""

from __future__ import annotations

import functools

import keras
import matplotlib
import numpy as np
import pytest
import tensorflow as tf

from facelib.convnets import backbones
from facelib.convnets.visualize import (
    ReceptiveField,
    image_grid,
    maximize_activation,
    mosaic,
    receptive_field,
    top_patches,
    visible_patch,
)

matplotlib.use("Agg")
layers = keras.layers


def _branchy_model(size: int = 30) -> keras.Model:
    """conv 5 valid -> pool 2/2 -> conv 3/2 'same' -> (1x1 || 3x3 'same') -> concat -> conv 3 dilated 2.

    By hand, per axis, with (r, j, a) = (field size, jump, first pixel of unit 0's field):
    input (1, 1, 0); conv5: (5, 1, 0); pool2/2: (5 + 1*1, 2, 0) = (6, 2, 0), map 26 -> 13;
    conv3/2 'same' on 13 pixels: TensorFlow pads (ceil(13/2) - 1)*2 + 3 - 13 = 2, one before
    (and the same for ``size`` 62, whose 29 pixels there give (15 - 1)*2 + 3 - 29 = 2),
    so (6 + 2*2, 4, 0 - 1*2) = (10, 4, -2); branch 1x1: (10, 4, -2); branch 3x3 'same' (pad 1):
    (10 + 2*4, 4, -2 - 4) = (18, 4, -6); concat = union: from -6 to max(-2 + 10, -6 + 18) = 12,
    so (18, 4, -6); conv3 dilation 2 (effective kernel 5): (18 + 4*4, 4, -6) = (34, 4, -6).
    """
    x = keras.Input((size, size, 3))
    y = layers.Conv2D(2, 5, name="c1")(x)
    y = layers.MaxPooling2D(2, name="p1")(y)
    y = layers.Conv2D(2, 3, strides=2, padding="same", name="c2")(y)
    y = layers.ReLU(name="r2")(y)
    b1 = layers.Conv2D(2, 1, name="b1")(y)
    b3 = layers.Conv2D(2, 3, padding="same", name="b3")(y)
    y = layers.Concatenate(name="cat")([b1, b3])
    y = layers.Conv2D(2, 3, dilation_rate=2, name="dil")(y)
    return keras.Model(x, y)


@pytest.mark.parametrize("layer, size, stride, first", [
    ("c1", 5, 1, 0), ("p1", 6, 2, 0), ("c2", 10, 4, -2), ("r2", 10, 4, -2), ("b1", 10, 4, -2),
    ("b3", 18, 4, -6), ("cat", 18, 4, -6), ("dil", 34, 4, -6)])
def test_receptive_field_of_a_hand_built_model(layer, size, stride, first):
    field = receptive_field(_branchy_model(), layer)
    centre = first + (size - 1) / 2
    assert field == ReceptiveField((size, size), (stride, stride), (centre, centre))
    left, top = first + 3 * stride, first + 2 * stride                   # (left, top, right, bottom), inclusive
    assert field.window(2, 3) == (left, top, left + size - 1, top + size - 1)


def test_union_of_branches_with_different_centres():
    """Add of a 3x3 branch and a padded 5x5 branch: rows [0, 3) u [-2, 3), cols [0, 3) u [0, 5)."""
    x = keras.Input((16, 16, 3))
    a = layers.Conv2D(1, 3, name="a")(x)
    b = layers.Conv2D(1, 5, name="b")(layers.ZeroPadding2D(((2, 0), (0, 2)), name="pad")(x))
    y = layers.Add(name="add")([a, b])
    cropped = layers.Cropping2D(((1, 0), (0, 0)), name="crop")(y)
    model = keras.Model(x, cropped)
    assert receptive_field(model, "pad") == ReceptiveField((1, 1), (1, 1), (-2.0, 0.0))
    assert receptive_field(model, "add") == ReceptiveField((5, 5), (1, 1), (0.0, 2.0))
    assert receptive_field(model, "crop") == ReceptiveField((5, 5), (1, 1), (1.0, 2.0))


def _squeezenet_by_hand() -> dict[str, tuple[int, int, float]]:
    """(field size r, jump j, centre of unit 0) of SqueezeNet 1.1's layers, from its architecture.

    conv1 3x3/2 valid: r = 3, j = 2, centre 1. pool1 3x3/2 valid: r = 3 + 2*2 = 7, j = 4, centre
    1 + 1*2 = 3. A fire module's squeeze and expand1x1 are 1x1 (no change); its expand3x3 is
    stride-1 'same' (pad 1): r grows by 2*j and the centre stays; the concat is the larger branch.
    So fire2: 7 + 8 = 15, fire3: 23; pool3: r = 23 + 2*4 = 31, j = 8, centre 3 + 4 = 7; fire4: 47,
    fire5: 63; pool5: r = 63 + 2*8 = 79, j = 16, centre 7 + 8 = 15; fire6..fire9 add 2*16 each:
    111, 143, 175, 207.
    """
    return {"conv1": (3, 2, 1), "relu_conv1": (3, 2, 1), "pool1": (7, 4, 3),
            "fire2_squeeze1x1": (7, 4, 3), "fire2_expand1x1": (7, 4, 3), "fire2_expand3x3": (15, 4, 3),
            "fire2_concat": (15, 4, 3), "fire3_concat": (23, 4, 3), "pool3": (31, 8, 7),
            "fire4_concat": (47, 8, 7), "fire5_concat": (63, 8, 7), "pool5": (79, 16, 15),
            "fire6_concat": (111, 16, 15), "fire7_concat": (143, 16, 15), "fire8_squeeze1x1": (143, 16, 15),
            "fire8_concat": (175, 16, 15), "fire9_concat": (207, 16, 15)}


@pytest.fixture(scope="module")
def random_squeezenet():
    return backbones.squeezenet(weights=None)


@pytest.mark.parametrize("layer, expected", sorted(_squeezenet_by_hand().items()))
def test_receptive_field_of_squeezenet(random_squeezenet, layer, expected):
    size, jump, centre = expected
    field = receptive_field(random_squeezenet, layer)
    assert field == ReceptiveField((size, size), (jump, jump), (centre, centre))


@functools.cache
def _pretrained_squeezenet() -> keras.Model:
    return backbones.squeezenet()


def _input_support(model: keras.Model, layer: str, row: int, col: int, images: np.ndarray) -> np.ndarray:
    """Pixels whose value changes unit (row, col) of ``layer`` (summed over channels), for any image."""
    extractor = keras.Model(model.inputs, model.get_layer(layer).output)
    x = tf.Variable(images)
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(extractor(x)[:, row, col, :])
    return np.any(tape.gradient(value, x).numpy() != 0, axis=(0, 3))


def test_gradient_is_zero_outside_the_field_and_spans_it():
    model = _branchy_model(62)
    model.set_weights([np.abs(w) + 0.01 for w in model.get_weights()])     # positive: no cancellation
    images = np.random.default_rng(0).uniform(0, 1, (2, 62, 62, 3)).astype(np.float32)
    support = _input_support(model, "dil", 3, 2, images)
    window = receptive_field(model, "dil").window(3, 2)
    assert window == (2, 6, 35, 39)                   # left = -6 + 2*4, top = -6 + 3*4; r = 34, inclusive
    left, top, right, bottom = window
    inside = np.zeros_like(support)
    inside[top:bottom + 1, left:right + 1] = True
    assert not np.any(support & ~inside)
    # max pooling passes the gradient to one pixel of each window, so compare the bounding box
    rows, cols = np.nonzero(support)
    assert (cols.min(), rows.min(), cols.max(), rows.max()) == window


@pytest.mark.parametrize("layer, row, col", [("relu_conv1", 20, 11), ("fire3_concat", 9, 6),
                                             ("fire5_concat", 6, 5), ("fire7_concat", 4, 4)])
def test_gradient_of_a_pretrained_unit_stays_inside_its_field(asset_dir, layer, row, col):
    asset_dir("squeezenet")
    model = _pretrained_squeezenet()
    images = np.random.default_rng(1).uniform(-120, 120, (6, 160, 160, 3)).astype(np.float32)
    support = _input_support(model, layer, row, col, images)
    left, top, right, bottom = receptive_field(model, layer).window(row, col)
    inside = np.zeros_like(support)
    inside[max(top, 0):bottom + 1, max(left, 0):right + 1] = True
    rows, cols = np.nonzero(support)
    assert rows.size and not np.any(support & ~inside)
    # and it reaches (nearly) to the field's edges: the field is not larger than it needs to be
    assert rows.min() - max(top, 0) <= 2 and min(bottom, 160) - 1 - rows.max() <= 2
    assert cols.min() - max(left, 0) <= 2 and min(right, 160) - 1 - cols.max() <= 2


def test_receptive_field_of_a_sequential_model():
    model = keras.Sequential([keras.Input((None, None, 1)), layers.Conv2D(1, 5, strides=2, name="a"),
                              layers.AveragePooling2D(2, name="b"), layers.Conv2D(1, 3, name="c")])
    # a: (5, 2, 0); b: (5 + 1*2, 4, 0) = (7, 4, 0); c: (7 + 2*4, 4, 0) = (15, 4, 0)
    assert receptive_field(model, "c") == ReceptiveField((15, 15), (4, 4), (7.0, 7.0))


def test_receptive_field_errors():
    model = _branchy_model()
    with pytest.raises(ValueError, match="'nope' is not a layer"):
        receptive_field(model, "nope")
    x = keras.Input((None, None, 3))
    y = layers.Conv2D(2, 3, strides=2, padding="same", name="c")(x)
    with pytest.raises(ValueError, match="fixed input shape"):
        receptive_field(keras.Model(x, y), "c")
    y = layers.Lambda(lambda t: t[:, ::2, ::2], name="sub")(x)
    with pytest.raises(ValueError, match="cannot follow layer 'sub' of type Lambda"):
        receptive_field(keras.Model(x, y), "sub")
    with pytest.raises(TypeError, match="Keras model"):
        receptive_field("model", "c1")


def _red_detector() -> keras.Model:
    """Unit 0 sums red over 3x3 ('same', so fields reach past the border), unit 1 sums blue; max pool 2."""
    x = keras.Input((16, 16, 3))
    conv = layers.Conv2D(2, 3, padding="same", use_bias=False, name="conv")
    y = layers.MaxPooling2D(2, name="pool")(conv(x))
    kernel = np.zeros((3, 3, 3, 2), np.float32)
    kernel[:, :, 0, 0] = 1.0
    kernel[:, :, 2, 1] = 1.0
    conv.set_weights([kernel])
    return keras.Model(x, y)


def test_top_patches_finds_the_brightest_dots_and_cuts_their_fields():
    # image i holds one red dot of value 40 (i + 1) at a known place; image 5 (a blue dot) has no red
    places = [(10, 7), (0, 0), (15, 3), (6, 6), (3, 12)]
    images = np.zeros((6, 16, 16, 3), np.uint8)
    for i, (r, c) in enumerate(places):
        images[i, r, c, 0] = 40 * (i + 1)
    images[5, 8, 8, 2] = 255
    result = top_patches(_red_detector(), {"pool": [0, 1], "conv": [0]}, images, k=3, batch_size=4)
    best = result["pool"]
    field = best.field
    assert field == ReceptiveField((4, 4), (2, 2), (0.5, 0.5))          # conv 3 'same': a = -1; pool: r = 4
    assert best.patches.shape == (2, 3, 4, 4, 3) and best.patches.dtype == np.uint8
    np.testing.assert_array_equal(best.image_index[0], [4, 3, 2])       # brightest red dots first
    np.testing.assert_allclose(best.activations[0], [200, 160, 120])    # a 3x3 sum sees the whole dot
    assert best.image_index[1, 0] == 5 and best.activations[1, 0] == 255
    np.testing.assert_array_equal(best.units, [0, 1])
    for i, (r, c) in zip(best.image_index[0], best.position[0], strict=True):
        left, top, right, bottom = field.window(r, c)
        dot = places[i]
        assert top <= dot[0] <= bottom and left <= dot[1] <= right
        padded = np.pad(images[i], ((1, 1), (1, 1), (0, 0)), constant_values=128)   # a grey frame
        expected = padded[top + 1:bottom + 2, left + 1:right + 2]
        np.testing.assert_array_equal(best.patches[0, list(best.image_index[0]).index(i)], expected)
    # the layer read in the same pass: the 3x3 units around a dot tie, and argmax takes the first
    # (row-major), the one up and left of the dot
    conv = result["conv"]
    assert conv.field.size == (3, 3)
    np.testing.assert_array_equal(conv.position[0], np.array([places[4], places[3], places[2]]) - 1)


def test_top_patches_fills_grey_past_the_border():
    images = np.zeros((1, 16, 16, 3), np.uint8)
    images[0, 0, 0, 0] = 255
    best = top_patches(_red_detector(), {"pool": [0]}, images, k=1, fill=77)["pool"]
    np.testing.assert_array_equal(best.position[0, 0], [0, 0])
    patch = best.patches[0, 0]
    assert np.all(patch[0] == 77) and np.all(patch[:, 0] == 77)        # the field starts at pixel -1
    assert patch[1, 1, 0] == 255


def test_top_patches_errors():
    model = _red_detector()
    images = np.zeros((4, 16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="channel indices in 0..1"):
        top_patches(model, {"pool": [2]}, images)
    with pytest.raises(ValueError, match="k must be"):
        top_patches(model, {"pool": [0]}, images, k=9)
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        top_patches(model, {"pool": [0]}, images[..., 0], k=1)
    with pytest.raises(ValueError, match="one size"):
        top_patches(model, {"pool": [0]}, [images[0], images[0, :8]], k=1)
    with pytest.raises(ValueError, match="non-empty dict"):
        top_patches(model, "pool", images, k=1)


def test_maximize_activation_paints_what_the_unit_wants():
    x = keras.Input((None, None, 3))
    conv = layers.Conv2D(2, 3, use_bias=False, name="conv")
    model = keras.Model(x, layers.ReLU(name="relu")(conv(x)))
    kernel = np.zeros((3, 3, 3, 2), np.float32)
    kernel[:, :, :, 0] = [1.0, -0.5, -0.5]          # unit 0 likes red without green or blue
    kernel[:, :, :, 1] = [-0.5, -0.5, 1.0]          # unit 1 likes blue
    conv.set_weights([kernel])
    images = maximize_activation(model, "relu", [0, 1], steps=60, size=24)
    assert images.shape == (2, 24, 24, 3) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 255
    means = images.mean(axis=(1, 2))
    assert means[0, 0] > 200 and means[0, 1] < 60 and means[0, 2] < 60
    assert means[1, 2] > 200 and means[1, 0] < 60
    np.testing.assert_array_equal(images, maximize_activation(model, "relu", [0, 1], steps=60, size=24))
    with pytest.raises(ValueError, match="steps must be positive"):
        maximize_activation(model, "relu", [0], steps=0)
    with pytest.raises(ValueError, match="channel indices"):
        maximize_activation(model, "relu", [5])


def test_mosaic_places_tiles_row_by_row():
    tiles = np.stack([np.full((2, 3, 3), 10 * i, np.uint8) for i in range(5)])
    out = mosaic(tiles, cols=3, gap=1, fill=255)
    assert out.shape == (2 * 3 - 1, 3 * 4 - 1, 3)
    assert out[0, 0, 0] == 0 and out[0, 4, 0] == 10 and out[3, 4, 0] == 40
    assert out[2, 0, 0] == 255 and out[3, 8, 0] == 255                  # a gap and the empty sixth cell


def test_image_grid_shape_titles_and_errors():
    import matplotlib.pyplot as plt

    images = [np.zeros((4, 4, 3), np.uint8)] * 5 + [np.ones((4, 4))]
    fig = image_grid(images, rows=2, titles=[str(i) for i in range(6)])
    assert len(fig.axes) == 6 and fig.axes[4].get_title() == "4"
    plt.close(fig)
    fig = image_grid(images[:5], cols=4, stretch=True)
    assert len(fig.axes) == 8
    plt.close(fig)
    with pytest.raises(ValueError, match="cannot hold"):
        image_grid(images, rows=2, cols=2)
    with pytest.raises(ValueError, match="titles has 1"):
        image_grid(images, titles=["a"])
    with pytest.raises(ValueError, match=r"images\[0\]"):
        image_grid([np.zeros((4, 4, 2))])


def test_visible_patch_crops_to_the_image_and_scales_to_the_tile():
    image = np.arange(10 * 10 * 3, dtype=np.uint8).reshape(10, 10, 3)
    inside = visible_patch(image, (2, 3, 6, 7), side=5)                    # a 5 x 5 box inside: unchanged
    np.testing.assert_array_equal(inside, image[3:8, 2:7])
    corner = visible_patch(image, (-5, -5, 4, 4), side=10)                 # only 5 x 5 of the 10 x 10 box is inside
    np.testing.assert_array_equal(corner, np.kron(image[:5, :5], np.ones((2, 2, 1), np.uint8)))
    edge = visible_patch(image, (-4, 0, 3, 7), side=8)  # 4 wide, 8 high: centred, white beside
    np.testing.assert_array_equal(edge[:, 2:6], image[0:8, 0:4])
    assert np.all(edge[:, :2] == 255) and np.all(edge[:, 6:] == 255)
    with pytest.raises(ValueError, match="overlap"):
        visible_patch(image, (20, 20, 30, 30), side=4)
