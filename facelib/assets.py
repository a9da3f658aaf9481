"""External files the course needs: where they come from and proof that they are intact.

Every asset is a folder of files listed, with their SHA-256, in
``facelib/data/checksums/<name>.sha256`` (``sha256sum`` format) and described in
``facelib/data/assets.json``. An asset is looked for, in order:

1. ``$FACELIB_MIRROR/<mirror>`` (a local copy, e.g. a classroom share),
2. ``$FACELIB_HOME/<name>`` (the cache, default ``~/.cache/facelib``),
3. an installed Python package that ships the files,
4. its public URLs, downloaded into the cache with a progress bar.

A folder is accepted when every listed file is there with the right total size (a
cheap check, done on every load); :func:`file` hashes each file before handing it out,
and :func:`verify` hashes them all. A corrupt file is never returned.

Command line: ``python -m facelib.assets list | fetch NAME | verify [NAME ...]``.
"""

from __future__ import annotations

import argparse
import bz2
import http.client
import importlib.resources
import importlib.util
import json
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from facelib.errors import FacelibError
from facelib.storage import atomic_write, sha256

DATA_DIR = importlib.resources.files("facelib") / "data"  # package data: found in any installation
_CHUNK = 1 << 20


class AssetError(FacelibError, RuntimeError):
    """Base class for asset problems."""


class AssetNotFoundError(AssetError, FileNotFoundError):
    """No intact copy of an asset could be found or downloaded."""


class AssetCorruptError(AssetError):
    """A file does not match its recorded SHA-256, or a downloaded archive is damaged."""


class AssetDownloadError(AssetError, ConnectionError):
    """A download stopped before the whole file arrived (an OSError, as network errors are)."""


@dataclass(frozen=True)
class Asset:
    """One entry of the manifest: a folder of checksummed files and where to find it."""

    name: str
    description: str
    licence: str
    mirror: str
    checksums: dict[str, str] = field(repr=False)
    total_bytes: int = 0
    package: tuple[str, str] | None = None
    downloads: tuple[dict, ...] = ()
    note: str = ""


def home() -> Path:
    """The cache folder: ``$FACELIB_HOME`` or ``~/.cache/facelib`` (an empty ``FACELIB_HOME`` counts as unset)."""
    return Path(os.environ.get("FACELIB_HOME") or Path.home() / ".cache" / "facelib").expanduser()


_unwritable: set[Path] = set()


