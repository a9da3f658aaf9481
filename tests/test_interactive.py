"""The notebooks' controls: set a widget's value as a learner would, then check what is drawn and printed."""

from __future__ import annotations

import datetime
import io
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import require_asset
from PIL import Image

from facelib.convnets import arithmetic
from facelib.course import ROOT, widgets
from facelib.errors import ArgumentError
from facelib.recognition import verify


# -- 01: tau ---------------------------------------------------------------------------------------
def _pairs(seed=0, n=200):
    rng = np.random.default_rng(seed)
    same = rng.random(n) < 0.5
    d = np.where(same, rng.normal(0.45, 0.08, n), rng.normal(0.85, 0.1, n)).clip(0.01)
    return d, same


def test_tau_explorer_refuses_bad_input():
    d, same = _pairs()
    with pytest.raises(ArgumentError, match="same must have the shape"):
        widgets.TauExplorer(d, same[:-1], 0.6)
    with pytest.raises(ArgumentError, match="tau"):
        widgets.TauExplorer(d, same, -0.1)


def test_tau_slider_redraws_histograms_and_rates():
    d, same = _pairs()
    explorer = widgets.TauExplorer(d, same, tau=0.6)
    first_png = bytes(explorer.image.value)
    assert first_png.startswith(b"\x89PNG")

    explorer.slider.value = 0.5                       # what the learner does
    ax = explorer.figure.axes[0]
    tau_line = [line for line in ax.lines if line.get_label() == "tau = 0.50"]
    assert len(tau_line) == 1 and np.allclose(tau_line[0].get_xdata(), 0.5)
    heights = [p.get_height() for p in ax.patches]
    expected = np.concatenate([np.histogram(d[same], explorer.bins)[0], np.histogram(d[~same], explorer.bins)[0]])
    np.testing.assert_array_equal(heights, expected)
    acc, far, frr = verify.error_rates(d, same, 0.5)           # tested pair by pair in test_verify.py
    assert f"accuracy {acc:.4f}" in explorer.text.value
    assert f"FAR {far:.4f} ({round(far * (~same).sum())} of {(~same).sum()}" in explorer.text.value
    assert f"FRR {frr:.4f} ({round(frr * same.sum())} of {same.sum()}" in explorer.text.value
    assert bytes(explorer.image.value) != first_png


# -- 04: your own photo ----------------------------------------------------------------------------
ENROLLED = ["Colin_Powell", "Tony_Blair", "Serena_Williams"]


@pytest.fixture(scope="module")
def door():
    from facelib import faces
    from facelib.recognition import datasets
    from facelib.recognition.database import FaceDatabase

    root = require_asset("lfw")
    gallery = {name: datasets.lfw_image_path(name, 1, root) for name in ENROLLED}
    db = FaceDatabase()
    for name, e in zip(ENROLLED, faces.encode_faces(list(gallery.values())), strict=True):
        db.enroll(name, e)
    return db, gallery, root


def _upload(identifier, name, content):
    identifier.upload.value = ({"name": name, "type": "image/jpeg", "size": len(content),
                                "content": memoryview(content),
                                "last_modified": datetime.datetime.now(datetime.timezone.utc)},)


def _jpeg(pixels) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def test_upload_of_an_enrolled_person_names_them_and_shows_their_gallery_face(door):
    from facelib.recognition import datasets

    db, gallery, root = door
    identifier = widgets.PhotoIdentifier(db, gallery, tau=0.6)
    photo = datasets.lfw_image_path("Tony_Blair", 2, root)      # not the enrolled photo
    _upload(identifier, "blair.jpg", photo.read_bytes())

    assert identifier.upload.value == ()                         # the bytes are not kept
    assert "face 1: <b>Tony_Blair</b>" in identifier.text.value
    d = float(identifier.text.value.split("d = ")[1].split(";")[0])
    assert d <= 0.6
    titles = [ax.get_title() for ax in identifier.figure.axes]
    assert "face 1: aligned chip" in titles and f"Tony_Blair\nd = {d:.2f} <= 0.60" in titles
    shown = [ax for ax in identifier.figure.axes if ax.get_title().startswith("Tony_Blair")][0]
    np.testing.assert_array_equal(shown.images[0].get_array(), np.asarray(Image.open(gallery["Tony_Blair"])))
    assert identifier.image.layout.display is None and bytes(identifier.image.value).startswith(b"\x89PNG")


def test_upload_of_a_stranger_is_not_recognised(door):
    from facelib.recognition import datasets

    db, gallery, root = door
    identifier = widgets.PhotoIdentifier(db, gallery, tau=0.6)
    _upload(identifier, "stranger.jpg", datasets.lfw_image_path("Gloria_Macapagal_Arroyo", 1, root).read_bytes())
    assert "face 1: <b>not recognised</b>" in identifier.text.value
    d = float(identifier.text.value.split("d = ")[1].split(";")[0])
    assert d > 0.6
    assert any("not recognised" in t.get_text() for ax in identifier.figure.axes for t in ax.texts)


