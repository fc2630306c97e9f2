"""The composition root: builds the domain services on their adapters, once per process.

In the local stage, and only there, the fault campaign's injected failures wrap the ports here
(``chalicelib.adapters.faults``); the domain never sees them. Tests build services on fakes and
install them with ``use_services``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from chalicelib import aws
from chalicelib.adapters.dynamodb import DynamoStore
from chalicelib.adapters.email import SesEmailSender
from chalicelib.adapters.faults import (
    FaultInjector,
    FaultyFanoutStore,
    FaultyPublisher,
    FaultySender,
    WitnessedDeliveryStore,
)
from chalicelib.adapters.messaging import SnsSqsPublisher
from chalicelib.adapters.runtime import SystemClock
from chalicelib.adapters.sms import SnsSmsSender
from chalicelib.adapters.timer_queue import SqsTimerQueue
from chalicelib.adapters.webhook import JsonPoster, WebhookSender, resolve_host
from chalicelib.domain.chat_targets import CHAT_CHANNELS
from chalicelib.domain.console import KeyService, OverviewService, RecipientListing
from chalicelib.domain.dead_letters import DeadLetterService
from chalicelib.domain.deliveries import DeliveryService
from chalicelib.domain.digests import DigestService
from chalicelib.domain.endpoints import EndpointHealth
from chalicelib.domain.fanout import FanoutService
from chalicelib.domain.inbox import InboxService
from chalicelib.domain.notifications import NotificationService, Planning
from chalicelib.domain.preferences import PreferenceService
from chalicelib.domain.recipients import RecipientService
from chalicelib.domain.retry import RetryPolicy
from chalicelib.domain.schedules import Scheduler
from chalicelib.domain.sessions import SessionService
from chalicelib.domain.sweeper import Sweeper
from chalicelib.domain.templates import TemplateService
from chalicelib.domain.tenants import TenantService
from chalicelib.domain.topics import SubscriptionService
from chalicelib.models.common import Channel
from chalicelib.models.stored import Delivery, Tenant
from chalicelib.ports import (
    ChannelSender,
    Clock,
    DeliveryStore,
    FanoutStore,
    HealthProbe,
    Outgoing,
    Publisher,
    PushEndpointStore,
    SenderRegistry,
    SendOutcome,
    TenantStore,
)
from chalicelib.settings import Settings, get_settings
from chalicelib.wiring_alerts import AlertServices, build_alerting

ALL_CHANNELS = frozenset(Channel)


def enabled_channels(settings: Settings) -> frozenset[Channel]:
    """The channels this deployment sends: push only once a platform application is set (api.md:
    a channel a deployment does not send is skipped, ``channel_unavailable``, not failed)."""
    if settings.push_applications:
        return ALL_CHANNELS
    return ALL_CHANNELS - {Channel.PUSH}


TENANT_CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class Services:
    tenants: TenantService
    recipients: RecipientService
    subscriptions: SubscriptionService
    notifications: NotificationService
    deliveries: DeliveryService
    fanout: FanoutService
    inbox: InboxService
    dead_letters: DeadLetterService
    sweeper: Sweeper
    health: HealthProbe
    preferences: PreferenceService
    templates: TemplateService
    scheduler: Scheduler
    # Alerts, silences, escalation policies, integrations, rate limits (chalicelib.wiring_alerts).
    alerting: AlertServices
    console: ConsoleServices


@dataclass(frozen=True)
class ConsoleServices:
    """What the console adds: sessions and read-only listings (its actions use the above)."""

    sessions: SessionService
    overview: OverviewService
    recipients: RecipientListing
    keys: KeyService


class TenantCache:
    """Tenants change rarely (their webhook secret never, so far): a short cache saves a read
    per delivery."""

    def __init__(self, store: TenantStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._cache: dict[str, tuple[float, Tenant | None]] = {}

    def __call__(self, name: str) -> Tenant | None:
        now = self._clock.now().timestamp()
        cached = self._cache.get(name)
        if cached is not None and now - cached[0] < TENANT_CACHE_SECONDS:
            return cached[1]
        tenant = self._store.get_tenant(name)
        self._cache[name] = (now, tenant)
        return tenant


class DeferredSender:
    """A sender built on its first send: its module, and what that imports, is loaded only in
    the function that sends on its channel (Apprise: 0.3-2 s of imports), so that the other
    functions' cold starts stay as they were."""

    def __init__(self, channel: Channel, build: Callable[[], ChannelSender]) -> None:
        self.channel = channel
        self._build = build
        self._sender: ChannelSender | None = None
        self._lock = threading.Lock()

    def send(self, outgoing: Outgoing, delivery: Delivery, tenant: Tenant) -> SendOutcome:
        if self._sender is None:
            with self._lock:
                if self._sender is None:
                    self._sender = self._build()
        return self._sender.send(outgoing, delivery, tenant)


