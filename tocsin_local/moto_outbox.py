"""The local outbox's clock: moto records the emails (SES) and text messages (SNS) it "sends"
but not when. Applied in the local cloud's moto server process, this stamps each with
``sent_at`` (RFC 3339 UTC), which moto's ``/moto-api/data.json`` then shows with the rest."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from moto.ses.models import Message
from moto.sns.models import SMS


def _stamped(model: Any) -> None:
    original = model.__init__
    if getattr(original, "_tocsin_stamped", False):
        return

    @functools.wraps(original)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.sent_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    init._tocsin_stamped = True  # type: ignore[attr-defined]
    model.__init__ = init


def timestamp_outbox() -> None:
    _stamped(Message)
    _stamped(SMS)
