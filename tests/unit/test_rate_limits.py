"""Rate limits: a sliding window over two fixed ones, per integration and per tenant, with an
injected clock (GIVEN / WHEN / THEN)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.domain.rate_limits import Limit, RateLimited, RateLimiter, retry_after
from tests.fakes import FakeClock
from tests.fakes_alerts import FakeAlertStore

# The start of a window (a multiple of 60 s since the epoch).
START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def store() -> FakeAlertStore:
    return FakeAlertStore()


def limiter(store: FakeAlertStore, clock: FakeClock, tenant: int = 100) -> RateLimiter:
    return RateLimiter(
        counters=store,
        clock=clock,
        per_tenant=Limit(events=tenant, window_seconds=60),
        per_integration=Limit(events=5, window_seconds=60),
    )


def admitted(limits: RateLimiter, count: int, integration: str | None = "pd") -> int:
    accepted = 0
    for _ in range(count):
        try:
            limits.admit("acme", integration)
        except RateLimited:
            continue
        accepted += 1
    return accepted


def test_an_integration_gets_its_limit_then_429_with_the_wait(
    store: FakeAlertStore, clock: FakeClock
) -> None:
    limits = limiter(store, clock)
    clock.advance(30)
    assert admitted(limits, 5) == 5
    with pytest.raises(RateLimited) as refused:
        limits.admit("acme", "pd")
    assert refused.value.scope == "integration"
    # the window ends in 30 s; then the full previous window still weighs on the next one
    assert refused.value.retry_after == 42


def test_a_refused_event_is_given_back_to_the_limits_it_passed(
    store: FakeAlertStore, clock: FakeClock
) -> None:
    # GIVEN a tenant limit of 3 and two integrations of 5
    limits = limiter(store, clock, tenant=3)
    assert admitted(limits, 3, "a") == 3
    # WHEN the tenant limit refuses events of another integration
    assert admitted(limits, 4, "b") == 0
    # THEN that integration has counted none of them
    assert store.counted("I#b", int(START.timestamp() // 60)) == 0


def test_the_previous_window_weighs_on_the_next_as_it_slides_away(
    store: FakeAlertStore, clock: FakeClock
) -> None:
    # GIVEN a burst to the limit at the end of one window
    limits = limiter(store, clock)
    clock.advance(59)
    assert admitted(limits, 5) == 5
    # WHEN the next window starts, it is not a fresh budget of 5: 59/60 of the burst still
    # lies in the last 60 s
    clock.advance(2)
    assert admitted(limits, 5) == 1
    # THEN the budget comes back as the burst slides out of the last 60 s
    clock.advance(30)
    assert admitted(limits, 5) == 2
    clock.advance(29)
    assert admitted(limits, 5) == 2


@pytest.mark.parametrize(
    ("previous", "current", "into", "wait"),
    [
        # the previous window's share drains: 10 * (1 - t/60) + 0 + 1 <= 10
        (10, 0, 0.0, 6),
        # 10 * (1 - t/60) + 5 + 1 <= 10
        (10, 5, 0.0, 36),
        # this window is full: its end, then its own share drains: 50 + 6
        (0, 10, 10.0, 56),
    ],
)
def test_retry_after(previous: int, current: int, into: float, wait: int) -> None:
    assert retry_after(Limit(10, 60), previous=previous, current=current, into=into) == wait