def chat_sender(channel: Channel, settings: Settings, clock: Clock) -> ChannelSender:
    from chalicelib.adapters.chat import ChatSender

    return ChatSender(
        channel,
        poster=JsonPoster(
            clock=clock,
            timeout=settings.webhook_timeout_seconds,
            max_response_bytes=settings.webhook_max_response_bytes,
            allow_private=settings.is_local,
            ipv6_egress=settings.webhook_ipv6_egress,
            name=channel.value,
        ),
        allow_private=settings.is_local,
    )


def push_sender(settings: Settings, endpoints: PushEndpointStore) -> ChannelSender:
    from chalicelib.adapters.push import SnsPushSender

    return SnsPushSender(
        sns=aws.sns(), endpoints=endpoints, applications=settings.push_applications
    )


def apprise_sender(settings: Settings) -> ChannelSender:
    from chalicelib.adapters.apprise_sender import AppriseSender

    return AppriseSender(
        allow_private=settings.is_local,
        resolve=resolve_host,
        timeout=settings.webhook_timeout_seconds,
    )


def topic_arn_resolver(settings: Settings) -> str:
    if settings.notifications_topic_arn:
        return settings.notifications_topic_arn
    account = aws.sts().get_caller_identity()["Account"]
    return f"arn:aws:sns:{aws.region()}:{account}:{settings.notifications_topic_name}"


@dataclass(frozen=True)
class Ports:
    """The ports that fault injection may wrap."""

    publisher: Publisher
    deliveries: DeliveryStore
    fanout: FanoutStore
    senders: dict[Channel, ChannelSender]


def _with_faults(ports: Ports, settings: Settings) -> Ports:
    faults = FaultInjector(
        crash_before_send=settings.fault_crash_before_send,
        crash_after_send=settings.fault_crash_after_send,
        publish_failure=settings.fault_publish_failure,
        crash_in_fanout=settings.fault_crash_in_fanout,
        journal=settings.fault_journal,
    )
    return Ports(
        publisher=FaultyPublisher(ports.publisher, faults),
        deliveries=WitnessedDeliveryStore(ports.deliveries, faults),
        fanout=FaultyFanoutStore(ports.fanout, faults),
        senders={
            channel: FaultySender(sender, faults) for channel, sender in ports.senders.items()
        },
    )


