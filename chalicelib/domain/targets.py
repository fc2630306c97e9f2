"""One delivery, several targets: a recipient's push tokens, or its Apprise URLs.

A channel with several addresses makes one delivery (one status, one attempt count), whose
``targets`` are the addresses it has not reached yet. Each attempt sends to those only and
reports each target's fate; the delivery is delivered once every target is reached or gone (at
least one reached, in this attempt or an earlier one), retried while any target failed
transiently (the reached ones are not sent to again), failed when the rest failed for good, and
skipped (``push_token_invalid``) when every target turned out invalid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from chalicelib.models.common import Reason
from chalicelib.ports import SendOutcome


class Fate(StrEnum):
    REACHED = "reached"
    # The platform says this target will never work (an unregistered push token).
    INVALID = "invalid"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class TargetResult:
    target: str
    fate: Fate
    # Names its target as a person may see it: never a whole token or URL (they are secrets).
    error: str | None = None
    retry_after: float | None = None


def combine(results: Sequence[TargetResult], *, reached_before: int) -> SendOutcome:
    """The outcome of one attempt at every target still open."""
    reached = sum(result.fate is Fate.REACHED for result in results)
    invalid = tuple(result.target for result in results if result.fate is Fate.INVALID)
    retry = [result for result in results if result.fate is Fate.TRANSIENT]
    # Each error names its target as the sender shows it (never a whole token or URL).
    errors = "; ".join(
        result.error for result in results if result.fate is not Fate.REACHED and result.error
    )
    if retry:
        waits = [result.retry_after for result in retry if result.retry_after is not None]
        return SendOutcome(
            delivered=False,
            error=errors,
            retry_after=max(waits) if waits else None,
            remaining=tuple(result.target for result in retry),
            reached=reached,
            invalid=invalid,
        )
    if reached or reached_before:
        return SendOutcome(delivered=True, remaining=(), reached=reached, invalid=invalid)
    if invalid and len(invalid) == len(results):
        return SendOutcome(
            delivered=False,
            permanent=True,
            error=errors or "every push token is invalid",
            skip_reason=Reason.PUSH_TOKEN_INVALID,
            remaining=(),
            invalid=invalid,
        )
    # Failed for good: those that failed stay the targets, for a manual retry (a platform
    # configured meanwhile, a service back); the invalid ones are gone.
    return SendOutcome(
        delivered=False,
        permanent=True,
        error=errors or "no target",
        remaining=tuple(result.target for result in results if result.fate is Fate.PERMANENT),
        invalid=invalid,
    )
