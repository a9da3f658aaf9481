"""Every asset's public download path, against a local HTTP server laid out like the public sites.

The server listens on 127.0.0.1 only and serves, at ``/<host>/<path>``, the file each registered
URL documents, built from the real asset (the mirror, or the installed package that ships it):
plain files as they are, ``.bz2`` files compressed, archives packed under the member prefix the
manifest names. The test-only setting ``FACELIB_DOWNLOAD_ORIGIN`` sends the downloads there; the
manifest keeps the real URLs. The LFW archive holds all 13,233 photos: the checksum list names
every one, so a smaller archive would be refused (as it should be), and it is built once per run.
"""

from __future__ import annotations

import bz2
import functools
import http.server
import os
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import require_asset

from facelib import assets

pytestmark = pytest.mark.system  # make test-system (see pyproject.toml's markers)


def _served_path(url: str) -> str:
    parts = urlsplit(url)
    return f"/{parts.netloc}{parts.path}"


def publish(name: str, root: Path) -> None:
    """Lay out, under ``root``, what each public URL of asset ``name`` serves, from the real asset's files."""
    asset = assets.get(name)
    source = require_asset(name)
    for entry in asset.downloads:
        dest = root / _served_path(entry["url"]).lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if "archive" in entry:
            members = sorted(f for f in asset.checksums if f.startswith(entry["path"]))
            arcnames = [entry["archive"] + f[len(entry["path"]):] for f in members]
            if dest.suffix == ".zip":
                with zipfile.ZipFile(dest, "w") as archive:
                    for member, arcname in zip(members, arcnames, strict=True):
                        archive.write(source / member, arcname)
            else:
                with tarfile.open(dest, "w:gz", compresslevel=1) as archive:
                    for member, arcname in zip(members, arcnames, strict=True):
                        archive.add(source / member, arcname)
        elif entry.get("compression") == "bz2":
            dest.write_bytes(bz2.compress((source / entry["path"]).read_bytes(), 1))
        else:
            dest.symlink_to(source / entry["path"])


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the site's folder, records each request, and cuts the files listed in ``server.cut`` in half."""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requested.append(self.path)
        if self.path not in self.server.cut:
            return super().do_GET()
        data = (Path(self.directory) / self.path.lstrip("/")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])  # then the connection closes: an interrupted download
        self.close_connection = True


@pytest.fixture
def serve():
    """``serve(root)`` -> a running server for the folder ``root`` (127.0.0.1, a free port), stopped afterwards."""
    servers = []

    def start(root: Path) -> http.server.ThreadingHTTPServer:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
        server.requested, server.cut = [], set()
        server.origin = f"http://127.0.0.1:{server.server_port}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def offline_home(tmp_path, monkeypatch):
    """``use(server)`` points facelib at an empty cache and no mirror, and sends its downloads to ``server``."""
    home = tmp_path / "home"

    def use(server) -> Path:
        monkeypatch.setenv("FACELIB_HOME", str(home))
        monkeypatch.setenv("FACELIB_MIRROR", "")
        monkeypatch.setenv("FACELIB_DOWNLOAD_ORIGIN", server.origin)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assets.forget()
        return home

    yield use
    assets.forget()


def test_fetch_all_downloads_every_asset_through_its_public_url(tmp_path, serve, offline_home):
    site = tmp_path / "site"
    for name in assets.manifest():
        publish(name, site)
    server = serve(site)
    home = offline_home(server)
    env = {**os.environ, "CI": "true"}  # fetch --all fails on anything missing
    run = subprocess.run([sys.executable, "-m", "facelib.assets", "fetch", "--all"], env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    # Assets that an installed package ships are found there without a download: fetch those explicitly.
    shipped = [name for name, asset in assets.manifest().items() if asset.package is not None]
    for name in shipped:
        assert assets.fetch(name) == home / name
    assert sorted(server.requested) == sorted(
        _served_path(entry["url"]) for asset in assets.manifest().values() for entry in asset.downloads)
    for name, asset in assets.manifest().items():
        assert assets.locate(name) == home / name, name
        assert assets.verify(name, progress=False) == {"ok": list(asset.checksums), "corrupt": [], "missing": []}
    assert sorted(p.name for p in home.iterdir()) == sorted(assets.manifest())  # no staging folder left


def test_a_tampered_byte_is_refused_naming_the_asset(tmp_path, serve, offline_home, capsys):
    site = tmp_path / "site"
    publish("group_photos", site)
    url = assets.get("group_photos").downloads[1]["url"]
    served = site / _served_path(url).lstrip("/")
    data = bytearray(served.read_bytes())
    data[len(data) // 2] ^= 0x01
    served.unlink()  # a symlink to the mirror: replace it, never write through it
    served.write_bytes(bytes(data))
    home = offline_home(serve(site))
    with pytest.raises(assets.AssetCorruptError, match=r"'group_photos'.*sample3\.jpg.*nothing was installed"):
        assets.fetch("group_photos")
    assert assets.main(["fetch", "group_photos"]) == 1
    assert "group_photos" in capsys.readouterr().err
    assert list(home.iterdir()) == []


def test_a_truncated_archive_is_refused_naming_the_asset(tmp_path, serve, offline_home):
    site = tmp_path / "site"
    publish("att_faces", site)
    archive = site / _served_path(assets.get("att_faces").downloads[0]["url"]).lstrip("/")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size * 3 // 4])
    home = offline_home(serve(site))
    with pytest.raises(assets.AssetCorruptError, match="'att_faces'.*damaged or cut short.*nothing was installed"):
        assets.fetch("att_faces")
    assert list(home.iterdir()) == []


def test_an_interrupted_download_leaves_nothing_half_written(tmp_path, serve, offline_home):
    site = tmp_path / "site"
    publish("att_faces", site)
    server = serve(site)
    home = offline_home(server)
    server.cut.add(_served_path(assets.get("att_faces").downloads[0]["url"]))
    with pytest.raises(assets.AssetDownloadError, match="'att_faces'.*nothing was installed"):
        assets.fetch("att_faces")
    assert list(home.iterdir()) == []
    with pytest.raises(assets.AssetNotFoundError, match="download failed"):  # the library's offline message
        assets.locate("att_faces", download=True)
    # An intact copy in the cache survives a later download that is interrupted.
    server.cut.clear()
    assert assets.fetch("att_faces") == home / "att_faces"
    server.cut.add(_served_path(assets.get("att_faces").downloads[0]["url"]))
    with pytest.raises(assets.AssetDownloadError):
        assets.fetch("att_faces")
    assert [p.name for p in home.iterdir()] == ["att_faces"]
    assert assets.verify("att_faces", progress=False)["ok"] == list(assets.get("att_faces").checksums)
