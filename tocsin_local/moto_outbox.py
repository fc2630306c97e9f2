"""The local outbox's clock: moto records the emails (SES), text messages and mobile pushes
(SNS) it "sends" but not when. Applied in the local cloud's moto server process, this stamps
each email and text with ``sent_at`` (RFC 3339 UTC), and keeps each push published to a platform
endpoint in the endpoint's ``sent`` list with its time, which moto's ``/moto-api/data.json``
then shows with the rest."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from moto.ses.models import Message
from moto.sns.models import SMS, PlatformEndpoint


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _recorded_pushes() -> None:
    original = PlatformEndpoint.publish
    if getattr(original, "_tocsin_recorded", False):
        return

    @functools.wraps(original)
    def publish(self: Any, message: str) -> str:
        message_id: str = original(self, message)
        if not hasattr(self, "sent"):
            self.sent = []
        self.sent.append({"message_id": message_id, "message": message, "sent_at": _now()})
        return message_id

    publish._tocsin_recorded = True  # type: ignore[attr-defined]
    PlatformEndpoint.publish = publish  # type: ignore[method-assign]


def _stamped(model: Any) -> None:
    original = model.__init__
    if getattr(original, "_tocsin_stamped", False):
        return

    @functools.wraps(original)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.sent_at = _now()

    init._tocsin_stamped = True  # type: ignore[attr-defined]
    model.__init__ = init


def timestamp_outbox() -> None:
    _stamped(Message)
    _stamped(SMS)
    _recorded_pushes()
