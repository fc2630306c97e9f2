"""Topics and subscriptions: who a notification to a topic reaches.

A pattern has AMQP topic-exchange semantics over the ``.``-separated words of a topic: ``*``
matches exactly one word, ``#`` zero or more. Subscriptions are indexed by their pattern's first
word (a word, ``*`` or ``#``), so a topic's matches are found in three lists, each ordered by
recipient id: merged, they give each recipient once with all of its matching subscriptions, a
page at a time, from any recipient on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain import cursors
from chalicelib.domain.errors import Invalid, NotFound
from chalicelib.models.common import Channel, Severity
from chalicelib.models.stored import Content, Subscription
from chalicelib.ports import Clock, Matched, Page, RecipientStore, SubscriptionStore

ONE_WORD = "*"
ANY_WORDS = "#"


def pattern_matches(pattern: str, topic: str) -> bool:
    """AMQP topic matching in O(words of pattern x words of topic)."""
    words = pattern.split(".")
    topic_words = topic.split(".")
    # reachable[j]: the pattern's words so far can match the topic's first j words.
    reachable = [True] + [False] * len(topic_words)
    for word in words:
        if word == ANY_WORDS:
            for j in range(1, len(reachable)):
                reachable[j] = reachable[j] or reachable[j - 1]
            continue
        reachable = [False] + [
            reachable[j] and (word == ONE_WORD or word == topic_words[j])
            for j in range(len(topic_words))
        ]
    return reachable[-1]


def first_word(pattern: str) -> str:
    return pattern.split(".", 1)[0]


def first_words_for(topic: str) -> tuple[str, ...]:
    """The index lists where a topic's matching subscriptions can be."""
    return (first_word(topic), ONE_WORD, ANY_WORDS)


def keeps(subscription: Subscription, topic: str, content: Content | None) -> bool:
    """Whether the subscription matches the topic and, given a notification's content, its
    severity and category filters."""
    if not pattern_matches(subscription.pattern, topic):
        return False
    if content is None:
        return True
    if (
        subscription.min_severity is not None
        and content.severity.rank < subscription.min_severity.rank
    ):
        return False
    return subscription.categories is None or content.category in subscription.categories


def channels_of(subscriptions: Sequence[Subscription]) -> set[Channel] | None:
    """The union of the subscriptions' channels; None when one of them takes every channel."""
    united: set[Channel] = set()
    for subscription in subscriptions:
        if subscription.channels is None:
            return None
        united.update(subscription.channels)
    return united


@dataclass(frozen=True)
class SubscriptionDetails:
    recipient_id: str
    pattern: str
    min_severity: Severity | None = None
    categories: list[str] | None = None
    channels: list[Channel] | None = None


class TopicReach:
    """Who a topic reaches, a page of recipients at a time, in recipient id order."""

    def __init__(self, subscriptions: SubscriptionStore) -> None:
        self._subscriptions = subscriptions

    def page(
        self,
        tenant_id: str,
        topic: str,
        *,
        content: Content | None,
        after: str | None,
        limit: int,
    ) -> tuple[list[Matched], str | None]:
        """(recipients after ``after`` with their matching subscriptions, up to ``limit`` of
        them; the last recipient examined when more may follow, else None)."""
        # One more than a page: with one subscription per recipient, a full page of
        # recipients ends before the first one left out.
        fetch = limit + 1
        while True:
            lists = [
                self._subscriptions.subscriptions_by_first_word(
                    tenant_id, word, after_recipient=after, limit=fetch
                )
                for word in dict.fromkeys(first_words_for(topic))
            ]
            # A list cut short may hold more subscriptions of its last recipient: the page
            # ends before the smallest such recipient, which the next page starts with.
            bounds = [page.items[-1].recipient_id for page in lists if page.next_cursor]
            bound = min(bounds) if bounds else None
            found: dict[str, list[Subscription]] = {}
            for page in lists:
                for subscription in page.items:
                    if bound is not None and subscription.recipient_id >= bound:
                        break
                    found.setdefault(subscription.recipient_id, []).append(subscription)
            if bound is not None and not found:
                fetch *= 2  # one recipient with more subscriptions than a page: read more
                continue
            ordered = sorted(found)
            examined_to = None
            if len(ordered) > limit:
                ordered = ordered[:limit]
                examined_to = ordered[-1]
            elif bound is not None:
                examined_to = ordered[-1]
            matched = [
                Matched(recipient, kept)
                for recipient in ordered
                if (kept := [s for s in found[recipient] if keeps(s, topic, content)])
            ]
            return matched, examined_to


class SubscriptionService:
    def __init__(
        self, *, subscriptions: SubscriptionStore, recipients: RecipientStore, clock: Clock
    ) -> None:
        self._subscriptions = subscriptions
        self._recipients = recipients
        self._clock = clock
        self._reach = TopicReach(subscriptions)

    def put(
        self, tenant_id: str, subscription_id: str, details: SubscriptionDetails
    ) -> Subscription:
        if self._recipients.get_recipient(tenant_id, details.recipient_id) is None:
            raise Invalid(["recipient_id"], "no recipient with this id")
        existing = self._subscriptions.get_subscription(tenant_id, subscription_id)
        now: datetime = self._clock.now()
        subscription = Subscription(
            tenant_id=tenant_id,
            subscription_id=subscription_id,
            recipient_id=details.recipient_id,
            pattern=details.pattern,
            min_severity=details.min_severity,
            categories=details.categories,
            channels=details.channels,
            created_at=existing.created_at if existing else now,
        )
        self._subscriptions.put_subscription(subscription)
        return subscription

    def get(self, tenant_id: str, subscription_id: str) -> Subscription:
        subscription = self._subscriptions.get_subscription(tenant_id, subscription_id)
        if subscription is None:
            raise NotFound("subscription")
        return subscription

    def delete(self, tenant_id: str, subscription_id: str) -> None:
        if not self._subscriptions.delete_subscription(tenant_id, subscription_id):
            raise NotFound("subscription")

    def list(
        self,
        tenant_id: str,
        *,
        recipient_id: str | None,
        pattern: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Subscription]:
        def wanted(subscription: Subscription) -> bool:
            return (recipient_id is None or subscription.recipient_id == recipient_id) and (
                pattern is None or subscription.pattern == pattern
            )

        keep = wanted if recipient_id is not None or pattern is not None else None
        return self._subscriptions.list_subscriptions(
            tenant_id, keep=keep, limit=limit, cursor=cursor
        )

    def subscribers(
        self, tenant_id: str, topic: str, *, limit: int, cursor: str | None
    ) -> Page[Matched]:
        """Who a notification to ``topic`` would reach now (severity and category aside)."""
        scope = f"subscribers:{tenant_id}:{topic}"
        matched, examined_to = self._reach.page(
            tenant_id, topic, content=None, after=cursors.decode(scope, cursor), limit=limit
        )
        return Page(matched, None if examined_to is None else cursors.encode(scope, examined_to))
