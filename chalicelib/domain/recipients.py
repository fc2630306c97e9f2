"""Recipients: the people and systems notifications go to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

from chalicelib.domain.apprise_targets import check_apprise_url, mask_apprise_url, mask_chat_url
from chalicelib.domain.chat_targets import check_chat_url
from chalicelib.domain.errors import Invalid, NotFound
from chalicelib.domain.webhook_targets import RefusedTarget, Resolver, check_webhook_url
from chalicelib.models.common import Channel
from chalicelib.models.preferences import RecipientPreferences
from chalicelib.models.stored import PushToken, Recipient
from chalicelib.ports import Clock, EndpointStore, RecipientStore

# The recipient fields that hold a chat platform's incoming-webhook URL.
CHAT_URL_FIELDS = {
    Channel.SLACK: "slack_webhook_url",
    Channel.TEAMS: "teams_webhook_url",
    Channel.DISCORD: "discord_webhook_url",
}


@dataclass(frozen=True)
class RecipientDetails:
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    webhook_url: str | None = None
    preferences: RecipientPreferences | None = None
    # The request left preferences out: the stored ones stay (a profile sync must not wipe
    # what the person chose).
    keep_preferences: bool = False
    slack_webhook_url: str | None = None
    teams_webhook_url: str | None = None
    discord_webhook_url: str | None = None
    push_tokens: list[PushToken] | None = None
    apprise_urls: list[str] | None = field(default=None)


def masked(recipient: Recipient, given: RecipientDetails | None = None) -> Recipient:
    """The recipient as replies show it: the addresses that carry a secret (chat webhook URLs,
    Apprise URLs) masked. ``given``: the details of the PUT whose reply this is; an address it
    gave whole (and so stored) is shown whole, one it sent back masked (to keep the stored one)
    stays masked."""
    shown = recipient.model_copy()
    for name in CHAT_URL_FIELDS.values():
        url = getattr(recipient, name)
        if url is not None and (given is None or getattr(given, name) != url):
            setattr(shown, name, mask_chat_url(url))
    if recipient.apprise_urls is not None:
        whole = (given.apprise_urls or []) if given is not None else []
        shown.apprise_urls = [
            url if index < len(whole) and whole[index] == url else mask_apprise_url(url)
            for index, url in enumerate(recipient.apprise_urls)
        ]
    return shown


def _kept(given: str | None, existing: str | None, mask: Callable[[str], str]) -> str | None:
    """A masked address sent back unchanged (a GET, edited, PUT again) keeps the stored one."""
    if given is not None and existing is not None and given == mask(existing):
        return existing
    return given


class RecipientService:
    def __init__(
        self,
        *,
        recipients: RecipientStore,
        endpoints: EndpointStore,
        clock: Clock,
        allow_private_webhooks: bool,
        resolve: Resolver,
    ) -> None:
        self._recipients = recipients
        self._endpoints = endpoints
        self._clock = clock
        self._allow_private = allow_private_webhooks
        self._resolve = resolve

    def put(self, tenant_id: str, recipient_id: str, details: RecipientDetails) -> Recipient:
        existing = self._recipients.get_recipient(tenant_id, recipient_id)
        details = self._unmasked(details, existing)
        self._check_addresses(details)
        now = self._clock.now()
        recipient = Recipient(
            tenant_id=tenant_id,
            recipient_id=recipient_id,
            name=details.name,
            email=details.email,
            phone=details.phone,
            webhook_url=details.webhook_url,
            slack_webhook_url=details.slack_webhook_url,
            teams_webhook_url=details.teams_webhook_url,
            discord_webhook_url=details.discord_webhook_url,
            push_tokens=details.push_tokens,
            apprise_urls=details.apprise_urls,
            preferences=(
                existing.preferences
                if details.keep_preferences and existing is not None
                else details.preferences
            ),
            created_at=existing.created_at if existing else now,
            updated_at=now,
        )
        if existing is not None and existing.webhook_url == details.webhook_url:
            # The same endpoint keeps its health; a new URL starts afresh.
            recipient.webhook_failing_since = existing.webhook_failing_since
            recipient.webhook_disabled_at = existing.webhook_disabled_at
        self._recipients.put_recipient(recipient)
        return recipient

    @staticmethod
    def _unmasked(details: RecipientDetails, existing: Recipient | None) -> RecipientDetails:
        if existing is None:
            return details
        chat = {
            name: _kept(getattr(details, name), getattr(existing, name), mask_chat_url)
            for name in CHAT_URL_FIELDS.values()
        }
        apprise_urls = details.apprise_urls
        if apprise_urls is not None and existing.apprise_urls is not None:
            # Matched by position: the n-th masked URL stands for the n-th stored one.
            stored = existing.apprise_urls
            apprise_urls = [
                _kept(url, stored[index] if index < len(stored) else None, mask_apprise_url) or url
                for index, url in enumerate(apprise_urls)
            ]
        return replace(
            details,
            apprise_urls=apprise_urls,
            slack_webhook_url=chat["slack_webhook_url"],
            teams_webhook_url=chat["teams_webhook_url"],
            discord_webhook_url=chat["discord_webhook_url"],
        )

    def _check_addresses(self, details: RecipientDetails) -> None:
        """Raises Invalid naming the first address Tocsin will not send to."""
        allow, resolve = self._allow_private, self._resolve
        checks: list[tuple[list[str | int], Callable[[], None]]] = []
        if details.webhook_url is not None:
            checks.append(
                (
                    ["webhook_url"],
                    partial(
                        check_webhook_url, details.webhook_url, allow_private=allow, resolve=resolve
                    ),
                )
            )
        for channel, name in CHAT_URL_FIELDS.items():
            url = getattr(details, name)
            if url is not None:
                checks.append(
                    (
                        [name],
                        partial(check_chat_url, channel, url, allow_private=allow, resolve=resolve),
                    )
                )
        for index, url in enumerate(details.apprise_urls or []):
            checks.append(
                (
                    ["apprise_urls", index],
                    partial(check_apprise_url, url, allow_private=allow, resolve=resolve),
                )
            )
        for loc, check in checks:
            try:
                check()
            except RefusedTarget as refused:
                raise Invalid(loc, str(refused)) from None

    def get(self, tenant_id: str, recipient_id: str) -> Recipient:
        recipient = self._recipients.get_recipient(tenant_id, recipient_id)
        if recipient is None:
            raise NotFound("recipient")
        return recipient

    def delete(self, tenant_id: str, recipient_id: str) -> None:
        if not self._recipients.delete_recipient(tenant_id, recipient_id):
            raise NotFound("recipient")

    def enable_webhook(self, tenant_id: str, recipient_id: str) -> None:
        """Enables a disabled webhook again (and forgets its failures)."""
        if not self._endpoints.enable_webhook(tenant_id, recipient_id):
            raise NotFound("recipient")
