"""What Tocsin keeps to act later: timers, and the digest windows they close."""

from __future__ import annotations

from enum import StrEnum

from chalicelib.models.common import Channel, Timestamp
from chalicelib.models.stored import Content, Stored


class TimerKind(StrEnum):
    # Scheduled deliveries of a notification (one recipient's, or all of them) become due.
    RELEASE = "release"
    # A digest window ends.
    DIGEST = "digest"


class Timer(Stored):
    """Something to do at ``due``. Stored until done, so that a restart or a redeploy loses
    none; doing it twice changes nothing (each action is a conditional write)."""

    kind: TimerKind
    tenant_id: str
    due: Timestamp
    notification_id: str | None = None
    # RELEASE: the recipient whose deliveries are due (None: every recipient of the
    # notification), on these channels. DIGEST: the window's recipient.
    recipient_id: str | None = None
    channels: list[Channel] | None = None
    # RELEASE of a whole notification: how far it got (a delivery sort key), to go on from.
    cursor: str | None = None
    digest_key: str | None = None
    window_id: str | None = None

    @property
    def name(self) -> str:
        """One per thing to do: a timer set again for the same thing replaces nothing else."""
        if self.kind is TimerKind.DIGEST:
            return f"digest#{self.tenant_id}#{self.window_id}"
        return f"release#{self.tenant_id}#{self.notification_id}#{self.recipient_id or '*'}"


class DigestWindow(Stored):
    """The window that notifications to one recipient with one digest key go into."""

    tenant_id: str
    recipient_id: str
    key: str
    window_id: str
    window_seconds: int
    opened_at: Timestamp
    closes_at: Timestamp
    closed: bool = False
    items: int = 0


class DigestEntry(Stored):
    """One notification digested into a window, on the channels it would have used."""

    tenant_id: str
    window_id: str
    notification_id: str
    created_at: Timestamp
    content: Content
    channels: list[Channel]


class DigestJoin(Stored):
    """A notification going into a window, written with it in one transaction: it holds only
    while the window is open under that id (``opens``: a new window replacing a closed, ended
    or full one, or none)."""

    window: DigestWindow
    entry: DigestEntry
    opens: bool
    # Opening: the window it replaces (None: there was none).
    replaces: str | None = None
    max_items: int = 100
