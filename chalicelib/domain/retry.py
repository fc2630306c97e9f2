"""When a failed attempt is tried again, and when it is given up.

The default schedule follows Svix and Stripe: eight attempts over about a day. The local stage
compresses it so that every attempt of a delivery falls within a minute (first retry within
two seconds), which is what tests and demos need to see retries at once.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Seconds to wait after attempt n (1-based) before attempt n + 1.
DEFAULT_DELAYS: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
# Short enough that every attempt falls within a minute even when each wait is a Retry-After
# capped at the longest step (7 x 7 s), as api.md asks of the local stage.
LOCAL_DELAYS: tuple[float, ...] = (1, 2, 3, 4, 5, 6, 7)

TRANSIENT_STATUSES = frozenset({408, 425, 429})
RETRY_AFTER_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    delays: tuple[float, ...]
    # Each delay is spread uniformly over +-jitter of itself, so that a receiver that failed
    # for many deliveries at once is not hit by all of them again at the same instant.
    jitter: float = 0.2

    @classmethod
    def default(cls) -> RetryPolicy:
        return cls(DEFAULT_DELAYS)

    @classmethod
    def local(cls) -> RetryPolicy:
        return cls(LOCAL_DELAYS)

    @property
    def max_attempts(self) -> int:
        return len(self.delays) + 1

    @property
    def longest_delay(self) -> float:
        return max(self.delays)

    def delay_after(
        self, attempts_made: int, retry_after: float | None, rng: random.Random
    ) -> float | None:
        """Seconds until the next attempt, or None when ``attempts_made`` used the budget."""
        if attempts_made >= self.max_attempts:
            return None
        if retry_after is not None:
            return float(math.ceil(max(0.0, min(retry_after, self.longest_delay))))
        base = self.delays[attempts_made - 1]
        # Whole seconds: that is the unit of Retry-After and of the queue's visibility timeout,
        # so a delay is never rounded up a second by the transport.
        return float(max(1, round(base * rng.uniform(1 - self.jitter, 1 + self.jitter))))


def is_transient_status(status: int) -> bool:
    return status in TRANSIENT_STATUSES or 500 <= status <= 599


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