def write_cache(path: Path, write: Callable[[BinaryIO], None]) -> bool:
    """Write a cache file under :func:`home` atomically with ``write(handle)``; False if it cannot be written.

    Every cache behaves the same way on a read-only or unwritable cache folder: the work goes on
    without caching, and one line on stderr says so, once per folder.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as handle:
            write(handle)
    except OSError as error:
        if path.parent not in _unwritable:
            _unwritable.add(path.parent)
            note(f"cannot write the cache folder {path.parent} ({error.strerror or error}); "
                 "working without caching (set FACELIB_HOME to a writable folder)")
        return False
    return True


def note(message: str) -> None:
    """One line on stderr about the caches (a damaged file rebuilt, ...)."""
    print(f"facelib: {message}", file=sys.stderr)


def mirror() -> Path | None:
    """The local mirror folder named by ``$FACELIB_MIRROR``, if set."""
    value = os.environ.get("FACELIB_MIRROR")
    return Path(value).expanduser() if value else None


def _read_checksums(path: Path) -> dict[str, str]:
    sums = {}
    for line in path.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.lstrip("*")] = digest
    return sums


@cache
def manifest() -> dict[str, Asset]:
    """All registered assets, by name."""
    entries = json.loads((DATA_DIR / "assets.json").read_text())
    return {
        name: Asset(
            name=name,
            description=e["description"],
            licence=e["licence"],
            mirror=e["mirror"],
            checksums=_read_checksums(DATA_DIR / "checksums" / f"{name}.sha256"),
            total_bytes=e["bytes"],
            package=tuple(e["package"]) if "package" in e else None,
            downloads=tuple(e.get("downloads", ())),
            note=e.get("note", ""),
        )
        for name, e in entries.items()
    }


def get(name: str) -> Asset:
    """The manifest entry called ``name``; :class:`AssetNotFoundError` listing the known names otherwise."""
    assets = manifest()
    if name not in assets:
        raise AssetNotFoundError(
            f"Unknown asset {name!r}. Registered assets: {', '.join(sorted(assets))}. "
            "Run `python -m facelib.assets list` to see them."
        )
    return assets[name]


def _candidates(asset: Asset) -> list[tuple[str, Path]]:
    places = []
    if (root := mirror()) is not None:
        places.append(("mirror ($FACELIB_MIRROR)", root / asset.mirror))
    places.append(("cache ($FACELIB_HOME)", home() / asset.name))
    if asset.package is not None:
        module, sub = asset.package
        spec = importlib.util.find_spec(module)  # find, never import (it may be broken)
        if spec is not None and spec.submodule_search_locations:
            places.append((f"package {module}", Path(next(iter(spec.submodule_search_locations))) / sub))
    return places


def _cheap_problem(asset: Asset, folder: Path) -> str | None:
    """Why ``folder`` is not a complete copy (missing files, wrong sizes), or None."""
    if not folder.is_dir():
        return "not there"
    missing = [f for f in asset.checksums if not (folder / f).is_file()]
    if missing:
        return f"{len(missing)} of {len(asset.checksums)} files missing (e.g. {missing[0]})"
    total = sum((folder / f).stat().st_size for f in asset.checksums)
    if total != asset.total_bytes:
        return f"{total} bytes in all, expected {asset.total_bytes}: corrupt or incomplete"
    return None


def _how_to_supply(asset: Asset, looked: list[str]) -> str:
    where = "\n".join(f"  - {line}" for line in looked)
    first = next(iter(asset.checksums))
    return (
        f"Asset {asset.name!r} ({asset.description}) is not available.\n"
        f"Looked for {first!r} and {len(asset.checksums) - 1} more files in:\n{where}\n"
        "To supply it, do one of:\n"
        f"  - set FACELIB_MIRROR to a folder that holds {asset.mirror}/ (e.g. ../shared/mirror);\n"
        f"  - copy the files into {home() / asset.name}/;\n"
        f"  - run `python -m facelib.assets fetch {asset.name}` on a machine with internet access."
    )


_located: dict[tuple, Path] = {}


def forget() -> None:
    """Forget where assets were found (after adding, removing or editing their files)."""
    _located.clear()
    _verified.cache_clear()


def locate(name: str, download: bool = False) -> Path:
    """Folder holding a complete copy of asset ``name``.

    The first call per process checks the candidate folders (every file present, total size
    right: ~0.2 s for LFW's 13k files); later calls with the same candidates reuse the answer.
    Each file is still hashed by :func:`file` before use; :func:`forget` clears the memory.

    Parameters
    ----------
    name : str
        A registered asset (see :func:`manifest`).
    download : bool
        Fetch the public URLs into the cache when no local copy exists.

    Raises
    ------
    AssetNotFoundError
        Naming every place looked in and how to supply the files.
    """
    asset = get(name)
    candidates = _candidates(asset)
    key = (name, *(folder for _, folder in candidates))
    if key in _located:
        return _located[key]
    looked = []
    for label, folder in candidates:
        problem = _cheap_problem(asset, folder)
        if problem is None:
            _located[key] = folder
            return folder
        looked.append(f"{label}: {folder} ({problem})")
    if download and asset.downloads:
        try:
            return fetch(name)
        except OSError as error:
            looked.append(f"public URLs: download failed ({error})")
    elif asset.downloads:
        looked.append("public URLs: not tried (offline use; pass download=True or use `fetch`)")
    raise AssetNotFoundError(_how_to_supply(asset, looked))


def available(name: str) -> bool:
    """Whether a complete local copy of ``name`` exists (nothing is downloaded)."""
    try:
        locate(name)
    except AssetNotFoundError:
        return False
    return True


@cache
def _verified(path: Path, mtime_ns: int, size: int, expected: str) -> bool:
    return sha256(path) == expected


def checksum(name: str, relpath: str) -> str:
    """The SHA-256 the manifest records for one file of an asset (caches key on it instead of re-hashing)."""
    asset = get(name)
    if relpath not in asset.checksums:
        raise AssetNotFoundError(f"{relpath!r} is not a file of asset {name!r}.")
    return asset.checksums[relpath]


def file(name: str, relpath: str, download: bool = False) -> Path:
    """Path of one file of an asset, after checking its SHA-256.

    Raises
    ------
    AssetNotFoundError
        If ``name`` or ``relpath`` is not in the manifest, or no copy of the asset is found.
    AssetCorruptError
        If the file's bytes differ from the manifest; the file is not returned.
    """
    relpath = str(relpath)
    expected = checksum(name, relpath)
    path = locate(name, download=download) / relpath
    stat = path.stat()
    if not _verified(path, stat.st_mtime_ns, stat.st_size, expected):
        raise AssetCorruptError(
            f"{path} does not match its SHA-256 in facelib/data/checksums/{name}.sha256: the copy is "
            f"corrupt. Replace it (delete it and run `python -m facelib.assets fetch {name}`, "
            "or restore it from the mirror) and try again."
        )
    return path


def verify(name: str, progress: bool = True) -> dict[str, list[str]]:
    """Hash every file of an asset; returns the lists ``ok``, ``corrupt`` and ``missing``."""
    asset = get(name)
    folder = locate(name)
    report: dict[str, list[str]] = {"ok": [], "corrupt": [], "missing": []}
    for relpath, expected in tqdm(asset.checksums.items(), desc=name, unit="file",
                                  disable=not progress or len(asset.checksums) < 50, leave=False):
        path = folder / relpath
        if not path.is_file():
            report["missing"].append(relpath)
        else:
            report["ok" if sha256(path) == expected else "corrupt"].append(relpath)
    return report


def _source(url: str) -> str:
    """Where ``url`` is downloaded from: the URL itself, or ``<origin>/<host>/<path>`` when the
    test-only setting ``$FACELIB_DOWNLOAD_ORIGIN`` names an origin (a local server laid out like the
    public sites, used by the download tests; the manifest keeps the real URLs)."""
    origin = os.environ.get("FACELIB_DOWNLOAD_ORIGIN")
    if not origin:
        return url
    parts = urllib.parse.urlsplit(url)
    return f"{origin.rstrip('/')}/{parts.netloc}{parts.path}"


def _download(url: str, target: Path) -> None:
    with urllib.request.urlopen(_source(url), timeout=60) as response, open(target, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        received = 0
        with tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1]) as bar:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if total is not None and received != total:  # read(n) returns b"" when the connection closes early
        raise AssetDownloadError(f"the connection closed after {received} of {total} bytes")


def _install(raw: Path, entry: dict, staging: Path) -> None:
    """Put one downloaded file where its manifest entry says: unpacked, decompressed or as it is."""
    target = staging / entry["path"]
    if "archive" in entry:
        _unpack(raw, entry["archive"], target)
        raw.unlink()
    elif entry.get("compression") == "bz2":
        with bz2.open(raw) as src, open(target, "wb") as out:
            shutil.copyfileobj(src, out)
        raw.unlink()
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        raw.replace(target)


def _unpack(archive: Path, prefix: str, dest: Path) -> None:
    """Extract the members under ``prefix`` of a tar or zip archive into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            _write_members(((m.filename, zf.open(m)) for m in zf.infolist() if not m.is_dir()), prefix, dest)
    else:
        with tarfile.open(archive) as tf:  # one pass: each member is read before the next is looked at
            _write_members(((m.name, tf.extractfile(m)) for m in tf if m.isfile()), prefix, dest)


def _write_members(members, prefix: str, dest: Path) -> None:
    root = dest.resolve()
    for member, handle in members:
        if not member.startswith(prefix):
            continue
        target = (dest / member[len(prefix):]).resolve()
        if root not in target.parents:  # refuse '../' tricks
            raise AssetError(f"Archive member {member!r} would be written outside {dest}.")
        target.parent.mkdir(parents=True, exist_ok=True)
        with handle, open(target, "wb") as out:
            shutil.copyfileobj(handle, out)


def fetch(name: str) -> Path:
    """Download asset ``name`` from its public URLs into the cache and verify every file."""
    asset = get(name)
    if not asset.downloads:
        raise AssetNotFoundError(_how_to_supply(asset, ["no public URL is registered"]))
    final = home() / asset.name
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{asset.name}-", dir=final.parent))
    try:
        for entry in asset.downloads:
            raw = staging / ".download"
            try:
                _download(entry["url"], raw)
            except (OSError, http.client.HTTPException) as error:
                raise AssetDownloadError(
                    f"Downloading asset {name!r} from {entry['url']} failed ({error!r}); nothing was "
                    f"installed. Check the connection and run `python -m facelib.assets fetch {name}` again."
                ) from error
            try:
                _install(raw, entry, staging)
            except (OSError, EOFError, zlib.error, tarfile.TarError, zipfile.BadZipFile) as error:
                raise AssetCorruptError(
                    f"The file downloaded for asset {name!r} from {entry['url']} is damaged or cut short "
                    f"({error!r}); nothing was installed."
                ) from error
        bad = [f for f, digest in asset.checksums.items()
               if not (staging / f).is_file() or sha256(staging / f) != digest]
        if bad:
            raise AssetCorruptError(
                f"Downloaded {name!r} but {len(bad)} files are missing or do not match their "
                f"SHA-256 (e.g. {bad[0]}); nothing was installed."
            )
        if final.exists():
            shutil.rmtree(final)
        staging.replace(final)
    finally:  # also on Ctrl-C: nothing partial stays behind
        shutil.rmtree(staging, ignore_errors=True)
    for stale in final.parent.glob(f".{asset.name}-*"):  # partial downloads of fetches that were killed
        shutil.rmtree(stale, ignore_errors=True)
    return final


def main(argv: list[str] | None = None, prog: str = "python -m facelib.assets") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="registered assets and where each was found")
    fetch_p = sub.add_parser("fetch", help="make assets available, downloading what no local copy has")
    fetch_p.add_argument("names", nargs="*")
    fetch_p.add_argument("--all", action="store_true", help="every registered asset")
    verify_p = sub.add_parser("verify", help="hash every file of the assets (all by default)")
    verify_p.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    if unknown := [name for name in getattr(args, "names", []) if name not in manifest()]:
        parser.error(f"unknown asset {', '.join(map(repr, unknown))}; registered: {', '.join(manifest())}")

    if args.command == "list":
        for asset in manifest().values():
            try:
                where = str(locate(asset.name))
            except AssetNotFoundError:
                where = "MISSING"
            print(f"{asset.name:14s} {len(asset.checksums):6d} files  {where}\n"
                  f"{'':14s} {asset.description}; licence: {asset.licence}")
        return 0
    if args.command == "fetch":
        names = list(manifest()) if args.all else args.names
        if not names:
            parser.error("name the assets to fetch, or pass --all")
        missing = []
        for name in names:
            try:
                print(f"{name:14s} {locate(name, download=True)}")
            except AssetError as error:
                print(f"{name:14s} MISSING\n{error}", file=sys.stderr)
                missing.append(name)
            except KeyboardInterrupt:
                print(f"{name:14s} interrupted; its partial download was removed", file=sys.stderr)
                return 130
        # Off-line learners can still run the lessons that need nothing missing; CI must not.
        return 1 if missing and (not args.all or os.environ.get("CI") == "true") else 0
    status = 0
    for name in args.names or list(manifest()):
        try:
            report = verify(name)
        except AssetError as error:
            print(f"{name:14s} MISSING  {str(error).splitlines()[0]}")
            status = 1
            continue
        state = "OK" if not report["corrupt"] and not report["missing"] else "CORRUPT"
        status |= state != "OK"
        print(f"{name:14s} {state:8s} {len(report['ok'])} ok, {len(report['corrupt'])} corrupt, "
              f"{len(report['missing'])} missing")
        for relpath in report["corrupt"][:10]:
            print(f"{'':14s} corrupt: {relpath}")
    return status


if __name__ == "__main__":
    sys.exit(main())
