"""The asset manager: lookup order, checksums, corrupt copies, offline errors, downloads."""

from __future__ import annotations

import hashlib
import json
import tarfile

import pytest

from facelib import assets

FILES = {"a.txt": b"alpha\n", "sub/b.bin": bytes(range(256))}


def _write_folder(folder, files=FILES):
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A manifest with one asset 'toy', an empty mirror, an empty cache and a public archive URL."""
    data = tmp_path / "data"
    (data / "checksums").mkdir(parents=True)
    (data / "checksums" / "toy.sha256").write_text(
        "".join(f"{hashlib.sha256(v).hexdigest()}  {k}\n" for k, v in FILES.items()))
    origin = tmp_path / "origin"
    _write_folder(origin / "toy-1.0")
    archive = tmp_path / "toy.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(origin / "toy-1.0", arcname="toy-1.0")
    entry = {"description": "a toy asset", "licence": "CC0", "mirror": "toys/toy",
             "bytes": sum(len(v) for v in FILES.values()),
             "downloads": [{"url": archive.as_uri(), "archive": "toy-1.0/", "path": ""}]}
    (data / "assets.json").write_text(json.dumps({"toy": entry}))
    monkeypatch.setattr(assets, "DATA_DIR", data)
    monkeypatch.setenv("FACELIB_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("FACELIB_HOME", str(tmp_path / "home"))
    assets.manifest.cache_clear()
    assets.forget()
    yield tmp_path
    assets.manifest.cache_clear()
    assets.forget()


def test_real_manifest_registers_the_course_assets():
    names = set(assets.manifest())
    assert {"squeezenet", "lfw", "att_faces", "nst_style", "nst_content", "group_photos", "dlib_models"} <= names
    lfw = assets.get("lfw")
    assert len(lfw.checksums) == 13241 and "pairs.txt" in lfw.checksums
    assert all(a.licence and a.description for a in assets.manifest().values())


def test_mirror_is_preferred_over_cache(toy):
    _write_folder(toy / "home" / "toy")
    assert assets.locate("toy") == toy / "home" / "toy"
    _write_folder(toy / "mirror" / "toys" / "toy")
    assert assets.locate("toy") == toy / "home" / "toy"  # remembered for this process
    assets.forget()
    assert assets.locate("toy") == toy / "mirror" / "toys" / "toy"


def test_incomplete_mirror_falls_back_to_cache(toy):
    _write_folder(toy / "mirror" / "toys" / "toy", {"a.txt": FILES["a.txt"]})
    _write_folder(toy / "home" / "toy")
    assert assets.locate("toy") == toy / "home" / "toy"


def test_offline_error_names_file_places_and_remedies(toy):
    with pytest.raises(assets.AssetNotFoundError) as info:
        assets.locate("toy")
    text = str(info.value)
    assert "'a.txt'" in text
    assert str(toy / "mirror" / "toys" / "toy") in text and str(toy / "home" / "toy") in text
    assert "FACELIB_MIRROR" in text and "python -m facelib.assets fetch toy" in text
    assert not assets.available("toy")


def test_unknown_asset_lists_the_registered_ones(toy):
    with pytest.raises(assets.AssetNotFoundError, match="Unknown asset 'nope'.*toy"):
        assets.locate("nope")


def test_one_changed_byte_is_reported_and_never_loaded(toy, capsys):
    folder = toy / "mirror" / "toys" / "toy"
    _write_folder(folder)
    assert assets.file("toy", "sub/b.bin").read_bytes() == FILES["sub/b.bin"]
    data = bytearray(FILES["sub/b.bin"])
    data[10] ^= 0x01  # same size, so the cheap check passes; the hash must not
    (folder / "sub" / "b.bin").write_bytes(bytes(data))
    with pytest.raises(assets.AssetCorruptError, match="corrupt"):
        assets.file("toy", "sub/b.bin")
    assert assets.verify("toy", progress=False) == {"ok": ["a.txt"], "corrupt": ["sub/b.bin"], "missing": []}
    assert assets.main(["verify", "toy"]) == 1
    assert "CORRUPT" in capsys.readouterr().out


def test_wrong_size_copy_is_skipped(toy):
    _write_folder(toy / "mirror" / "toys" / "toy", {**FILES, "a.txt": b"alpha, longer\n"})
    with pytest.raises(assets.AssetNotFoundError, match="bytes in all"):
        assets.locate("toy")


def test_fetch_downloads_unpacks_and_verifies(toy):
    assert assets.locate("toy", download=True) == toy / "home" / "toy"
    assert (toy / "home" / "toy" / "sub" / "b.bin").read_bytes() == FILES["sub/b.bin"]
    assert assets.verify("toy", progress=False)["corrupt"] == []


def test_fetch_refuses_bytes_that_do_not_match(toy):
    checksums = toy / "data" / "checksums" / "toy.sha256"
    checksums.write_text(checksums.read_text().replace(hashlib.sha256(b"alpha\n").hexdigest(), "0" * 64))
    assets.manifest.cache_clear()
    with pytest.raises(assets.AssetCorruptError, match="nothing was installed"):
        assets.fetch("toy")
    assert not (toy / "home" / "toy").exists()


def test_file_outside_the_asset_is_refused(toy):
    _write_folder(toy / "mirror" / "toys" / "toy")
    with pytest.raises(assets.AssetNotFoundError, match="not a file of asset"):
        assets.file("toy", "../toy.tar.gz")


def test_real_small_assets_verify(asset_dir):
    asset_dir("squeezenet")
    report = assets.verify("squeezenet", progress=False)
    assert report["corrupt"] == [] and report["missing"] == [] and len(report["ok"]) == 1
