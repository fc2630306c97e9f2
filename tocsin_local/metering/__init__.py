"""Counting AWS API calls in every process of the local cloud, for benchmarks.

Put ``tocsin_local/metering/site`` on ``PYTHONPATH`` and set ``TOCSIN_AWS_CALL_LOG`` to a
directory: every Python process started with that environment imports the ``sitecustomize``
there, which registers a botocore ``before-call`` hook on each session and keeps a per-process
count of (service, operation) in ``<dir>/<pid>.json`` (rewritten twice a second, so a process
that is killed loses at most that much). Nothing of this is imported by deployed code.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from pathlib import Path
from typing import Any

SITE_DIR = Path(__file__).resolve().parent / "site"
ENV_VAR = "TOCSIN_AWS_CALL_LOG"

_counts: Counter[str] = Counter()
_lock = threading.Lock()


def _count(model: Any = None, **_: Any) -> None:
    if model is None:
        return
    key = f"{model.service_model.service_name}:{model.name}"
    with _lock:
        _counts[key] += 1


def _flush(path: Path) -> None:
    with _lock:
        snapshot = dict(_counts)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(snapshot))
    tmp.replace(path)


def install(directory: str) -> None:
    import botocore.session

    original_init = botocore.session.Session.__init__

    def init(self: botocore.session.Session, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.register("before-call", _count)

    botocore.session.Session.__init__ = init  # type: ignore[method-assign]
    path = Path(directory) / f"{os.getpid()}.json"

    def flush_forever() -> None:
        while True:
            threading.Event().wait(0.5)
            if _counts:
                _flush(path)

    threading.Thread(target=flush_forever, daemon=True, name="aws-call-meter").start()


def read_totals(directory: Path) -> Counter[str]:
    totals: Counter[str] = Counter()
    for path in directory.glob("*.json"):
        try:
            totals.update(json.loads(path.read_text()))
        except (ValueError, FileNotFoundError):
            continue
    return totals


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in 0..1); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]
