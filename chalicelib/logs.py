"""Structured logs: every ``chalicelib`` logger writes one JSON object per line (Powertools'
formatter), with the keys bound for the request or queue record at hand (correlation id,
tenant, notification id)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

_formatter = LambdaPowertoolsFormatter(service="tocsin", utc=True)
_HANDLER_NAME = "tocsin-json"


def configure(level: int = logging.INFO) -> None:
    """Idempotent: Lambda imports the app once per execution environment, tests many times."""
    parent = logging.getLogger("chalicelib")
    if any(handler.get_name() == _HANDLER_NAME for handler in parent.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(_formatter)
    parent.addHandler(handler)
    parent.setLevel(level)
    parent.propagate = False


@contextmanager
def bound(**keys: Any) -> Iterator[None]:
    """Adds ``keys`` to every log line of this thread (or task) until the block ends."""
    _formatter.thread_safe_append_keys(
        **{key: value for key, value in keys.items() if value is not None}
    )
    try:
        yield
    finally:
        _formatter.thread_safe_clear_keys()


def bind(**keys: Any) -> None:
    """Adds ``keys`` to the log lines of the block already bound (e.g. the tenant once known)."""
    _formatter.thread_safe_append_keys(
        **{key: value for key, value in keys.items() if value is not None}
    )
