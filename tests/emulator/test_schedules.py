"""Scheduled functions: ``rate(...)`` and ``cron(...)`` expressions fire by themselves (a cron
on the minute it names), and a schedule can be fired on demand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.emulator.backend import Backend, Deployment

pytestmark = pytest.mark.xdist_group("schedules")

# Both schedules fire once a minute; the first firing comes within a minute of deployment.
FIRST_FIRING_SECONDS = 90.0


@pytest.fixture(scope="module")
def app(backend: Backend) -> Deployment:
    return backend.deploy("schedules")


def assert_scheduled_event(event: dict[str, str | list[str] | dict[str, str]]) -> None:
    assert event["source"] == "aws.events"
    assert event["detail-type"] == "Scheduled Event"
    assert event["detail"] == {}
    assert isinstance(event["resources"], list)
    assert event["resources"][0].startswith("arn:aws:events:")
    assert ":rule/" in event["resources"][0]
    assert isinstance(event["time"], str)
    assert event["time"].endswith("Z")


def test_schedule_fires_on_demand(app: Deployment) -> None:
    app.fire("weekly")

    items = app.await_observed("weekly", lambda items: len(items) >= 1)

    assert items[0]["source"] == "aws.events"
    assert items[0]["detail_type"] == "Scheduled Event"
    assert_scheduled_event(items[0]["event"])


def test_rate_expression_fires_by_itself(app: Deployment) -> None:
    items = app.await_observed(
        "every_minute", lambda items: len(items) >= 1, timeout=FIRST_FIRING_SECONDS
    )

    assert_scheduled_event(items[0]["event"])


def assert_fired_at_the_start_of_a_minute(item: dict[str, Any]) -> None:
    event = item["event"]
    assert_scheduled_event(event)
    scheduled = datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert scheduled.second == 0
    assert 0 <= item["at"] - scheduled.timestamp() < 10


def test_cron_expression_fires_at_the_start_of_its_minute(app: Deployment) -> None:
    items = app.await_observed(
        "cron_minute", lambda items: len(items) >= 1, timeout=FIRST_FIRING_SECONDS
    )

    assert_fired_at_the_start_of_a_minute(items[0])


def test_cron_step_of_one_fires_within_the_minute(app: Deployment) -> None:
    # cron(0/1 * * * ? *): every minute from minute 0, not only at minute 0 (issue 12).
    items = app.await_observed(
        "cron_step", lambda items: len(items) >= 1, timeout=FIRST_FIRING_SECONDS
    )

    assert_fired_at_the_start_of_a_minute(items[0])
