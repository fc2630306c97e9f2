"""Preferences: the order api.md gives, row by row; quiet hours across midnight and DST."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.domain.preferences import channel_allowed, quiet_until
from chalicelib.models.common import Channel, DeliveryStatus, Reason, Severity
from chalicelib.models.preferences import (
    CategoryPreference,
    QuietHours,
    RecipientPreferences,
    TenantCategoryPreference,
    TenantPreferences,
)
from tests.unit.domain_world import World

SMS = Channel.SMS


def recipient_prefs(
    *,
    category_channel: bool | None = None,
    category_enabled: bool | None = None,
    channel: bool | None = None,
) -> RecipientPreferences:
    category = None
    if category_channel is not None or category_enabled is not None:
        category = CategoryPreference(
            enabled=category_enabled,
            channels=None if category_channel is None else {SMS: category_channel},
        )
    return RecipientPreferences(
        channels=None if channel is None else {SMS: channel},
        categories=None if category is None else {"billing": category},
    )


def tenant_prefs(
    *, category_channel: bool | None = None, category_enabled: bool | None = None
) -> TenantPreferences:
    return TenantPreferences(
        categories={
            "billing": TenantCategoryPreference(
                enabled=category_enabled,
                channels=None if category_channel is None else {SMS: category_channel},
            )
        }
    )


# Each row: the settings that exist, and whether sms is on. The most specific one decides:
# recipient category x channel, recipient category enabled, recipient channel, tenant
# category x channel, tenant category enabled; nothing set means on.
ORDER = [
    pytest.param({}, {}, True, id="nothing set: on"),
    pytest.param({}, {"category_enabled": False}, False, id="tenant category enabled"),
    pytest.param(
        {}, {"category_enabled": False, "category_channel": True}, True, id="tenant cat x ch"
    ),
    pytest.param(
        {"channel": True},
        {"category_enabled": False, "category_channel": False},
        True,
        id="recipient channel over tenant",
    ),
    pytest.param(
        {"channel": False, "category_enabled": True},
        {},
        True,
        id="recipient category enabled over recipient channel",
    ),
    pytest.param(
        {"channel": True, "category_enabled": True, "category_channel": False},
        {"category_channel": True},
        False,
        id="recipient category x channel over everything",
    ),
    pytest.param(
        {"category_enabled": False},
        {"category_channel": True},
        False,
        id="recipient category enabled over tenant category x channel",
    ),
]


@pytest.mark.parametrize(("own", "defaults", "on"), ORDER)
def test_the_most_specific_setting_that_exists_decides(
    own: dict[str, bool], defaults: dict[str, bool], on: bool
) -> None:
    assert channel_allowed(SMS, "billing", recipient_prefs(**own), tenant_prefs(**defaults)) is on


def test_category_settings_do_not_apply_to_another_category_or_none() -> None:
    own = recipient_prefs(category_enabled=False)
    defaults = tenant_prefs(category_enabled=False)
    assert channel_allowed(SMS, "ops", own, defaults)
    assert channel_allowed(SMS, None, own, defaults)


def test_a_recipient_channel_switch_applies_to_every_category() -> None:
    assert not channel_allowed(SMS, "ops", recipient_prefs(channel=False), None)
    assert not channel_allowed(SMS, None, recipient_prefs(channel=False), None)


PARIS = "Europe/Paris"
NEW_YORK = "America/New_York"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


QUIET = [
    # A window spanning midnight, before and after it, on an ordinary night (CET, +1).
    pytest.param("22:00", "07:00", PARIS, "2026-11-24T22:30", "2026-11-25T06:00", id="p-evening"),
    pytest.param("22:00", "07:00", PARIS, "2026-11-25T02:00", "2026-11-25T06:00", id="p-night"),
    pytest.param("22:00", "07:00", PARIS, "2026-11-25T06:00", None, id="p-end-is-outside"),
    pytest.param("22:00", "07:00", PARIS, "2026-11-25T12:00", None, id="p-day"),
    # Spring: 29 March 2026 02:00 CET -> 03:00 CEST. The night is an hour shorter.
    pytest.param("22:00", "07:00", PARIS, "2026-03-28T21:30", "2026-03-29T05:00", id="p-spring"),
    # Autumn: 25 October 2026 03:00 CEST -> 02:00 CET. The night is an hour longer.
    pytest.param("22:00", "07:00", PARIS, "2026-10-24T20:30", "2026-10-25T06:00", id="p-autumn"),
    # An end the spring change skips (02:30 does not exist): the jump itself, 03:00 CEST.
    pytest.param("23:00", "02:30", PARIS, "2026-03-28T22:30", "2026-03-29T01:00", id="p-gap"),
    # An end the autumn change repeats (02:30 twice): its first occurrence (CEST).
    pytest.param("23:00", "02:30", PARIS, "2026-10-24T22:30", "2026-10-25T00:30", id="p-twice"),
    # ... and from inside the repeated hour, the second one (CET).
    pytest.param("23:00", "02:30", PARIS, "2026-10-25T01:10", "2026-10-25T01:30", id="p-fold"),
    # New York: spring 8 March 2026 02:00 EST -> 03:00 EDT; autumn 1 November 02:00 -> 01:00.
    pytest.param("21:00", "08:00", NEW_YORK, "2026-03-08T03:00", "2026-03-08T12:00", id="ny-spr"),
    pytest.param("21:00", "08:00", NEW_YORK, "2026-11-01T03:00", "2026-11-01T13:00", id="ny-aut"),
    pytest.param("01:00", "03:00", NEW_YORK, "2026-03-08T06:30", "2026-03-08T07:00", id="ny-gap"),
    pytest.param("21:00", "08:00", NEW_YORK, "2026-03-08T12:30", None, id="ny-after-spring"),
    # A window that does not span midnight.
    pytest.param("12:00", "14:00", NEW_YORK, "2026-07-01T17:00", "2026-07-01T18:00", id="ny-noon"),
]


@pytest.mark.parametrize(("start", "end", "tz", "at", "until"), QUIET)
def test_quiet_hours_end_on_the_wall_clock_of_the_zone(
    start: str, end: str, tz: str, at: str, until: str | None
) -> None:
    quiet = QuietHours(start=start, end=end, tz=tz)
    assert quiet_until(quiet, utc(at)) == (None if until is None else utc(until))


def test_equal_start_and_end_and_unknown_zones_are_refused() -> None:
    with pytest.raises(ValueError, match="differ"):
        QuietHours(start="07:00", end="07:00", tz=PARIS)
    with pytest.raises(ValueError, match="IANA"):
        QuietHours(start="22:00", end="07:00", tz="Mars/Olympus")
    with pytest.raises(ValueError, match="IANA"):
        QuietHours(start="22:00", end="07:00", tz="../../etc/passwd")


def test_opted_out_channels_are_skipped_with_their_reason() -> None:
    # GIVEN a recipient who turned email off
    world = World()
    world.recipient(webhook_url="https://example.com/hook", email="a@example.com")
    world.preferences.put_recipient(
        "acme", "alice", RecipientPreferences(channels={Channel.EMAIL: False})
    )
    # WHEN a notification reaches it
    notification = world.accept()
    # THEN email is skipped as opted out and every other channel goes
    email = world.delivery(notification.id, Channel.EMAIL)
    assert (email.status, email.reason) == (DeliveryStatus.SKIPPED, Reason.OPTED_OUT)
    assert world.delivery(notification.id).status is DeliveryStatus.PENDING
    assert world.delivery(notification.id, Channel.INBOX).status is DeliveryStatus.DELIVERED


def test_critical_and_required_notifications_pass_opt_outs_and_quiet_hours() -> None:
    # GIVEN a recipient inside its quiet hours who turned webhooks off, and a required category
    world = World()  # 2026-11-24 10:00 UTC
    world.recipient(webhook_url="https://example.com/hook")
    world.preferences.put_recipient(
        "acme",
        "alice",
        RecipientPreferences(
            channels={Channel.WEBHOOK: False},
            quiet_hours=QuietHours(start="09:00", end="12:00", tz="UTC"),
        ),
    )
    world.preferences.put_tenant(
        "acme", TenantPreferences(categories={"security": TenantCategoryPreference(required=True)})
    )
    # WHEN an ordinary, a critical and a required notification come
    ordinary = world.accept()
    critical = world.accept(severity=Severity.CRITICAL)
    required = world.accept(category="security")
    # THEN the ordinary one is opted out on the webhook, the others go at once
    assert world.delivery(ordinary.id).reason is Reason.OPTED_OUT
    for notification in (critical, required):
        assert world.delivery(notification.id).status is DeliveryStatus.PENDING


def test_a_recipient_put_without_preferences_keeps_them_and_null_clears_them() -> None:
    from chalicelib.domain.recipients import RecipientDetails

    world = World()
    world.recipient()
    chosen = RecipientPreferences(channels={Channel.SMS: False})
    world.preferences.put_recipient("acme", "alice", chosen)

    world.recipients.put("acme", "alice", RecipientDetails(name="Alice", keep_preferences=True))
    assert world.preferences.recipient("acme", "alice") == chosen

    world.recipients.put("acme", "alice", RecipientDetails(name="Alice", preferences=None))
    assert world.preferences.recipient("acme", "alice") == RecipientPreferences()
