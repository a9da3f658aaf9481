"""1:K identification at scale: query latency and recall@1 of facelib's index against exact search.

For K = 10^3 ... 10^6 stored identities (one 128-d vector each) this measures, side by side in one
run:

* exact search (:class:`facelib.recognition.ann.NearestIndex` with no switch: NumPy over all K vectors), and
* the index ``FaceDatabase`` uses (exact below ``ann.EXACT_BELOW`` vectors, FAISS IVF above),

their build time, the memory the build adds (resident set size, which also counts FAISS's C++
allocations that tracemalloc cannot see), the latency of one query at a time (median and 95th
percentile), and recall@1: how often the index returns the same nearest vector as exact search.

Three parts (``--parts``), written into one results file:

* ``synthetic``: random 128-d unit vectors; queries are noisy copies of enrolled vectors
  (Gaussian noise of norm about ``--noise``; never the stored vectors themselves).
* ``lfw``: real encodings (facelib's dlib ResNet) of the first image of every LFW person, padded
  to K with distractors drawn from a Gaussian fitted to those encodings (their mean and
  covariance); queries are the encodings of *other* images of enrolled people. Chips are
  aligned from landmarks found in the centre box of LFW's deep-funneled images (the detector is
  skipped: this benchmark is about search, not detection). The encodings are cached in
  ``FACELIB_HOME/encodings/``.
* ``database``: the whole ``FaceDatabase.identify`` (validation, index, names) at the largest
  size, synthetic, one person per vector enrolled one by one: enrollment time, the first query
  (which builds the index), then single-query latency and recall@1 against exact search. Then
  the database is saved with its index and loaded again in a fresh process, as a learner's next
  session would: load time and load plus the first query with the saved index
  (``load_plus_first_query_s``), next to load plus the first query that rebuilds the index
  (``rebuild_load_plus_first_query_s``, the index file deleted), in the same run.

Usage: ``python benchmarks/identify_scale.py [--sizes 1000 10000 100000 1000000] [--parts ...]``
Writes ``benchmarks/results/identify_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _report
import numpy as np

from facelib import assets
from facelib.recognition import ann, database
from facelib.recognition.database import FaceDatabase

RESULTS = Path(__file__).resolve().parent / "results" / "identify_scale.json"
DIM = 128


def rss_mb() -> float:
    """Current resident set size of this process in MiB (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def lfw_encodings() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encodings of LFW: gallery (one per person), queries (second image of people with >= 2) and owners."""
    from facelib import faces
    from facelib.images import load_image

    root = assets.locate("lfw") / "lfw_funneled"
    weights = faces.converted_weights_path(assets.checksum("dlib_models", faces.RESNET_FILE))
    cache = assets.home() / "encodings" / f"lfw_centrebox_{weights.name.split('.')[0]}.npz"
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as f:
            return f["gallery"], f["queries"], f["owners"]
    people = sorted(p.name for p in root.iterdir() if p.is_dir())
    jobs = [(i, root / name / f"{name}_0001.jpg") for i, name in enumerate(people)]
    jobs += [(i, root / name / f"{name}_0002.jpg") for i, name in enumerate(people)
             if (root / name / f"{name}_0002.jpg").is_file()]
    from tqdm import tqdm

    chips = []
    for _, path in tqdm(jobs, desc="LFW chips"):
        image = load_image(path)
        box = faces.center_box(image.shape)[None]
        chips.append(faces.face_chips(image, faces.face_landmarks(image, box)[0]))
    encodings = np.concatenate([faces.encode_chips(np.stack(chips[s : s + 256]))
                                for s in tqdm(range(0, len(chips), 256), desc="LFW encodings")])
    owners = np.array([i for i, _ in jobs[len(people):]])
    gallery, queries = encodings[: len(people)], encodings[len(people):]
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, gallery=gallery, queries=queries, owners=owners)
    return gallery, queries, owners


def latency(index: ann.NearestIndex, queries: np.ndarray) -> dict:
    """Seconds for one query at a time (after one warm-up query)."""
    index.search(queries[:1])
    times = []
    for q in queries:
        start = time.perf_counter()
        index.search(q)
        times.append(time.perf_counter() - start)
    times = np.array(times) * 1e3
    return {"median_ms": round(float(np.median(times)), 3), "p95_ms": round(float(np.percentile(times, 95)), 3),
            "mean_ms": round(float(times.mean()), 3)}


def fit(index: ann.NearestIndex, gallery: np.ndarray) -> dict:
    before = rss_mb()
    start = time.perf_counter()
    index.fit(gallery)
    return {"build_s": round(time.perf_counter() - start, 3), "rss_added_mb": round(rss_mb() - before, 1)}


def measure(gallery: np.ndarray, queries: np.ndarray, timed: int) -> dict:
    """Exact search and facelib's index on one gallery; recall@1 of the index against exact."""
    row = {"K": len(gallery), "queries": len(queries)}
    exact = ann.NearestIndex(exact_below=len(gallery) + 1)
    row["exact"] = fit(exact, gallery) | latency(exact, queries[: min(timed, 50)])
    _, exact_ids = exact.search(queries)
    del exact
    index = ann.NearestIndex()
    row["facelib"] = fit(index, gallery) | latency(index, queries[:timed])
    _, ids = index.search(queries)
    row["facelib"]["kind"] = "exact" if index.exact else "faiss-ivf"
    row["facelib"]["recall_at_1"] = round(float(np.mean(ids[:, 0] == exact_ids[:, 0])), 4)
    row["speedup"] = round(row["exact"]["median_ms"] / row["facelib"]["median_ms"], 1)
    return row | {"_exact_ids": exact_ids[:, 0]}


def measure_database(k: int, n_queries: int, timed: int, noise_norm: float, rng: np.random.Generator) -> dict:
    """FaceDatabase end to end: enroll k people, identify noisy copies one at a time."""
    gallery = unit(rng, k)
    rows = rng.choice(k, size=min(n_queries, k), replace=False)
    queries = gallery[rows] + rng.standard_normal((len(rows), DIM)).astype(np.float32) * (noise_norm / np.sqrt(DIM))
    db, before = FaceDatabase(), rss_mb()
    start = time.perf_counter()
    for i, vector in enumerate(gallery):
        db.enroll(f"id{i}", vector)
    row = {"K": k, "queries": len(rows), "enroll_s": round(time.perf_counter() - start, 3)}
    start = time.perf_counter()
    db.identify(queries[0])
    row["first_query_s"] = round(time.perf_counter() - start, 3)  # builds the index
    row["rss_added_mb"] = round(rss_mb() - before, 1)
    times = []
    for q in queries[:timed]:
        start = time.perf_counter()
        db.identify(q)
        times.append(time.perf_counter() - start)
    times = np.array(times) * 1e3
    row |= {"median_ms": round(float(np.median(times)), 3), "p95_ms": round(float(np.percentile(times, 95)), 3),
            "mean_ms": round(float(times.mean()), 3)}
    names = [m.name for m in db.identify(queries, threshold=2.0)]
    _, exact_ids = ann.NearestIndex(exact_below=k + 1).fit(gallery).search(queries)
    row["recall_at_1"] = round(float(np.mean([n == f"id{i}" for n, i in zip(names, exact_ids[:, 0], strict=True)])), 4)
    row |= saved_index(db, queries, names)
    return row


_NEXT_SESSION = """
import json, sys, time
import numpy as np
from facelib.recognition.database import FaceDatabase
query = np.load(sys.argv[2])
start = time.perf_counter()
db = FaceDatabase.load(sys.argv[1])
loaded = time.perf_counter() - start
from_file = db._index is not None  # the saved index was read (else it is built by the first query)
match = db.identify(query, threshold=2.0)[0]
print(json.dumps([loaded, time.perf_counter() - start, match.name, from_file]))
"""


def next_session(path: Path, query: Path) -> tuple[float, float, str, bool]:
    """In a fresh process, as a learner's next session: seconds to load, to load and answer one query."""
    run = subprocess.run([sys.executable, "-c", _NEXT_SESSION, str(path), str(query)], capture_output=True,
                         text=True, check=True)
    return tuple(json.loads(run.stdout.strip().splitlines()[-1]))


def saved_index(db: FaceDatabase, queries: np.ndarray, names: list) -> dict:
    """Save ``db`` with its index; then, in fresh processes, load it and answer one query with the saved
    index and after deleting it (the index rebuilt on the first query, as after another writer's change)."""
    with tempfile.TemporaryDirectory(dir=assets.home()) as folder:
        path, query = Path(folder) / "people.npz", Path(folder) / "query.npy"
        np.save(query, queries[:1])
        start = time.perf_counter()
        db.save(path)
        row = {"save_s": round(time.perf_counter() - start, 3),
               "index_file_mb": round(database.index_path(path).stat().st_size / 2**20, 1)}
        load_s, total_s, name, used_saved = next_session(path, query)
        row |= {"load_s": round(load_s, 3), "load_plus_first_query_s": round(total_s, 3)}
        assert name == names[0] and used_saved  # the saved index answered, and answered right
        database.index_path(path).unlink()
        _, total_s, name, used_saved = next_session(path, query)
        assert name == names[0] and not used_saved
        row["rebuild_load_plus_first_query_s"] = round(total_s, 3)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10**3, 10**4, 10**5, 10**6])
    parser.add_argument("--queries", type=int, default=500, help="queries for recall@1")
    parser.add_argument("--timed", type=int, default=200, help="queries timed one at a time")
    parser.add_argument("--noise", type=float, default=0.5, help="norm of the noise on synthetic queries")
    parser.add_argument("--parts", nargs="+", choices=("synthetic", "lfw", "database"),
                        default=["synthetic", "lfw", "database"], help="what to measure (others kept from the file)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results |= {"exact_below": ann.EXACT_BELOW, "noise": args.noise}
    results |= {part: [] for part in args.parts}

    for k in args.sizes if "synthetic" in args.parts else []:
        gallery = unit(rng, k)
        rows = rng.choice(k, size=min(args.queries, k), replace=False)
        noise = rng.standard_normal((len(rows), DIM)).astype(np.float32) * (args.noise / np.sqrt(DIM))
        row = measure(gallery, gallery[rows] + noise, args.timed)
        row["exact_finds_source"] = round(float(np.mean(row.pop("_exact_ids") == rows)), 4)
        results["synthetic"].append(row)
        print("synthetic", json.dumps(row), flush=True)
        del gallery

    if "lfw" in args.parts:
        real, queries, owners = lfw_encodings()
        pick = rng.choice(len(queries), size=min(args.queries, len(queries)), replace=False)
        queries, owners = queries[pick], owners[pick]
        mean, cov = real.mean(0), np.cov(real, rowvar=False)
        for k in [len(real)] + [k for k in args.sizes if k > len(real)]:
            fake = rng.multivariate_normal(mean, cov, size=k - len(real)).astype(np.float32)
            row = measure(np.concatenate([real, fake]), queries, args.timed)
            row["exact_rank1_identification"] = round(float(np.mean(row.pop("_exact_ids") == owners)), 4)
            row["real_identities"] = len(real)
            results["lfw"].append(row)
            print("lfw", json.dumps(row), flush=True)

    if "database" in args.parts:
        row = measure_database(max(args.sizes), args.queries, args.timed, args.noise, rng)
        results["database"].append(row)
        print("database", json.dumps(row), flush=True)

    _report.write(RESULTS, {key: value for key, value in results.items() if key not in ("date", "machine")})


if __name__ == "__main__":
    main()
