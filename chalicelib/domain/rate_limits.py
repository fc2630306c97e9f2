"""Rate limits per tenant and per integration: a sliding window over two fixed ones.

Each scope (a tenant, an integration) counts its events in fixed windows (a minute by default)
with an atomic, conditional addition in the table: the count never passes what is allowed, and
two requests can never both take the last place (no read-modify-write). What a window allows
is the limit less the share of the previous window's count that still lies inside the sliding
window ending now (the estimate Cloudflare describes): a burst at the end of one window cannot
be followed by a full one at the start of the next, as with plain fixed windows. PagerDuty's
own limit is of this kind: about 120 events in the 60 s looking back from now.

An event refused by one limit is given back to the limits it had already passed, so that a
refused event never counts; an event accepted is never taken back. A window's count is final
once the window has passed: each process reads it once (a small cache), so an event costs one
conditional write per limit.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.alert_ports import RateLimitStore
from chalicelib.domain.errors import DomainError
from chalicelib.ports import Clock

# Past windows' counts remembered per process.
PAST_COUNTS_CACHED = 1024


class RateLimited(DomainError):
    def __init__(self, scope: str, retry_after: int) -> None:
        super().__init__(f"too many requests for this {scope}; retry in {retry_after} s")
        self.scope = scope
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limit:
    events: int
    window_seconds: int


class RateLimiter:
    def __init__(
        self,
        *,
        counters: RateLimitStore,
        clock: Clock,
        per_tenant: Limit,
        per_integration: Limit,
    ) -> None:
        self._counters = counters
        self._clock = clock
        self._per_tenant = per_tenant
        self._per_integration = per_integration
        self._past: OrderedDict[tuple[str, int], int] = OrderedDict()
        self._lock = threading.Lock()

    def admit(self, tenant_id: str, integration_id: str | None = None) -> None:
        """Counts one event of the tenant (and of the integration); raises RateLimited, with
        the seconds to wait, when one of the limits is reached."""
        now = self._clock.now()
        scopes: list[tuple[str, str, Limit]] = []
        if integration_id is not None:
            scopes.append(("integration", f"I#{integration_id}", self._per_integration))
        scopes.append(("tenant", f"T#{tenant_id}", self._per_tenant))
        taken: list[tuple[str, int]] = []
        for name, scope, limit in scopes:
            window, wait = self._take(scope, limit, now)
            if wait is not None:
                for passed_scope, passed_window in taken:
                    self._counters.give_back(passed_scope, passed_window)
                raise RateLimited(name, wait)
            taken.append((scope, window))

    def _take(self, scope: str, limit: Limit, now: datetime) -> tuple[int, int | None]:
        """(the window counted in, None) or (window, seconds to wait) when refused."""
        size = limit.window_seconds
        elapsed_total = now.timestamp()
        window = int(elapsed_total // size)
        into = elapsed_total - window * size
        previous = self._past_count(scope, window - 1)
        carried = math.floor(previous * (1 - into / size))
        allowed = limit.events - carried
        expires = now + timedelta(seconds=3 * size)
        if allowed > 0:
            taken = self._counters.take(scope, window, allowed, expires)
            if taken.accepted:
                return window, None
            current = taken.count
        else:
            current = self._counters.counted(scope, window)
        return window, retry_after(limit, previous=previous, current=current, into=into)

    def _past_count(self, scope: str, window: int) -> int:
        with self._lock:
            if (scope, window) in self._past:
                return self._past[(scope, window)]
        count = self._counters.counted(scope, window)
        with self._lock:
            self._past[(scope, window)] = count
            while len(self._past) > PAST_COUNTS_CACHED:
                self._past.popitem(last=False)
        return count


def retry_after(limit: Limit, *, previous: int, current: int, into: float) -> int:
    """Whole seconds until one more event fits: while the previous window's share drains, or
    else after this window ends, when this window's count becomes the previous one."""
    size = limit.window_seconds
    if previous > 0 and current < limit.events:
        # previous * (1 - (into + t) / size) + current + 1 <= events
        wait = size * (1 - (limit.events - current - 1) / previous) - into
        if wait <= size - into:
            return max(1, math.ceil(wait))
    wait = size - into
    if current >= limit.events:
        # In the next window: current * (1 - t / size) + 1 <= events
        wait += max(0.0, size * (1 - (limit.events - 1) / current))
    return max(1, math.ceil(wait))
