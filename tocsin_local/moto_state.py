"""The moto server's state kept across restarts (``tocsin run --persist``).

moto 5.2.5 has no persistence of its own in server mode (its recorder replays requests, slowly
and with new identifiers). Its state is plain Python objects: every backend in use is a
``BackendDict`` (account -> region -> backend) held by a module of ``moto``. At stop, once the
processes that write to it have stopped, the server pickles all of them in one go (shared
references across services stay shared) to a file, atomically; at start, before it serves, it
loads them back into the same module attributes.

Locks and conditions are not picklable: they are saved as fresh ones. Messages that were in
flight (received, not deleted) when the stack stopped become visible again at once on restore:
the consumer that held them is gone, and the restarted one delivers them, once.
"""

from __future__ import annotations

import importlib
import io
import os
import pickle
import sys
import threading
from pathlib import Path
from typing import Any

from moto.core.base_backend import BackendDict

_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))
_FORMAT = 1


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _LOCK_TYPES):
            return type(obj), ()
        if isinstance(obj, threading.Condition):
            return threading.Condition, ()
        if isinstance(obj, threading.Event):
            return threading.Event, ()
        return NotImplemented


def _instances() -> list[BackendDict[Any]]:
    """moto's list of the backend dicts in use."""
    instances: list[BackendDict[Any]] = vars(BackendDict)["_instances"]
    return instances


def _backends_in_use() -> list[tuple[str, str, BackendDict[Any]]]:
    """(module, attribute, backend dict) of every backend dict that holds state."""
    in_use = {id(backends): backends for backends in _instances() if len(backends)}
    found: list[tuple[str, str, BackendDict[Any]]] = []
    seen: set[int] = set()
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith("moto.") or module is None:
            continue
        for attribute, value in list(vars(module).items()):
            if id(value) in in_use and id(value) not in seen:
                seen.add(id(value))
                found.append((module_name, attribute, value))
    return found


def save(path: Path) -> int:
    """Writes every backend's state to ``path`` (atomically); returns how many backends."""
    from tocsin_local.moto_dynamodb import _lock as dynamodb_lock

    with dynamodb_lock:
        state = [
            (module, attribute, dict(backends))
            for module, attribute, backends in _backends_in_use()
        ]
        buffer = io.BytesIO()
        _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump((_FORMAT, state))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as file:
        file.write(buffer.getvalue())
        file.flush()
        os.fsync(file.fileno())
    partial.replace(path)
    return len(state)


def restore(path: Path) -> int:
    """Loads the state saved in ``path`` into moto's backends; returns how many backends (0
    when there is no file, or it was written by another format)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    version, state = pickle.loads(data)  # noqa: S301 (our own file, in the project's .tocsin/)
    if version != _FORMAT:
        return 0
    for module_name, attribute, accounts in state:
        live: BackendDict[Any] = getattr(importlib.import_module(module_name), attribute)
        live.update(accounts)
        if live not in _instances():
            _instances().append(live)
    _release_in_flight()
    return len(state)


def _release_in_flight() -> None:
    """Messages received before the stop, never deleted: visible again now."""
    sqs_models = sys.modules.get("moto.sqs.models")
    if sqs_models is None:
        return
    for account in sqs_models.sqs_backends.values():
        for backend in account.values():
            for queue in backend.queues.values():
                for message in queue._messages:
                    message.visible_at = 0.0
                pending = getattr(queue, "_pending_messages", None)
                if pending is not None:
                    pending.clear()
