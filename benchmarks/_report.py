"""What every benchmark writes around its figures: when, on which machine, under what load.

These machines are shared, so each result file records the 1-minute load average at the end of
the run next to the CPU count and the library versions the figures were measured with.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def alternate(sides: dict[str, Callable[[], T]], rounds: int, warm_up: bool = True) -> dict[str, list[T]]:
    """Call every side once per round, in turn, for ``rounds`` rounds; each side's results in order.

    Alternating (rather than all rounds of one side, then the other) makes a change in the load of
    a shared machine hit every side alike; report the median of each list. With ``warm_up`` each
    side is called once first, unrecorded (graph tracing, caches).
    """
    if warm_up:
        for side in sides.values():
            side()
    results: dict[str, list[T]] = {name: [] for name in sides}
    for i in range(rounds):
        for name, side in sides.items():
            results[name].append(side())
        print(f"round {i + 1}/{rounds} done", flush=True)
    return results


def machine(**versions: str) -> dict:
    """CPU count and name, Python and TensorFlow versions (plus ``versions``), current load."""
    import tensorflow as tf

    return {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(), "tensorflow": tf.__version__, **versions,
            "load_average_1min_at_end": os.getloadavg()[0]}


def write(path: Path, result: dict, **versions: str) -> None:
    """Write ``result`` to ``path`` as JSON, after the date (UTC) and :func:`machine`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stamped = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(**versions), **result}
    path.write_text(json.dumps(stamped, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")
