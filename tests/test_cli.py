"""The command line on real LFW photos with the real encoder: verify, enroll, identify, help, exit codes.

Most commands run in-process through ``main([...])`` (one loaded encoder for all of them); one
true subprocess checks ``python -m facelib`` and its exit code.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from facelib.cli import main


@pytest.fixture
def lfw(asset_dir):
    root = asset_dir("lfw") / "lfw_funneled"
    return lambda name, i: str(root / name / f"{name}_{i:04d}.jpg")


def _distance(line: str) -> float:
    return float(re.search(r"distance (\d+\.\d+)", line).group(1))


@pytest.mark.parametrize("command", [[], ["verify"], ["enroll"], ["identify"], ["stylize"], ["assets"]])
def test_help_on_every_command(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_verify_same_person_exits_0_and_prints_the_encoders_distance(lfw, capsys):
    from facelib import faces

    a, b = lfw("George_W_Bush", 1), lfw("George_W_Bush", 2)
    assert main(["verify", a, b]) == 0
    out = capsys.readouterr().out
    assert "same person" in out
    want = float(np.linalg.norm(np.subtract(*faces.encode_faces([a, b]))))
    assert _distance(out) == pytest.approx(want, abs=1e-4)
    assert main(["verify", a, b, "--threshold", f"{want * 0.9:.6f}"]) == 1  # the threshold decides


def test_enroll_then_identify_round_trip(lfw, tmp_path, capsys):
    db = str(tmp_path / "people.npz")
    assert main(["enroll", db, "George W Bush", lfw("George_W_Bush", 1), lfw("George_W_Bush", 2)]) == 0
    assert main(["enroll", db, "Colin Powell", lfw("Colin_Powell", 1)]) == 0
    assert "holds 2 people" in capsys.readouterr().out
    queries = [lfw("George_W_Bush", 3), lfw("Colin_Powell", 2), lfw("Serena_Williams", 1)]
    assert main(["identify", db, *queries]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[0] for line in lines] == queries  # one face in each photo
    assert "George W Bush (distance" in lines[0] and "Colin Powell (distance" in lines[1]
    assert "not recognized (distance" in lines[2]
    assert _distance(lines[0]) < 0.6 and _distance(lines[1]) < 0.6 and _distance(lines[2]) >= 0.6


@pytest.mark.system  # real processes: make test-system
def test_subprocess_exit_codes(lfw, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    different = subprocess.run([sys.executable, "-m", "facelib", "verify", lfw("George_W_Bush", 1),
                                lfw("Serena_Williams", 1)], capture_output=True, text=True, env=env, timeout=300)
    assert different.returncode == 1, different.stderr
    assert "different people" in different.stdout and _distance(different.stdout) > 0.6
    bad = tmp_path / "not_an_image.jpg"
    bad.write_text("hello")
    usage = subprocess.run([sys.executable, "-m", "facelib", "verify", str(bad), str(bad)],
                           capture_output=True, text=True, env=env, timeout=300)
    assert usage.returncode == 2 and "not an image" in usage.stderr


def test_stylize_writes_the_image(asset_dir, tmp_path, capsys):
    from PIL import Image

    content, style = asset_dir("nst_content") / "chelsea.png", asset_dir("nst_style") / "monet_sainte_adresse.jpg"
    out = tmp_path / "out.png"
    assert main(["stylize", str(content), str(style), "-o", str(out), "--size", "64", "--steps", "3"]) == 0
    assert Image.open(out).size == (64, 43)  # chelsea is 451 x 300: longer side 64
    assert f"wrote {out}" in capsys.readouterr().out


def test_assets_list_and_verify(asset_dir, capsys):
    asset_dir("group_photos")
    assert main(["assets", "list"]) == 0
    assert "lfw" in capsys.readouterr().out
    assert main(["assets", "verify", "group_photos"]) == 0
    assert "group_photos   OK" in capsys.readouterr().out