def build_services(settings: Settings) -> Services:
    clock = SystemClock()
    store = DynamoStore(aws.dynamodb(), settings.table_name)
    topic_arn = lru_cache(maxsize=1)(lambda: topic_arn_resolver(settings))
    ports = Ports(
        publisher=SnsSqsPublisher(
            sns=aws.sns(),
            sqs=aws.sqs(),
            topic_arn=topic_arn,
            queue_name=settings.delivery_queue,
            dead_letter_queue_name=settings.delivery_dlq,
        ),
        deliveries=store,
        fanout=store,
        senders={
            Channel.WEBHOOK: WebhookSender(
                clock=clock,
                timeout=settings.webhook_timeout_seconds,
                max_response_bytes=settings.webhook_max_response_bytes,
                allow_private=settings.is_local,
                ipv6_egress=settings.webhook_ipv6_egress,
            ),
            Channel.EMAIL: SesEmailSender(ses=aws.ses(), sender=settings.email_sender),
            Channel.SMS: SnsSmsSender(sns=aws.sns()),
            **{
                channel: DeferredSender(
                    channel, functools.partial(chat_sender, channel, settings, clock)
                )
                for channel in CHAT_CHANNELS
            },
            Channel.PUSH: DeferredSender(
                Channel.PUSH, functools.partial(push_sender, settings, store)
            ),
            Channel.APPRISE: DeferredSender(
                Channel.APPRISE, functools.partial(apprise_sender, settings)
            ),
        },
    )
    if settings.is_local:
        ports = _with_faults(ports, settings)
    grace = timedelta(seconds=settings.sweep_grace)
    templates = TemplateService(templates=store, recipients=store, clock=clock)
    timer_queue = SqsTimerQueue(sqs=aws.sqs(), queue_name=lambda: settings.timers_queue_name)
    notifications = NotificationService(
        notifications=store,
        recipients=store,
        publisher=ports.publisher,
        clock=clock,
        enabled_channels=enabled_channels(settings),
        idempotency_window=timedelta(seconds=settings.idempotency_window_seconds),
        sweep_grace=grace,
        planning=Planning(
            preferences=store,
            templates=templates,
            digests=store,
            timers=timer_queue,
            deliveries=ports.deliveries,
            subscriptions=store,
            digest_max_items=settings.digest_max_items,
        ),
    )
    digests = DigestService(
        digests=store,
        notifications=store,
        recipients=store,
        announce=notifications.announce,
        clock=clock,
        enabled_channels=ALL_CHANNELS,
        sweep_grace=grace,
    )
    endpoints = EndpointHealth(
        endpoints=store,
        recipients=store,
        clock=clock,
        disable_after=timedelta(seconds=settings.endpoint_disable_after),
        max_concurrency=settings.endpoint_max_concurrency,
    )
    tenants = TenantService(tenants=store, clock=clock)
    return Services(
        tenants=tenants,
        recipients=RecipientService(
            recipients=store,
            endpoints=store,
            clock=clock,
            allow_private_webhooks=settings.is_local,
            resolve=resolve_host,
        ),
        subscriptions=SubscriptionService(subscriptions=store, recipients=store, clock=clock),
        notifications=notifications,
        deliveries=DeliveryService(
            deliveries=ports.deliveries,
            notifications=store,
            recipients=store,
            tenant_of=TenantCache(store, clock),
            senders=SenderRegistry(ports.senders),
            publisher=ports.publisher,
            endpoints=endpoints,
            clock=clock,
            policy=RetryPolicy.local() if settings.is_local else RetryPolicy.default(),
            lease=timedelta(seconds=settings.attempt_lease),
            sweep_grace=grace,
            digests=store,
        ),
        fanout=FanoutService(
            notifications=store,
            fanout=ports.fanout,
            subscriptions=store,
            recipients=store,
            publisher=ports.publisher,
            clock=clock,
            enabled_channels=enabled_channels(settings),
            page_size=settings.fanout_page_size,
            sweep_grace=grace,
            audience=notifications.audience,
            timers=store,
            hint=notifications.hint,
            cancel=notifications.cancel_deliveries,
        ),
        inbox=InboxService(inbox=store, recipients=store, clock=clock),
        dead_letters=DeadLetterService(
            dead_letters=store,
            deliveries=ports.deliveries,
            notifications=store,
            publisher=ports.publisher,
            clock=clock,
            sweep_grace=grace,
        ),
        sweeper=Sweeper(
            sweep=store,
            deliveries=ports.deliveries,
            notifications=store,
            fanout=ports.fanout,
            publisher=ports.publisher,
            clock=clock,
            sweep_grace=grace,
        ),
        health=DynamoStore(aws.dynamodb_probe(), settings.table_name),
        console=ConsoleServices(
            sessions=SessionService(
                tenants=store,
                sessions=store,
                clock=clock,
                ttl=timedelta(seconds=settings.console_session_seconds),
            ),
            overview=OverviewService(
                notifications=store, recipients=store, dead_letters=store, clock=clock
            ),
            recipients=RecipientListing(recipients=store),
            keys=KeyService(tenants=tenants, store=store, directory=store),
        ),
        preferences=PreferenceService(preferences=store, recipients=store),
        templates=templates,
        scheduler=Scheduler(
            timers=store,
            queue=timer_queue,
            deliveries=ports.deliveries,
            notifications=store,
            publisher=ports.publisher,
            clock=clock,
            sweep_grace=grace,
            close_digest=digests.close,
        ),
        alerting=build_alerting(settings, notifications=notifications, clock=clock),
    )


_lock = threading.Lock()
_services: Services | None = None


def services() -> Services:
    global _services
    if _services is None:
        with _lock:
            if _services is None:
                _services = build_services(get_settings())
    return _services


def use_services(replacement: Services | None) -> None:
    """Installs services built elsewhere (tests: on fakes); None rebuilds from settings."""
    global _services
    with _lock:
        _services = replacement