def test_upload_that_is_not_an_image_says_so(door):
    db, gallery, _ = door
    identifier = widgets.PhotoIdentifier(db, gallery)
    _upload(identifier, "notes.txt", b"these are my notes, not a photo")
    assert "notes.txt is not an image this course can read" in identifier.text.value
    assert identifier.figure is None and identifier.image.layout.display == "none"


def test_upload_without_a_face_says_so(door):
    import skimage.data

    db, gallery, _ = door
    identifier = widgets.PhotoIdentifier(db, gallery)
    _upload(identifier, "coffee.jpg", _jpeg(skimage.data.coffee()))
    assert "No face found in coffee.jpg" in identifier.text.value
    assert identifier.figure is None


def test_a_12_megapixel_photo_is_searched_at_the_working_size(door):
    from facelib.recognition import datasets

    db, gallery, root = door
    face = Image.open(datasets.lfw_image_path("Serena_Williams", 2, root)).resize((1200, 1200))
    canvas = Image.new("RGB", (4000, 3000), (90, 110, 130))
    canvas.paste(face, (1400, 900))
    found = widgets.identify_photo(_jpeg(np.asarray(canvas)), db, threshold=0.6)
    assert found.scale == 0.5 and found.photo.shape == (1500, 2000, 3)
    assert found.names[int(np.argmax(found.recognised))] == "Serena_Williams" and found.recognised.any()


# A phone photo through the upload path, in a fresh process whose peak resident memory (VmHWM, TensorFlow
# included) is read from /proc: the notebook's budget is 4 GB in all, the upload may take at most 2 GiB.
UPLOAD_CHILD = """
import io, json, sys
from pathlib import Path
from PIL import Image
import facelib
facelib.quiet_tensorflow()
from facelib import faces
from facelib.convnets import arithmetic
from facelib.course import ROOT, widgets
from facelib.recognition.database import FaceDatabase
db = FaceDatabase()
db.enroll("someone", faces.encode_faces([sys.argv[2]])[0])
photo = Image.open(sys.argv[1]).convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC)
data = io.BytesIO()
photo.save(data, format="JPEG", quality=90)
del photo
control = widgets.PhotoIdentifier(db, {})
control.show("phone.jpg", data.getvalue())
hwm = [line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:")]
print(json.dumps({"peak_mib": int(hwm[0].split()[1]) / 1024, "text": control.text.value}))
"""


