"""The composition root: builds the domain services on their adapters, once per process.

Tests build services on fakes and install them with ``use_services``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from chalicelib import aws
from chalicelib.adapters.dynamodb import DynamoStore
from chalicelib.adapters.email import SesEmailSender
from chalicelib.adapters.messaging import SnsSqsPublisher
from chalicelib.adapters.runtime import LocalFaults, NoFaults, SystemClock
from chalicelib.adapters.sms import SnsSmsSender
from chalicelib.adapters.webhook import WebhookSender, resolve_host
from chalicelib.domain.dead_letters import DeadLetterService
from chalicelib.domain.deliveries import DeliveryService
from chalicelib.domain.inbox import InboxSender, InboxService
from chalicelib.domain.notifications import NotificationService
from chalicelib.domain.recipients import RecipientService
from chalicelib.domain.retry import RetryPolicy
from chalicelib.domain.sweeper import Sweeper
from chalicelib.domain.tenants import TenantService
from chalicelib.models.common import Channel
from chalicelib.models.stored import Tenant
from chalicelib.ports import FaultInjector, HealthProbe, SenderRegistry, TenantStore
from chalicelib.settings import Settings, get_settings

ALL_CHANNELS = frozenset(Channel)
TENANT_CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class Services:
    tenants: TenantService
    recipients: RecipientService
    notifications: NotificationService
    deliveries: DeliveryService
    inbox: InboxService
    dead_letters: DeadLetterService
    sweeper: Sweeper
    health: HealthProbe


class TenantCache:
    """Tenants change rarely (their webhook secret never, so far): a short cache saves a read
    per delivery."""

    def __init__(self, store: TenantStore, clock: SystemClock) -> None:
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


def topic_arn_resolver(settings: Settings) -> str:
    if settings.notifications_topic_arn:
        return settings.notifications_topic_arn
    account = aws.sts().get_caller_identity()["Account"]
    return f"arn:aws:sns:{aws.region()}:{account}:{settings.notifications_topic_name}"


def build_services(settings: Settings) -> Services:
    clock = SystemClock()
    store = DynamoStore(aws.dynamodb(), settings.table_name)
    faults: FaultInjector = NoFaults()
    if settings.is_local:
        faults = LocalFaults(
            crash_before_send=settings.fault_crash_before_send,
            crash_after_send=settings.fault_crash_after_send,
            publish_failure=settings.fault_publish_failure,
            journal=settings.fault_journal,
        )
    topic_arn = lru_cache(maxsize=1)(lambda: topic_arn_resolver(settings))
    publisher = SnsSqsPublisher(
        sns=aws.sns(),
        sqs=aws.sqs(),
        topic_arn=topic_arn,
        dead_letter_queue=settings.deliveries_dlq_name,
    )
    grace = timedelta(seconds=settings.sweep_grace)
    notifications = NotificationService(
        notifications=store,
        recipients=store,
        publisher=publisher,
        clock=clock,
        faults=faults,
        enabled_channels=ALL_CHANNELS,
        idempotency_window=timedelta(seconds=settings.idempotency_window_seconds),
        sweep_grace=grace,
    )
    senders = SenderRegistry(
        {
            Channel.WEBHOOK: WebhookSender(
                clock=clock,
                timeout=settings.webhook_timeout_seconds,
                max_response_bytes=settings.webhook_max_response_bytes,
                allow_private=settings.is_local,
                ipv6_egress=settings.webhook_ipv6_egress,
            ),
            Channel.EMAIL: SesEmailSender(ses=aws.ses(), sender=settings.email_sender),
            Channel.SMS: SnsSmsSender(sns=aws.sns()),
            Channel.INBOX: InboxSender(store),
        }
    )
    return Services(
        tenants=TenantService(tenants=store, clock=clock),
        recipients=RecipientService(
            recipients=store,
            clock=clock,
            allow_private_webhooks=settings.is_local,
            resolve=resolve_host,
        ),
        notifications=notifications,
        deliveries=DeliveryService(
            notifications=store,
            tenant_of=TenantCache(store, clock),
            senders=senders,
            publisher=publisher,
            clock=clock,
            policy=RetryPolicy.local() if settings.is_local else RetryPolicy.default(),
            faults=faults,
            lease=timedelta(seconds=settings.attempt_lease),
            sweep_grace=grace,
        ),
        inbox=InboxService(inbox=store, recipients=store, clock=clock),
        dead_letters=DeadLetterService(
            dead_letters=store,
            notifications=store,
            announcer=notifications,
            clock=clock,
            sweep_grace=grace,
        ),
        sweeper=Sweeper(
            notifications=store, announcer=notifications, clock=clock, sweep_grace=grace
        ),
        health=DynamoStore(aws.dynamodb_probe(), settings.table_name),
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
