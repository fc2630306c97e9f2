"""Metering AWS use in every process of the local cloud, for benchmarks.

Put ``tocsin_local/metering/site`` on ``PYTHONPATH`` and set ``TOCSIN_AWS_CALL_LOG`` to a
directory: every Python process started with that environment imports the ``sitecustomize``
there, which

- counts each AWS request as ``service:Operation`` (a botocore ``before-call`` hook on every
  session); an SQS receive that returned nothing counts as ``sqs:ReceiveMessage (empty)``;
- asks DynamoDB for the capacity each request consumed (``ReturnConsumedCapacity``, table and
  indexes) and adds it up as read and write units;
- times every invocation of a Chalice handler (the API's and each event handler's), per
  function, as Lambda would bill its duration;

and keeps them per process in ``<dir>/<pid>.json`` with the process's role (the function it
runs, ``api_handler`` for the API, ``runner`` for the queue poller), rewritten twice a second,
so a process that is killed loses at most that much. Nothing of this is imported by deployed
code.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SITE_DIR = Path(__file__).resolve().parent / "site"
ENV_VAR = "TOCSIN_AWS_CALL_LOG"
READ_OPERATIONS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})
WRITE_OPERATIONS = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)

_counts: Counter[str] = Counter()
_capacity: dict[str, float] = {}
_invocations: Counter[str] = Counter()
_seconds: dict[str, float] = {}
_lock = threading.Lock()


@dataclass
class Meter:
    """What one process (or a sum of them) used."""

    role: str = "all"
    calls: Counter[str] = field(default_factory=Counter)
    # DynamoDB capacity units by operation (read units for reads, write units for writes).
    capacity: dict[str, float] = field(default_factory=dict)
    invocations: Counter[str] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def read_units(self) -> float:
        return sum(units for op, units in self.capacity.items() if op in READ_OPERATIONS)

    @property
    def write_units(self) -> float:
        return sum(units for op, units in self.capacity.items() if op in WRITE_OPERATIONS)

    def add(self, other: Meter) -> None:
        self.calls.update(other.calls)
        _add(self.capacity, other.capacity)
        self.invocations.update(other.invocations)
        _add(self.seconds, other.seconds)

    def minus(self, before: Meter) -> Meter:
        return Meter(
            self.role,
            self.calls - before.calls,
            {key: value - before.capacity.get(key, 0.0) for key, value in self.capacity.items()},
            self.invocations - before.invocations,
            {key: value - before.seconds.get(key, 0.0) for key, value in self.seconds.items()},
        )


def _add(into: dict[str, float], more: dict[str, float]) -> None:
    for name, value in more.items():
        into[name] = into.get(name, 0.0) + value


def _role() -> str:
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    if function:
        return function
    command = " ".join(getattr(sys, "orig_argv", sys.argv))
    for part, role in (("emulator.gateway", "api_handler"), ("emulator.runner", "runner")):
        if part in command:
            return role
    return "other"


def _count(model: Any = None, **_: Any) -> None:
    if model is None:
        return
    key = f"{model.service_model.service_name}:{model.name}"
    with _lock:
        _counts[key] += 1


def _ask_for_capacity(**kwargs: Any) -> None:
    params, model = kwargs.get("params"), kwargs.get("model")
    if (
        isinstance(params, dict)
        and model is not None
        and model.name in READ_OPERATIONS | WRITE_OPERATIONS
    ):
        params.setdefault("ReturnConsumedCapacity", "INDEXES")


def _capacity_units(consumed: Any) -> float:
    items = consumed if isinstance(consumed, list) else [consumed]
    return float(sum(item.get("CapacityUnits", 0.0) for item in items if item))


def _after_call(parsed: Any = None, model: Any = None, **_: Any) -> None:
    if model is None or not isinstance(parsed, dict):
        return
    service = model.service_model.service_name
    if service == "dynamodb" and "ConsumedCapacity" in parsed:
        with _lock:
            _add(_capacity, {model.name: _capacity_units(parsed["ConsumedCapacity"])})
    if service == "sqs" and model.name == "ReceiveMessage" and not parsed.get("Messages"):
        with _lock:
            _counts["sqs:ReceiveMessage"] -= 1
            _counts["sqs:ReceiveMessage (empty)"] += 1


def _record(function: str, seconds: float) -> None:
    with _lock:
        _invocations[function] += 1
        _add(_seconds, {function: seconds})


def _time_handlers() -> None:
    """Times the API handler (``Chalice.__call__``) and every event handler."""
    import chalice.app

    api_call = chalice.app.Chalice.__call__
    event_call = chalice.app.EventSourceHandler.__call__

    def timed_api(self: Any, event: Any, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return api_call(self, event, context)
        finally:
            _record("api_handler", time.perf_counter() - started)

    def timed_event(self: Any, event: Any, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return event_call(self, event, context)
        finally:
            name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or self.func.__name__
            _record(name, time.perf_counter() - started)

    chalice.app.Chalice.__call__ = timed_api  # type: ignore[method-assign]
    chalice.app.EventSourceHandler.__call__ = timed_event  # type: ignore[method-assign]


def _flush(path: Path, role: str) -> None:
    with _lock:
        snapshot = {
            "role": role,
            "calls": dict(_counts),
            "capacity": dict(_capacity),
            "invocations": dict(_invocations),
            "seconds": dict(_seconds),
        }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(snapshot))
    tmp.replace(path)


def install(directory: str) -> None:
    import botocore.session

    original_init = botocore.session.Session.__init__

    def init(self: botocore.session.Session, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.register("before-call", _count)
        self.register("before-parameter-build.dynamodb", _ask_for_capacity)
        self.register("after-call", _after_call)

    botocore.session.Session.__init__ = init  # type: ignore[method-assign]
    _time_handlers()
    path = Path(directory) / f"{os.getpid()}.json"
    role = _role()

    def flush_forever() -> None:
        while True:
            threading.Event().wait(0.5)
            if _counts or _invocations:
                _flush(path, role)

    threading.Thread(target=flush_forever, daemon=True, name="aws-call-meter").start()


def read_meters(directory: Path) -> list[Meter]:
    meters = []
    for path in directory.glob("*.json"):
        try:
            raw = json.loads(path.read_text())
        except (ValueError, FileNotFoundError):
            continue
        meters.append(
            Meter(
                raw.get("role", "other"),
                Counter(raw.get("calls", {})),
                dict(raw.get("capacity", {})),
                Counter(raw.get("invocations", {})),
                dict(raw.get("seconds", {})),
            )
        )
    return meters


def read_totals(directory: Path) -> Counter[str]:
    """AWS requests of every process, by ``service:Operation``."""
    totals: Counter[str] = Counter()
    for meter in read_meters(directory):
        totals.update(meter.calls)
    return totals


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in 0..1); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]
