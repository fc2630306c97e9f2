"""Asynchronous invokes (SNS, EventBridge): an event that fails is retried twice, as Lambda
retries async invocations (about 1 and 2 minutes apart on AWS; seconds here by default)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from tocsin_local.emulator.cloud import Cloud
from tocsin_local.emulator.functions import FunctionPool

log = logging.getLogger("tocsin.emulator")

ASYNC_ATTEMPTS = 3
DEFAULT_RETRY_DELAYS = (1.0, 2.0)


def invoke_async(
    pool: FunctionPool,
    cloud: Cloud,
    event: Any,
    *,
    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
    on_exhausted: Callable[[Any], None] | None = None,
) -> None:
    """Runs ``event`` in a thread of its own, with the retries; returns at once."""

    def run() -> None:
        name = pool.function.name
        for attempt in range(ASYNC_ATTEMPTS):
            with pool.slot():
                result = pool.invoke(event)
            cloud.count(f"{name}.invocations")
            if result.ok:
                return
            cloud.count(f"{name}.errors")
            log.warning(
                "%s failed (attempt %d/%d): %s",
                name,
                attempt + 1,
                ASYNC_ATTEMPTS,
                (result.error or {}).get("errorMessage"),
            )
            if attempt < len(retry_delays):
                threading.Event().wait(retry_delays[attempt])
        cloud.count(f"{name}.dropped")
        if on_exhausted is not None:
            on_exhausted(event)

    threading.Thread(target=run, daemon=True, name=f"async-{pool.function.name}").start()
