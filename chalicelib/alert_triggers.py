"""Entry point of the scheduled function ``alert_timers``, free of Chalice's event classes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from chalicelib.wiring import services

# Time the run leaves unused at the end of its invocation.
MARGIN_MS = 5_000


def alert_timers(context: Any = None) -> dict[str, int]:
    """Runs every alert whose timer is due: escalation steps, silence ends, resolution
    notices, and the second look at what an acknowledge cancelled."""
    remaining_ms = getattr(context, "get_remaining_time_in_millis", lambda: 60_000)()
    budget = timedelta(milliseconds=max(0, remaining_ms - MARGIN_MS))
    return {"ran": services().alerting.alerts.run_due(budget)}
