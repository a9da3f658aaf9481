"""Every number written in a notebook's prose is printed by that notebook's code (or sits in its code).

The prose of a lesson must not say what its outputs do not show (the course's rule for claims):
a number typed into a markdown cell has to appear in one of the notebook's code cells or in
its saved outputs, so that a re-run that changes a result cannot leave the text quietly wrong.
A number counts as shown when some number in the code or outputs rounds to it at the precision
the prose writes it (``0.37`` is shown by ``0.3700``, ``27.5x`` by ``27.5``).

Not checked: integers below 10 (counts such as "two seeds", section and step numbers), years
1900-2029 (citations), numbers inside LaTeX display formulas (``$$...$$``), and numbers that are
part of a name (SHA-256, ISO/IEC 30107-3, arXiv numbers, identifiers such as ``fire5_concat``). Formula
constants and citation numbers in the running text go in ``ALLOWED``, one short list per
notebook, each with the reason.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# Numbers the prose may state without a code cell printing them: formula constants, citations,
# facts about data or papers. Keep each list short and say why.
ALLOWED: dict[str, set[str]] = {
    "00_setup_check": {"13,233", "128"},                    # LFW's published image count; the length of f(x)
    "01_verification_and_one_shot": set(),
    "02_siamese_triplet_loss": {
        "128", "29", "7,000",                                # dlib's encoder (King, 2017): length, layers, people
        "430",                                               # people in benchmarks/triplet_selection_lfw.py
    },
    "03_verification_as_binary_classification": {"257", "100,000"},  # 2 x 128 weights + bias; notebook 04's largest K
    "04_face_recognition_system": set(),
    "05_what_convnets_learn": {"07-49"},                    # LFW's report number (UMass TR)
    "06_style_transfer_costs": {"06", "80", "1889"},        # title; VGG19's weights in MB; the painting's year
    "07_generating_art": {"1889", "1893", "1831",            # the paintings' years
                          "1.1", "20"},                      # SqueezeNet's version; VGG19's parameters in millions
    "08_conv_1d_and_3d": {"60", "18-28"},          # s per minute; the lesion radius range (0.18, 0.28)
}

_DISPLAY_MATH = re.compile(r"\$\$.*?\$\$", re.DOTALL)
_LINK_TARGET = re.compile(r"\]\([^)]*\)")
_NAMES_WITH_NUMBERS = re.compile(r"SHA-\d+|ISO/IEC [\d-]+|arXiv:[\d.]+|\b\w+\d\w*_\w+")  # names, not claims
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?(?![\w])")
_CODE_NUMBER = re.compile(r"(?<![\w])\d[\d_]*(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else value


def _prose_numbers(markdown: str) -> list[str]:
    """Numbers (and ranges such as ``18-28``) written in a markdown cell, outside display math."""
    text = _NAMES_WITH_NUMBERS.sub(" ", _LINK_TARGET.sub("]", _DISPLAY_MATH.sub(" ", markdown)))
    return [m.group(0) for m in _NUMBER.finditer(text)]


def _is_exempt(token: str) -> bool:
    first = token.split("-")[0]
    return bool(re.fullmatch(r"\d|(19\d\d|20[0-2]\d)", first))


def _shown_numbers(nb: dict) -> list[Decimal]:
    """Every number in the notebook's code cells and in their text outputs."""
    parts = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        parts.append(_text(cell["source"]))
        for out in cell.get("outputs", []):
            if "text" in out:
                parts.append(_text(out["text"]))
            parts.append(_text(out.get("data", {}).get("text/plain", "")))
    text = re.sub(r"(?<=\d),(?=\d{3})", "", "\n".join(parts))
    return [Decimal(m.group(0).replace("_", "")) for m in _CODE_NUMBER.finditer(text)]


def _is_shown(token: str, shown: list[Decimal]) -> bool:
    """Whether each end of ``token`` is some shown number rounded to the token's precision."""
    for part in token.split("-"):
        value = Decimal(part.replace(",", ""))
        step = Decimal(1).scaleb(value.as_tuple().exponent)
        if not any(abs(s - value) <= step / 2 for s in shown):
            return False
    return True


def unsupported_numbers(nb: dict, allowed: set[str] = frozenset()) -> list[tuple[int, str]]:
    """``(cell index, number)`` for each number in the prose that the code and outputs do not show."""
    shown = _shown_numbers(nb)
    missing = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        for token in _prose_numbers(_text(cell["source"])):
            if token in allowed or _is_exempt(token) or _is_shown(token, shown):
                continue
            missing.append((index, token))
    return missing


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_number_in_the_prose_is_shown(path):
    if path.stem not in ALLOWED:
        pytest.skip(f"{path.name} is not covered by the claims check yet")
    nb = json.loads(path.read_text(encoding="utf-8"))
    missing = unsupported_numbers(nb, ALLOWED[path.stem])
    assert not missing, (f"{path.name}: numbers in the prose that no code cell or output shows "
                         f"(cell, number): {missing}; print them, or add them to ALLOWED with a reason")


def test_the_check_catches_a_number_the_outputs_contradict():
    nb = {"cells": [
        {"cell_type": "code", "source": "print(acc)", "outputs": [{"output_type": "stream", "text": "0.9200\n"}]},
        {"cell_type": "markdown", "source": "Accuracy is 0.92, not 0.95; K = 100,000 and 3 seeds; see 2014."},
    ]}
    assert unsupported_numbers(nb) == [(1, "0.95"), (1, "100,000")]
    assert unsupported_numbers(nb, {"0.95", "100,000"}) == []


def test_ranges_and_display_math():
    nb = {"cells": [
        {"cell_type": "code", "source": "x = [0.5, 0.65]", "outputs": []},
        {"cell_type": "markdown", "source": "between 0.5-0.65, not 0.5-0.8 $$ d = 0.123 $$"},
    ]}
    assert unsupported_numbers(nb) == [(1, "0.5-0.8")]
