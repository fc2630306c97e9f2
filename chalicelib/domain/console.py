"""What only the console asks of the domain: an overview of a tenant, its keys and its
recipients listed. Every change the console makes goes through the services the API uses
(``TenantService``, ``RecipientService``, ``DeadLetterService``, ...); this adds reads only."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib.console_ports import KeyDirectory, RecipientDirectory
from chalicelib.domain.errors import NotFound
from chalicelib.domain.status import status_of
from chalicelib.domain.tenants import IssuedKey, TenantService
from chalicelib.models.common import NotificationStatus
from chalicelib.models.stored import ApiKeyRecord, DeadLetter, Recipient
from chalicelib.ports import Clock, DeadLetterStore, NotificationStore, Page, TenantStore

# An overview reads at most this many of the last day's notifications, recipients and dead
# letters: a page an operator opens at night must answer at once, whatever the tenant's size.
OVERVIEW_READ_LIMIT = 500
OVERVIEW_PAGE = 100


@dataclass(frozen=True)
class Overview:
    since: datetime
    # Notifications of the last 24 hours by status (of those read; ``more`` when not all).
    counts: dict[NotificationStatus, int]
    counted: int
    more_notifications: bool
    failing: list[Recipient] = field(default_factory=list)
    disabled: list[Recipient] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    more_dead_letters: bool = False


class OverviewService:
    def __init__(
        self,
        *,
        notifications: NotificationStore,
        recipients: RecipientDirectory,
        dead_letters: DeadLetterStore,
        clock: Clock,
        read_limit: int = OVERVIEW_READ_LIMIT,
    ) -> None:
        self._notifications = notifications
        self._recipients = recipients
        self._dead_letters = dead_letters
        self._clock = clock
        self._read_limit = read_limit

    def overview(self, tenant_id: str) -> Overview:
        since = self._clock.now() - timedelta(hours=24)
        counts: Counter[NotificationStatus] = Counter()
        counted, more, cursor = 0, False, None
        while True:
            page = self._notifications.list_notifications(
                tenant_id,
                recipient_id=None,
                keep=None,
                limit=min(OVERVIEW_PAGE, self._read_limit - counted),
                cursor=cursor,
            )
            recent = [n for n in page.items if n.created_at >= since]
            counts.update(status_of(n) for n in recent)
            counted += len(recent)
            if len(recent) < len(page.items) or page.next_cursor is None:
                break
            if counted >= self._read_limit:
                more = True
                break
            cursor = page.next_cursor
        failing, disabled = self._endpoints(tenant_id)
        letters = self._dead_letters.list_dead_letters(tenant_id, limit=10, cursor=None)
        return Overview(
            since=since,
            counts={status: counts[status] for status in NotificationStatus},
            counted=counted,
            more_notifications=more,
            failing=failing,
            disabled=disabled,
            dead_letters=letters.items,
            more_dead_letters=letters.next_cursor is not None,
        )

    def _endpoints(self, tenant_id: str) -> tuple[list[Recipient], list[Recipient]]:
        failing: list[Recipient] = []
        disabled: list[Recipient] = []
        read, cursor = 0, None
        while read < self._read_limit:
            page = self._recipients.list_recipients(tenant_id, limit=OVERVIEW_PAGE, cursor=cursor)
            read += len(page.items)
            for recipient in page.items:
                if recipient.webhook_disabled_at is not None:
                    disabled.append(recipient)
                elif recipient.webhook_failing_since is not None:
                    failing.append(recipient)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        return failing, disabled


class RecipientListing:
    def __init__(self, *, recipients: RecipientDirectory) -> None:
        self._recipients = recipients

    def list(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page[Recipient]:
        return self._recipients.list_recipients(tenant_id, limit=limit, cursor=cursor)


class KeyService:
    """A tenant's keys as its operators see them: minted and revoked through TenantService,
    as the CLI does; a tenant can only see and revoke its own."""

    def __init__(
        self, *, tenants: TenantService, store: TenantStore, directory: KeyDirectory
    ) -> None:
        self._tenants = tenants
        self._store = store
        self._directory = directory

    def list(self, tenant_id: str) -> list[ApiKeyRecord]:
        return self._directory.list_api_keys(tenant_id)

    def mint(self, tenant_id: str) -> IssuedKey:
        return self._tenants.issue_key(tenant_id)

    def revoke(self, tenant_id: str, prefix: str) -> None:
        record = self._store.get_api_key(prefix)
        if record is None or record.tenant != tenant_id:
            raise NotFound("API key")
        self._tenants.revoke(prefix)
