"""What a recipient wants: which channels each notification may use, and when.

A channel is off for a delivery when the most specific setting that exists says so, in this
order (api.md, Preferences): the recipient's category x channel, the recipient's category
``enabled``, the recipient's channel, the tenant's category x channel, the tenant's category
``enabled``; nothing set means on. A ``critical`` notification, or one of a category the tenant
marks ``required``, ignores opt-outs and quiet hours.

Quiet hours are wall-clock times in the recipient's zone. A window may span midnight; its end is
found on the calendar of that zone, so it is right across daylight-saving changes: an end that
does not exist that night (skipped by the spring change) is the instant the clocks jump, and an
end that happens twice (the autumn change) is its first occurrence after the moment asked about.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chalicelib.domain.errors import NotFound
from chalicelib.models.common import Channel, Reason, Severity
from chalicelib.models.preferences import QuietHours, RecipientPreferences, TenantPreferences
from chalicelib.models.stored import Recipient
from chalicelib.ports import PreferenceStore, RecipientStore


def channel_allowed(
    channel: Channel,
    category: str | None,
    recipient: RecipientPreferences | None,
    tenant: TenantPreferences | None,
) -> bool:
    """Whether the preferences leave ``channel`` on for a notification of ``category``."""
    if recipient is not None:
        own = (recipient.categories or {}).get(category) if category is not None else None
        if own is not None:
            if own.channels is not None and channel in own.channels:
                return own.channels[channel]
            if own.enabled is not None:
                return own.enabled
        if recipient.channels is not None and channel in recipient.channels:
            return recipient.channels[channel]
    if tenant is not None and category is not None:
        default = (tenant.categories or {}).get(category)
        if default is not None:
            if default.channels is not None and channel in default.channels:
                return default.channels[channel]
            if default.enabled is not None:
                return default.enabled
    return True


def is_required(category: str | None, tenant: TenantPreferences | None) -> bool:
    if category is None or tenant is None:
        return False
    default = (tenant.categories or {}).get(category)
    return default is not None and bool(default.required)


def _wall_clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _instant(day: date, wall: time, zone: ZoneInfo, after: datetime) -> datetime:
    """The first instant after ``after`` at which the wall clock of ``zone`` on ``day`` shows
    ``wall``; for a wall time the zone skips that day, the instant the clocks jump over it."""
    first = datetime.combine(day, wall, tzinfo=zone).replace(fold=0)
    second = first.replace(fold=1)
    candidates = sorted({first.astimezone(UTC), second.astimezone(UTC)})
    wall_time = first.replace(tzinfo=None)
    exists = [c for c in candidates if c.astimezone(zone).replace(tzinfo=None) == wall_time]
    if exists:
        later = [c for c in exists if c > after]
        return later[0] if later else exists[-1]
    # Skipped by a change: the two readings fall on either side of the jump; find its second.
    low, high = int(candidates[0].timestamp()), int(candidates[-1].timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= wall_time:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def quiet_until(quiet: QuietHours, moment: datetime) -> datetime | None:
    """When the quiet window that ``moment`` falls in ends; None when it is outside one."""
    zone = ZoneInfo(quiet.tz)
    local = moment.astimezone(zone)
    now = local.time().replace(tzinfo=None)
    start, end = _wall_clock(quiet.start), _wall_clock(quiet.end)
    today = local.date()
    if start < end:
        if not start <= now < end:
            return None
        return _instant(today, end, zone, moment).astimezone(UTC)
    if now >= start:
        return _instant(today + timedelta(days=1), end, zone, moment).astimezone(UTC)
    if now < end:
        return _instant(today, end, zone, moment).astimezone(UTC)
    return None


@dataclass(frozen=True)
class Hold:
    """A recipient's deliveries wait until ``until``, for ``reason``."""

    until: datetime
    reason: Reason


@dataclass(frozen=True)
class Audience:
    """What decides a notification's channels and timing for each of its recipients."""

    severity: Severity
    category: str | None
    tenant: TenantPreferences | None
    deliver_at: datetime | None = None

    @property
    def overrides(self) -> bool:
        """Critical and required notifications pass opt-outs and quiet hours."""
        return self.severity is Severity.CRITICAL or is_required(self.category, self.tenant)

    def allows(self, channel: Channel, recipient: Recipient) -> bool:
        return self.overrides or channel_allowed(
            channel, self.category, recipient.preferences, self.tenant
        )

    def quiet_until(self, recipient: Recipient, moment: datetime) -> datetime | None:
        preferences = recipient.preferences
        if self.overrides or preferences is None or preferences.quiet_hours is None:
            return None
        return quiet_until(preferences.quiet_hours, moment)

    def hold(self, recipient: Recipient, now: datetime) -> Hold | None:
        """Until when the recipient's deliveries wait, if they do: past ``deliver_at``, and
        past the end of the quiet hours that the moment of sending falls in."""
        sending = now if self.deliver_at is None else max(now, self.deliver_at)
        quiet = self.quiet_until(recipient, sending)
        if quiet is not None:
            return Hold(quiet, Reason.QUIET_HOURS)
        if sending > now:
            return Hold(sending, Reason.DELIVER_AT)
        return None


class PreferenceService:
    def __init__(self, *, preferences: PreferenceStore, recipients: RecipientStore) -> None:
        self._preferences = preferences
        self._recipients = recipients

    def tenant(self, tenant_id: str) -> TenantPreferences:
        return self._preferences.get_tenant_preferences(tenant_id) or TenantPreferences()

    def put_tenant(self, tenant_id: str, preferences: TenantPreferences) -> TenantPreferences:
        self._preferences.put_tenant_preferences(tenant_id, preferences)
        return preferences

    def recipient(self, tenant_id: str, recipient_id: str) -> RecipientPreferences:
        recipient = self._recipients.get_recipient(tenant_id, recipient_id)
        if recipient is None:
            raise NotFound("recipient")
        return recipient.preferences or RecipientPreferences()

    def put_recipient(
        self, tenant_id: str, recipient_id: str, preferences: RecipientPreferences
    ) -> RecipientPreferences:
        if not self._preferences.put_recipient_preferences(tenant_id, recipient_id, preferences):
            raise NotFound("recipient")
        return preferences
