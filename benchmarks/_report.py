"""What every benchmark writes around its figures: when, on which machine, under what load.

These machines are shared, so each result file records the 1-minute load average at the end of
the run next to the CPU count and the library versions the figures were measured with.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path


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
