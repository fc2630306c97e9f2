"""moto's DynamoDB, made safe under its threaded server (moto 5.2.5).

moto serves each request on a thread of its own, and its DynamoDB backend has no locking:

- a conditional write is a check followed by a write, so two concurrent ``PutItem`` calls
  conditioned on the same version can both succeed, which real DynamoDB never allows (Tocsin's
  delivery leases rely on exactly that condition);
- a Query or Scan iterates the table's item dictionaries while another thread adds items,
  and fails with "dictionary changed size during iteration" (a 500 to the caller).

Here every DynamoDB action of the moto server runs under one lock: each is atomic, as on
DynamoDB. moto holds the GIL for nearly all of an action anyway, so little is lost.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from moto.dynamodb.responses import DynamoHandler

_lock = threading.RLock()


def serialize_dynamodb() -> None:
    if getattr(DynamoHandler.call_action, "_tocsin_serialized", False):
        return
    original = DynamoHandler.call_action

    @functools.wraps(original)
    def call_action(self: Any) -> Any:
        with _lock:
            return original(self)

    call_action._tocsin_serialized = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
