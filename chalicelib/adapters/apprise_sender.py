"""Every other service, through Apprise (https://github.com/caronc/apprise).

The only module that imports Apprise. Importing it takes 0.3-2 s, so it is loaded only where an
Apprise delivery is sent: ``chalicelib.wiring`` defers building this sender to the first send,
which happens in the ``deliver_apprise`` function alone (``tests/unit/test_apprise.py`` checks
that ``app`` and the other deliver functions never import it; ``bench/e2e.py`` prints the
import times).

A recipient's Apprise URLs are the delivery's targets, each sent on a thread of its own. Apprise
says only whether a service took the message, not why it did not: a URL Apprise cannot use
fails for good, any other failure is retried (only the targets that failed are sent again).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import apprise

from chalicelib.domain.apprise_targets import check_apprise_url, mask_apprise_url
from chalicelib.domain.targets import Fate, TargetResult, combine
from chalicelib.domain.webhook_targets import RefusedTarget, Resolver
from chalicelib.models.common import Channel, Severity
from chalicelib.models.stored import Delivery, Tenant
from chalicelib.ports import Outgoing, SendOutcome

NOTIFY_TYPES = {
    Severity.INFO: apprise.NotifyType.INFO,
    Severity.WARNING: apprise.NotifyType.WARNING,
    Severity.CRITICAL: apprise.NotifyType.FAILURE,
}


def apprise_text(outgoing: Outgoing) -> tuple[str, str]:
    """(title, body) as Apprise sends them: the body with the notification's link, if any."""
    content = outgoing.content
    lines = [content.body] if content.body else []
    url = (content.data or {}).get("url")
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        lines.append(url)
    if not lines:
        # Apprise refuses an empty body: a title alone is sent as the body.
        return "", content.title
    return content.title, "\n\n".join(lines)


class AppriseSender:
    channel = Channel.APPRISE

    def __init__(self, *, allow_private: bool, resolve: Resolver, timeout: float) -> None:
        self._allow_private = allow_private
        self._resolve = resolve
        self._timeout = timeout

    def send(self, outgoing: Outgoing, delivery: Delivery, tenant: Tenant) -> SendOutcome:
        targets = delivery.targets or []
        if not targets:
            return combine([], reached_before=delivery.targets_reached)
        with ThreadPoolExecutor(max_workers=len(targets)) as pool:
            results = list(pool.map(lambda url: self._send_one(outgoing, url), targets))
        return combine(results, reached_before=delivery.targets_reached)

    def _send_one(self, outgoing: Outgoing, url: str) -> TargetResult:
        shown = mask_apprise_url(url)
        try:
            check_apprise_url(url, allow_private=self._allow_private, resolve=self._resolve)
        except RefusedTarget as refused:
            return TargetResult(url, Fate.PERMANENT, f"{shown}: refused: {refused}")
        service = apprise.Apprise()
        if not service.add(url):
            return TargetResult(url, Fate.PERMANENT, f"{shown}: not a URL Apprise can use")
        title, body = apprise_text(outgoing)
        sent = service.notify(
            body=body,
            title=title,
            notify_type=NOTIFY_TYPES[outgoing.content.severity],
            body_format=apprise.NotifyFormat.TEXT,
            # One deadline for the whole exchange, as a webhook has.
            timeout=self._timeout,
        )
        if sent:
            return TargetResult(url, Fate.REACHED)
        return TargetResult(url, Fate.TRANSIENT, f"{shown}: the service did not take it")