@pytest.mark.system  # peak memory of a subprocess: make test-system
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak memory is read from /proc (Linux only)")
def test_a_12_megapixel_upload_stays_within_2_gib(door):
    import subprocess
    import sys

    _, gallery, _ = door
    group = require_asset("group_photos") / "sample1.jpg"
    done = subprocess.run([sys.executable, "-c", UPLOAD_CHILD, str(group), str(gallery["Tony_Blair"])],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "3 faces (2000 x 1500 px as searched)" in result["text"]
    assert result["peak_mib"] < 2048, f"peak {result['peak_mib']:.0f} MiB"


# -- 07: style preview -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def preview():
    require_asset("squeezenet")
    contents = {"chelsea": require_asset("nst_content") / "chelsea.png"}
    style_dir = require_asset("nst_style")
    styles = {"starry night": style_dir / "van_gogh_starry_night.jpg",
              "great wave": style_dir / "hokusai_great_wave_off_kanagawa.jpg"}
    return widgets.StylePreview(contents, styles, size=64, steps=10), contents, styles


def test_style_preview_redraws_with_the_recipe_of_stylize(preview):
    from facelib import images
    from facelib.convnets import style

    control, contents, styles = preview
    control.painting.value = "great wave"
    control.beta.value = 5.0
    assert "great wave" in control.text.value and "beta = 5" in control.text.value
    direct = style.stylize(images.resize(contents["chelsea"], 64), images.resize(styles["great wave"], 128), size=64,
                           beta=5.0, steps=10, progress=False)     # everything else: stylize's defaults
    np.testing.assert_allclose(control.result.image, direct.image, atol=2)
    assert np.asarray(control.figure.axes[0].images[0].get_array()).shape == direct.image.shape


def test_style_preview_uses_only_the_chosen_layers_and_steps(preview):
    control, _, _ = preview
    control.layers.value = ("relu_conv1",)
    assert "1 style layers (relu_conv1)" in control.text.value
    control.steps.value = 20
    assert len(control.result.history["step"]) == 20 and "20 steps" in control.text.value
    control.layers.value = ()
    assert "Choose at least one style layer" in control.text.value and control.figure is None
    control.layers.value = tuple(control.layers.options)


# -- 08: Conv1D filters ----------------------------------------------------------------------------
def _ecg_net():
    import keras
    from keras import layers

    keras.utils.set_random_seed(3)
    return keras.Sequential([keras.Input((400, 1)), layers.Conv1D(4, 9, strides=2, activation="relu"),
                             layers.MaxPooling1D(2), layers.Conv1D(3, 5, padding="same", activation="relu")])


def test_output_times_follow_the_receptive_fields():
    model = _ecg_net()
    # conv 9 stride 2: unit i covers samples 2i..2i+8, centre 2i + 4.
    np.testing.assert_allclose(arithmetic.output_times(model, model.layers[0].name, 400, 100.0),
                               (2 * np.arange(196) + 4) / 100.0)
    # pool 2/2: r = 9 + 2 = 11, j = 4; conv 5 'same' (p = 2): a = -8, r = 11 + 16 = 27, centre -8 + 13 + 4i.
    np.testing.assert_allclose(arithmetic.output_times(model, model.layers[2].name, 400, 100.0),
                               (5 + 4 * np.arange(98)) / 100.0)
    with pytest.raises(ValueError, match="not a layer"):
        arithmetic.output_times(model, "nope", 400, 100.0)


def test_filter_explorer_draws_the_kernel_and_where_it_fires():
    from facelib.convnets import synthetic

    model = _ecg_net()
    x = synthetic.ecg(4.0, 100.0, seed=1)
    x = (x - x.mean()) / x.std()
    explorer = widgets.FilterExplorer(model, x, fs=100.0)
    explorer.filter.value = 2
    conv = model.layers[0]
    kernel, bias = (np.asarray(w) for w in conv.get_weights())
    drawn = explorer.figure.axes[0].lines[0]
    np.testing.assert_allclose(drawn.get_ydata(), kernel[:, 0, 2])
    reference = np.maximum(np.correlate(x, kernel[:, 0, 2], "valid")[::2] + bias[2], 0)   # NumPy, not Keras
    response_line = explorer.figure.axes[2].lines[0]
    np.testing.assert_allclose(response_line.get_ydata(), reference, rtol=1e-4, atol=1e-5)
    fires = int((reference > 0.5 * reference.max()).sum())
    assert f"taps 10 ms apart; fires at {fires} of 196 positions" in explorer.text.value
    assert len(explorer.figure.axes[1].patches) == fires

    explorer.layer.value = model.layers[2].name                 # a deeper filter: 4 input channels
    assert explorer.filter.max == 2 and explorer.filter.value == 2
    image = explorer.figure.axes[0].images[0]
    np.testing.assert_allclose(image.get_array(), np.asarray(model.layers[2].kernel)[:, :, 2].T)
    # its taps sit 4 input samples (40 ms) apart: after a stride-2 convolution and a 2-wide pooling
    assert image.get_extent()[:2] == [0, 160] and "taps 40 ms apart" in explorer.text.value
    assert explorer.figure.axes[0].get_ylabel() == "input channel"


# -- the committed notebooks -----------------------------------------------------------------------
NOTEBOOKS = ROOT / "notebooks"
CONTROLS = {"01": "TauExplorer", "04": "PhotoIdentifier", "07": "StylePreview", "08": "FilterExplorer"}


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem[:2])
def test_committed_notebooks_keep_no_widget_views(path):
    """GitHub and nbconvert would show "Error displaying widget" for a saved view without a kernel."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert "widgets" not in nb["metadata"], f"{path.name} stores widget state in its metadata"
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            assert "application/vnd.jupyter.widget-view+json" not in output.get("data", {}), (
                f"{path.name} saves a widget view; `python -m facelib.course.runner --in-place` strips them")
    tagged = [c for c in nb["cells"] if "interactive" in c["metadata"].get("tags", [])]
    if path.name[:2] in CONTROLS:
        code = [c for c in tagged if c["cell_type"] == "code"]
        assert len(code) == 1 and f"widgets.{CONTROLS[path.name[:2]]}(" in "".join(code[0]["source"])
        assert not code[0]["outputs"]


def test_the_runner_strips_widget_state_and_views_but_keeps_other_outputs():
    import nbformat

    from facelib.course.runner import WIDGET_VIEW, strip_widget_views

    nb = nbformat.v4.new_notebook(metadata={"widgets": {"state": {}}})
    nb.cells = [nbformat.v4.new_code_cell("w", outputs=[
        nbformat.v4.new_output("display_data", data={WIDGET_VIEW: {"model_id": "x"}, "text/plain": "Preview"}),
        nbformat.v4.new_output("stream", name="stdout", text="kept\n")])]
    strip_widget_views(nb)
    assert "widgets" not in nb.metadata and [out.output_type for out in nb.cells[0].outputs] == ["stream"]
