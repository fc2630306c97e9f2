"""Silences: label matchers and a time range, as Alertmanager has them.

An alert matches a silence when its labels match every matcher: ``=`` / ``!=`` compare the
label's value (a missing label is the empty string), ``=~`` / ``!~`` match a regular expression
against the whole value. Expressions run on RE2 (``google-re2``), the engine Alertmanager uses:
a pattern means here what it means there, and matching takes linear time whatever the pattern,
so no silence can stall a request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from ulid import ULID

from chalicelib.alert_ports import SilenceStore
from chalicelib.domain.errors import Invalid, NotFound
from chalicelib.models.alerts import Matcher, Silence
from chalicelib.ports import Clock, Page

MAX_SILENCE_SECONDS = 366 * 24 * 3600


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> Any:
    import re2  # imported by the first regex matcher only: most silences have none

    options = re2.Options()
    options.log_errors = False
    return re2.compile(pattern, options)


def check_pattern(pattern: str) -> str | None:
    """Why ``pattern`` is not a valid expression, or None."""
    import re2

    try:
        _compiled(pattern)
    except re2.error as error:
        message = error.args[0] if error.args else "invalid"
        return message.decode() if isinstance(message, bytes) else str(message)
    return None


def matcher_matches(matcher: Matcher, labels: Mapping[str, str]) -> bool:
    value = labels.get(matcher.name, "")
    if matcher.is_regex:
        found = _compiled(matcher.value).fullmatch(value) is not None
    else:
        found = value == matcher.value
    return found if matcher.is_equal else not found


def silences(silence: Silence, labels: Mapping[str, str], now: datetime) -> bool:
    return silence.state(now) == "active" and all(
        matcher_matches(matcher, labels) for matcher in silence.matchers
    )


@dataclass(frozen=True)
class SilenceDetails:
    matchers: Sequence[Matcher]
    ends_at: datetime
    starts_at: datetime | None = None
    comment: str | None = None


class SilenceService:
    def __init__(self, *, silences: SilenceStore, clock: Clock) -> None:
        self._silences = silences
        self._clock = clock

    def create(self, tenant_id: str, details: SilenceDetails) -> Silence:
        now = self._clock.now()
        for index, matcher in enumerate(details.matchers):
            if matcher.is_regex and (problem := check_pattern(matcher.value)) is not None:
                raise Invalid(["matchers", index, "value"], f"not a valid expression: {problem}")
        starts_at = details.starts_at or now
        if details.ends_at <= now:
            raise Invalid(["ends_at"], "must be in the future")
        if details.ends_at <= starts_at:
            raise Invalid(["ends_at"], "must be after starts_at")
        if details.ends_at - starts_at > timedelta(seconds=MAX_SILENCE_SECONDS):
            raise Invalid(["ends_at"], "a silence lasts at most 366 days")
        silence = Silence(
            tenant_id=tenant_id,
            id=str(ULID.from_datetime(now)),
            matchers=list(details.matchers),
            starts_at=starts_at,
            ends_at=details.ends_at,
            comment=details.comment,
            created_at=now,
        )
        self._silences.put_silence(silence)
        return silence

    def get(self, tenant_id: str, silence_id: str) -> Silence:
        silence = self._silences.get_silence(tenant_id, silence_id)
        if silence is None:
            raise NotFound("silence")
        return silence

    def list(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page[Silence]:
        return self._silences.list_silences(tenant_id, limit=limit, cursor=cursor)

    def expire(self, tenant_id: str, silence_id: str) -> Silence:
        silence = self._silences.expire_silence(tenant_id, silence_id, self._clock.now())
        if silence is None:
            raise NotFound("silence")
        return silence

    def silencing(self, tenant_id: str, labels: Mapping[str, str]) -> Silence | None:
        """Of the active silences that match the labels, the one that ends last."""
        now = self._clock.now()
        matching = [
            silence
            for silence in self._silences.live_silences(tenant_id, now)
            if silences(silence, labels, now)
        ]
        return max(matching, key=lambda silence: silence.ends_at, default=None)
