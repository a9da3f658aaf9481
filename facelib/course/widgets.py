"""Controls a learner can move in JupyterLab (ipywidgets), beside the notebooks' static figures.

=====================  ========  ==============================================================
control                notebook  what it redraws
=====================  ========  ==============================================================
:class:`TauExplorer`   01        distance histograms with tau marked; accuracy, FAR and FRR
:class:`PhotoIdentifier` 04      an uploaded photo: its faces, aligned chips, who each one is
:class:`StylePreview`  07        a small stylisation for a photo, painting, beta, layers, steps
:class:`FilterExplorer` 08       a learned Conv1D filter's kernel and where it fires on an ECG
=====================  ========  ==============================================================

Each control holds its input widgets, an :class:`ipywidgets.Image` for its figure and an
:class:`ipywidgets.HTML` for its text, and redraws both whenever an input changes (its callback
is an ordinary method, so a test sets a widget's value and reads what was drawn). Figures are
matplotlib ``Figure`` objects rendered to PNG, never pyplot figures, so nothing is captured into
a notebook's saved outputs; the last one stays in the control's ``figure`` attribute. A control
displays itself: end a cell with it. Without a live frontend (nbval, ``make run``) the widgets
are created but show nothing, and the notebook's static figures stand as they are.
"""

from __future__ import annotations

import html
import io
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from facelib.convnets.arithmetic import input_jump, output_times
from facelib.decision import same_person
from facelib.errors import ArgumentError
from facelib.recognition.verify import error_rates
from facelib.validation import check_choice, check_float, check_int

__all__ = ["TauExplorer", "identify_photo", "PhotoIdentifier", "StylePreview", "FilterExplorer", "UPLOAD_MAX_SIDE"]

UPLOAD_MAX_SIDE = 2000
"""Longer side (pixels) an uploaded photo is shrunk to before detection (a 12 MP phone photo
becomes 2000 x 1500), which bounds the detector's memory; smaller photos are used as they are."""
_UPSAMPLE_BELOW = 1000   # photos whose longer side is at most this are upsampled once (faces from ~40 px)
_MAX_FACES_DRAWN = 6


def _png(fig: Figure) -> bytes:
    """The figure as PNG bytes (Agg canvas; no pyplot, so nothing reaches the notebook's outputs)."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


class _Control:
    """Shared parts: a figure, a text line and the box that shows them under the inputs."""

    def __init__(self, inputs: Sequence[widgets.Widget]):
        self.image = widgets.Image(format="png")
        self.text = widgets.HTML()
        self.figure: Figure | None = None
        self.widget = widgets.VBox([*inputs, self.text, self.image])

    def _show(self, fig: Figure | None, message: str) -> None:
        self.figure = fig
        self.image.value = _png(fig) if fig is not None else b""
        if fig is not None:   # shown at its own size in pixels, not stretched to the notebook's width
            self.image.width = str(round(fig.get_figwidth() * fig.dpi))
        self.image.layout.display = None if fig is not None else "none"
        self.text.value = message

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


# -- 01: the threshold ----------------------------------------------------------------------------
class TauExplorer(_Control):
    """A tau slider over LFW pair distances: histograms with tau marked, and accuracy, FAR, FRR.

    Parameters
    ----------
    distances, same : arrays of one length
        d(A, B) of each pair and whether the pair shows one person.
    tau : float
        The slider's first position.
    """

    def __init__(self, distances, same, tau: float = 0.6):
        self.distances = np.asarray(distances, dtype=np.float64).ravel()
        self.same = np.asarray(same, dtype=bool).ravel()
        error_rates(self.distances, self.same, check_float("tau", tau, minimum=0.0))   # validates the pairs
        top = max(1.2, float(np.ceil(self.distances.max() * 10) / 10))
        self.bins = np.linspace(0.0, top, 49)
        self.slider = widgets.FloatSlider(value=tau, min=0.0, max=top, step=0.01, description="tau",
                                          continuous_update=False, readout_format=".2f")
        super().__init__([self.slider])
        self.slider.observe(lambda change: self.redraw(change["new"]), names="value")
        self.redraw(tau)

    def redraw(self, tau: float) -> None:
        """Draw both histograms with a line at tau, and print the three rates at tau."""
        accuracy, far, frr = error_rates(self.distances, self.same, tau)
        fig = Figure(figsize=(7, 3), dpi=100, layout="tight")
        ax = fig.add_subplot()
        ax.hist(self.distances[self.same], self.bins, alpha=0.6, label="same person")
        ax.hist(self.distances[~self.same], self.bins, alpha=0.6, label="different people")
        ax.axvline(tau, color="k", ls="--", label=f"tau = {tau:.2f}")
        ax.set_xlabel("d = ||f(x1) - f(x2)||")
        ax.set_ylabel("pairs")
        ax.set_title(f"tau = {tau:.2f}: accuracy {accuracy:.4f}, FAR {far:.4f}, FRR {frr:.4f}", fontsize=10)
        ax.legend(fontsize=8)
        n_same, n_diff = int(self.same.sum()), int((~self.same).sum())
        self._show(fig, f"<b>tau = {tau:.2f}</b>: accuracy {accuracy:.4f}; "
                        f"FAR {far:.4f} ({round(far * n_diff)} of {n_diff} pairs of two people accepted); "
                        f"FRR {frr:.4f} ({round(frr * n_same)} of {n_same} pairs of one person rejected)")


# -- 04: your own photo ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PhotoResult:
    """What :func:`identify_photo` found: the photo at working size, and per face its box,
    aligned chip, nearest enrolled name, distance and whether that distance is within tau."""

    photo: np.ndarray
    scale: float
    boxes: np.ndarray
    chips: np.ndarray
    names: list[str]
    distances: np.ndarray
    recognised: np.ndarray


def identify_photo(source, database, threshold: float = 0.6, max_side: int = UPLOAD_MAX_SIDE) -> PhotoResult:
    """Detect every face in a photo, align it, encode it and find its nearest enrolled person.

    A photo whose longer side exceeds ``max_side`` is shrunk to it first (scale < 1), which
    bounds the memory a 12 MP photo needs; one of at most 1000 px is searched with one
    upsampling step, so faces down to about 40 px are found. Face k is ``names[k]`` when
    ``distances[k] <= threshold`` and "not recognized" otherwise (:func:`facelib.faces.find_faces`,
    :meth:`facelib.recognition.database.FaceDatabase.nearest`).

    Parameters
    ----------
    source : bytes, path or array
        The photo (anything :func:`facelib.images.load_image` reads); bytes stay in memory.
    database : facelib.recognition.database.FaceDatabase
        The enrolled people.
    threshold : float
        The decision threshold tau, > 0 (:func:`facelib.decision.check_threshold`).
    max_side : int
        Working size of large photos.

    Raises
    ------
    facelib.images.ImageError
        If ``source`` is not a readable image.
    facelib.errors.ArgumentError
        For a ``database`` that is not a FaceDatabase, or ``threshold`` or ``max_side`` out of range.
    """
    from facelib import faces
    from facelib.decision import check_threshold
    from facelib.errors import ArgumentError
    from facelib.images import load_image, resize
    from facelib.recognition.database import FaceDatabase

    threshold = check_threshold(threshold)
    max_side = check_int("max_side", max_side, minimum=100)
    if not isinstance(database, FaceDatabase):
        raise ArgumentError(f"database must be a FaceDatabase, got {type(database).__name__}")
    photo = load_image(source)  # read once: the steps below take the array
    scale = min(1.0, max_side / max(photo.shape[:2]))
    if scale < 1.0:
        photo = resize(photo, max_side)
    found = faces.find_faces(photo, upsample=1 if max(photo.shape[:2]) <= _UPSAMPLE_BELOW else 0)
    nearest = database.nearest(found.encodings) if len(found.boxes) else []
    distances = np.array([m.distance for m in nearest], dtype=np.float64)
    return PhotoResult(photo, scale, found.boxes, found.chips, [m.name for m in nearest], distances,
                       same_person(distances, threshold))


class PhotoIdentifier(_Control):
    """"Try your own photo": an upload button; each face found is aligned and identified.

    Parameters
    ----------
    database : facelib.recognition.database.FaceDatabase
        The notebook's enrolled people.
    gallery : mapping name -> image (path or array)
        The enrolled photo of each person, drawn beside a recognised face.
    tau : float
        The decision threshold.
    example : path, optional
        A photo to suggest under the button (e.g. an enrolled person's other LFW photo).

    The upload stays in memory: its bytes are decoded from the widget's value, which is then
    cleared; nothing is written to disk.
    """

    def __init__(self, database, gallery: Mapping[str, Any], tau: float = 0.6, example=None):
        self.database, self.gallery = database, gallery
        self.tau = check_float("tau", tau, minimum=0.0)
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="Your photo")
        super().__init__([self.upload])
        self.upload.observe(self._on_upload, names="value")
        self.text.value = (f"Upload a photo with one or more faces: each is compared with the "
                           f"{len(database)} enrolled people at tau = {self.tau:.2f}.")
        if example is not None:
            self.text.value += (" No photo at hand? Try an enrolled person's other photo: "
                                f"<code>{html.escape(str(example))}</code>")

    def _on_upload(self, change) -> None:
        if not change["new"]:
            return
        item = change["new"][0]
        name, content = str(item["name"]), bytes(item["content"])
        self.upload.value = ()   # let the bytes go once read
        self.show(name, content)

    def show(self, name: str, content: bytes) -> None:
        """Identify the faces in the photo ``content`` (file ``name``) and draw the answer."""
        from facelib.images import ImageError

        label = html.escape(name)
        try:
            found = identify_photo(content, self.database, self.tau)
        except ImageError as error:
            self._show(None, f"<b>{label} is not an image this course can read.</b> "
                             f"{html.escape(str(error))} Upload a JPEG or PNG photo.")
            return
        height, width = found.photo.shape[:2]
        if not len(found.boxes):
            self._show(None, f"<b>No face found in {label}</b> ({width} x {height} px as searched). "
                             "Try a photo in which a face looks towards the camera, is well lit and "
                             "fills at least a twentieth of the picture's width.")
            return
        lines = [f"<b>{label}</b>: {len(found.boxes)} face{'s' * (len(found.boxes) > 1)} "
                 f"({width} x {height} px as searched)"]
        for k, (who, d, ok) in enumerate(zip(found.names, found.distances, found.recognised, strict=True), 1):
            answer = f"<b>{html.escape(who)}</b>" if ok else "<b>not recognised</b>"
            lines.append(f"face {k}: {answer} (d = {d:.2f}; nearest enrolled: {html.escape(who)}; "
                         f"tau = {self.tau:.2f})")
        self._show(self._draw(found), "<br>".join(lines))

    def _draw(self, found: PhotoResult) -> Figure:
        from facelib.images import load_image

        n = min(len(found.boxes), _MAX_FACES_DRAWN)
        fig = Figure(figsize=(2.2 * (n + 1.5), 4.6), dpi=100, layout="constrained")
        grid = fig.add_gridspec(2, n + 1, width_ratios=[1.5] + [1] * n)
        ax = fig.add_subplot(grid[:, 0])
        ax.imshow(found.photo)
        for k, box in enumerate(found.boxes, 1):
            colour = "lime" if found.recognised[k - 1] else "orange"
            ax.add_patch(_rectangle(box, colour))
            ax.text(box[0], box[1], str(k), color=colour, fontsize=10, va="bottom")
        ax.set_title("your photo", fontsize=10)
        ax.axis("off")
        for k in range(n):
            top, bottom = fig.add_subplot(grid[0, k + 1]), fig.add_subplot(grid[1, k + 1])
            top.imshow(found.chips[k])
            top.set_title(f"face {k + 1}: aligned chip", fontsize=9)
            who, d = found.names[k], found.distances[k]
            if found.recognised[k] and who in self.gallery:
                bottom.imshow(load_image(self.gallery[who]))
                bottom.set_title(f"{who[:22]}\nd = {d:.2f} <= {self.tau:.2f}", fontsize=9)
            elif found.recognised[k]:
                bottom.text(0.5, 0.5, f"{who[:22]}\nd = {d:.2f} <= {self.tau:.2f}\n(no enrolled photo to show)",
                            ha="center", va="center", fontsize=9, transform=bottom.transAxes)
            else:
                bottom.text(0.5, 0.5, f"not recognised\nnearest: {who[:22]}\nd = {d:.2f} > {self.tau:.2f}",
                            ha="center", va="center", fontsize=9, transform=bottom.transAxes)
            for a in (top, bottom):
                a.axis("off")
        return fig


def _rectangle(box, colour: str):
    from matplotlib.patches import Rectangle

    left, top, right, bottom = np.asarray(box, dtype=np.float64)
    return Rectangle((left, top), right - left, bottom - top, fill=False, color=colour, lw=2)


# -- 07: style transfer preview -------------------------------------------------------------------
class StylePreview(_Control):
    """A small stylisation that redraws when the photo, painting, beta, style layers or steps change.

    Everything else is the backbone's recipe (:data:`facelib.convnets.style.RECIPES`); beta's slider is on a
    log scale, two decades either side of the recipe's beta.

    Parameters
    ----------
    contents, styles : mapping name -> image (path or array)
        The photographs and the paintings to choose from.
    size : int
        Longer side of the preview, in pixels (128 redraws in seconds on 2 CPU cores).
    steps : int
        The steps slider's first position.
    backbone : str
        The ImageNet network (:mod:`facelib.convnets.backbones`).
    extractor : keras.Model, optional
        A feature extractor of ``backbone`` with the content layer and every style layer, shared
        by every redraw (about a second faster each). By default each redraw lets ``stylize``
        build its own, so the preview follows its default recipe exactly.
    """

    def __init__(self, contents: Mapping[str, Any], styles: Mapping[str, Any], size: int = 128,
                 steps: int = 30, backbone: str = "squeezenet", extractor=None):
        from facelib import images
        from facelib.convnets import backbones, style

        if not contents or not styles:
            raise ArgumentError("contents and styles must each name at least one image")
        self.size = check_int("size", size, minimum=32, maximum=512)
        self.backbone, self.extractor = backbone, extractor
        recipe = style.RECIPES[check_choice("backbone", backbone, backbones.NAMES)]
        layers = list(recipe.style_weights)
        self._contents = {name: images.resize(image, self.size) for name, image in contents.items()}
        self._styles = {name: images.resize(image, 2 * self.size) for name, image in styles.items()}
        beta = float(recipe.beta)
        self.photo = widgets.Dropdown(options=list(contents), description="photo")
        self.painting = widgets.Dropdown(options=list(styles), description="painting")
        self.beta = widgets.FloatLogSlider(value=beta, base=10, min=np.log10(beta) - 2, max=np.log10(beta) + 2,
                                           step=0.25, description="beta", continuous_update=False)
        self.layers = widgets.SelectMultiple(options=layers, value=tuple(layers), rows=len(layers),
                                             description="style layers")
        self.steps = widgets.IntSlider(value=check_int("steps", steps, minimum=1), min=10, max=200, step=10,
                                       description="steps", continuous_update=False)
        super().__init__([widgets.HBox([self.photo, self.painting]), widgets.HBox([self.beta, self.steps]),
                          self.layers])
        for control in (self.photo, self.painting, self.beta, self.layers, self.steps):
            control.observe(lambda change: self.redraw(), names="value")
        self.seconds: float | None = None
        self.redraw()

    def redraw(self) -> None:
        """Run :func:`facelib.convnets.style.stylize` with the controls' values and draw G."""
        from facelib.convnets import style

        if not self.layers.value:
            self._show(None, "<b>Choose at least one style layer</b> (ctrl-click or shift-click for several).")
            return
        start = time.perf_counter()
        result = style.stylize(self._contents[self.photo.value], self._styles[self.painting.value],
                               size=self.size, backbone=self.backbone, beta=self.beta.value,
                               style_layers=list(self.layers.value), steps=self.steps.value,
                               extractor=self.extractor, progress=False)
        self.seconds = time.perf_counter() - start
        fig = Figure(figsize=(4, 4 * result.image.shape[0] / result.image.shape[1]), dpi=80, layout="tight")
        ax = fig.add_subplot()
        ax.imshow(result.image)
        ax.axis("off")
        self.result = result
        self._show(fig, f"{html.escape(self.photo.value)} in the style of {html.escape(self.painting.value)}: "
                        f"beta = {self.beta.value:.3g}, {len(self.layers.value)} style layers "
                        f"({', '.join(self.layers.value)}), {self.steps.value} steps, "
                        f"J = {result.history['cost'][-1]:.4g}; drawn in {self.seconds:.1f} s")


# -- 08: a learned Conv1D filter ------------------------------------------------------------------
class FilterExplorer(_Control):
    """Pick a learned Conv1D filter: its kernel, and where it fires (after its activation) on a signal.

    Parameters
    ----------
    model : keras.Sequential
        A trained model whose first layers are Conv1D (and 1D pooling) layers.
    signal : array, shape (samples,) or (samples, 1)
        One input window, as the model sees it.
    fs : float
        Sampling rate (Hz).
    """

    def __init__(self, model, signal, fs: float):
        import keras

        self.model, self.fs = model, check_float("fs", fs, minimum=0.0, exclusive_minimum=True)
        self.signal = np.asarray(signal, dtype=np.float32).reshape(-1)
        self.convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv1D)]
        if not self.convs:
            raise ArgumentError(f"model {model.name!r} has no Conv1D layer")
        outputs = [layer.output for layer in self.convs]
        maps = keras.Model(model.inputs[0], outputs)(self.signal[None, :, None])
        self.responses = {layer.name: keras.ops.convert_to_numpy(m)[0]
                          for layer, m in zip(self.convs, maps, strict=True)}
        self.layer = widgets.Dropdown(options=[layer.name for layer in self.convs], description="layer")
        self.filter = widgets.IntSlider(value=0, min=0, max=self.convs[0].filters - 1, description="filter",
                                        continuous_update=False)
        super().__init__([widgets.HBox([self.layer, self.filter])])
        self.layer.observe(self._on_layer, names="value")
        self.filter.observe(lambda change: self.redraw(), names="value")
        self.redraw()

    def _on_layer(self, change) -> None:
        layer = self.model.get_layer(change["new"])
        with self.filter.hold_trait_notifications():
            self.filter.value = min(self.filter.value, layer.filters - 1)
            self.filter.max = layer.filters - 1
        self.redraw()

    def redraw(self) -> None:
        """Draw the chosen filter's kernel, the signal with where it fires shaded, and its response."""
        import keras

        layer = self.model.get_layer(self.layer.value)
        k = self.filter.value
        kernel = keras.ops.convert_to_numpy(layer.kernel)[:, :, k]          # (taps, in channels)
        response = self.responses[layer.name][:, k]
        times = output_times(self.model, layer.name, len(self.signal), self.fs)
        peak = float(response.max())
        fires = response > 0.5 * peak if peak > 0 else np.zeros(len(response), bool)

        fig = Figure(figsize=(11, 4.2), dpi=90, layout="constrained")
        grid = fig.add_gridspec(2, 2, width_ratios=[1, 3])
        ax = fig.add_subplot(grid[:, 0])
        spacing = layer.dilation_rate[0] * input_jump(self.model, layer.name)   # input samples between taps
        taps_ms = np.arange(kernel.shape[0]) * spacing * 1000 / self.fs
        if kernel.shape[1] == 1:
            ax.plot(taps_ms, kernel[:, 0], "o-")
            ax.axhline(0, color="grey", lw=0.5)
            ax.set_xlabel("tap offset on the input (ms)")
            ax.set_ylabel("weight")
        else:
            lim = float(np.abs(kernel).max()) or 1.0
            shown = ax.imshow(kernel.T, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim,
                              extent=[taps_ms[0], taps_ms[-1], kernel.shape[1] - 0.5, -0.5])
            fig.colorbar(shown, ax=ax, label="weight")
            ax.set_xlabel("tap offset on the input (ms)")
            ax.set_ylabel("input channel")
        ax.set_title(f"{layer.name}, filter {k}: kernel", fontsize=10)
        t = np.arange(len(self.signal)) / self.fs
        top = fig.add_subplot(grid[0, 1])
        top.plot(t, self.signal, lw=0.8, color="C0")
        half = (times[1] - times[0]) / 2 if len(times) > 1 else 0.5 / self.fs
        for centre in times[fires]:
            top.axvspan(centre - half, centre + half, color="C3", alpha=0.3, lw=0)
        top.set_ylabel("signal")
        top.set_title("the signal; shaded where the filter fires (response > half its peak)", fontsize=10)
        bottom = fig.add_subplot(grid[1, 1], sharex=top)
        bottom.plot(times, response, color="C3")
        bottom.set_xlabel("time (s)")
        bottom.set_ylabel("response")
        if peak > 0:
            message = (f"<b>{layer.name}, filter {k}</b>: {kernel.shape[0]} taps x {kernel.shape[1]} input "
                       f"channel{'s' * (kernel.shape[1] > 1)}, taps {spacing * 1000 / self.fs:g} ms apart; "
                       f"fires at {int(fires.sum())} of {len(response)} positions, strongest at "
                       f"t = {times[int(response.argmax())]:.2f} s (response {peak:.3f})")
        else:
            message = (f"<b>{layer.name}, filter {k}</b>: never fires on this signal (its response is "
                       "0 everywhere after the ReLU)")
        self._show(fig, message)
