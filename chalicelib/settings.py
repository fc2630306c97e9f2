"""Configuration, parsed once from the environment (set per stage in .chalice/config.json)."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from chalicelib.models.common import Channel, PushPlatform


class Stage(StrEnum):
    LOCAL = "local"
    DEV = "dev"
    PROD = "prod"


class Settings(BaseSettings):
    """Every name and limit the deployed code needs; infra/ builds the resources from these."""

    model_config = SettingsConfigDict(env_prefix="TOCSIN_", frozen=True)

    stage: Stage = Stage.DEV
    table_name: str = "tocsin"
    notifications_topic_name: str = "tocsin-notifications"
    # Set by the deploy template and the local stack; otherwise derived from the topic name
    # and the caller's account (one STS call per process).
    notifications_topic_arn: str | None = None
    # Each queued channel has a queue of its own, named from this (``tocsin-deliveries-webhook``)
    # with its DLQ (``...-webhook-dlq``); topic notifications are expanded from the fan-out queue.
    deliveries_queue_name: str = "tocsin-deliveries"
    fanout_queue_name: str = "tocsin-fanout"
    # Timers (scheduled deliveries, digest windows) are handed to this queue, delayed until due.
    timers_queue_name: str = "tocsin-timers"
    # Notifications one digest window lists at most; the next opens a window of its own.
    digest_max_items: int = Field(default=100, ge=1, le=500)
    email_sender: str = "notifications@tocsin.local"

    max_body_bytes: int = 256 * 1024
    # How long a console sign-in lasts (the session also ends with its API key, or sign-out).
    console_session_seconds: int = Field(default=8 * 3600, ge=60, le=7 * 24 * 3600)
    idempotency_window_seconds: int = 24 * 3600
    webhook_timeout_seconds: float = 10.0
    webhook_max_response_bytes: int = 64 * 1024
    # Whether the functions can reach IPv6 addresses (Lambda outside a dual-stack VPC cannot):
    # without, a webhook host's IPv4 addresses are tried first.
    webhook_ipv6_egress: bool = False
    # A delivery attempt holds a lease this long (default: the webhook timeout plus 10 s); it
    # outlives the send so that two receipts of one message never send concurrently.
    attempt_lease_seconds: float | None = None
    # A notification still open this long after its next step was due is republished.
    sweep_grace_seconds: float | None = None
    # A webhook failing for this long with no success between is disabled (default 5 days, like
    # Svix; local stage 60 s). While it fails, at most this many sends to it run at once.
    endpoint_disable_after_seconds: float | None = None
    endpoint_max_concurrency: int = Field(default=2, ge=1, le=10)
    # Recipients a topic notification expands per fan-out step.
    fanout_page_size: int = Field(default=500, ge=1, le=5000)
    # SNS platform applications for mobile push, one per platform, made outside the repository
    # with the platform's credentials (README, Mobile push); a platform left unset is not sent
    # to. The local stack makes its own in the local cloud.
    push_fcm_application_arn: str | None = None
    push_apns_application_arn: str | None = None
    push_apns_sandbox_application_arn: str | None = None
    # Fault injection (probabilities, 0..1). Honoured only in the local stage.
    fault_crash_before_send: float = Field(default=0.0, ge=0.0, le=1.0)
    fault_crash_after_send: float = Field(default=0.0, ge=0.0, le=1.0)
    fault_publish_failure: float = Field(default=0.0, ge=0.0, le=1.0)
    # A crash in the middle of a fan-out page's writes, and one between pages.
    fault_crash_in_fanout: float = Field(default=0.0, ge=0.0, le=1.0)
    # Where injected faults are written down (one JSON line each), for the fault tests.
    fault_journal: str | None = None

    # Alerting. The API's public base URL, for the acknowledge links of alert notifications
    # (default: the address of the request that triggered the alert).
    public_url: str | None = None
    # How long an acknowledge link stays valid (it also stops working once its alert resolves).
    ack_link_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    # Rate limits (api.md, Rate limits): events a window, per integration (as PagerDuty: 120 a
    # minute) and per tenant (notifications, alert events and webhook calls together).
    rate_limit_window_seconds: int = Field(default=60, ge=1, le=3600)
    rate_limit_integration: int = Field(default=120, ge=1)
    rate_limit_tenant: int = Field(default=6000, ge=1)
    # A topic notification still fanning out when its alert was acknowledged is looked at again
    # after this long, to cancel what its later pages queued.
    alert_recheck_seconds: float | None = None

    @property
    def is_local(self) -> bool:
        return self.stage is Stage.LOCAL

    @property
    def attempt_lease(self) -> float:
        if self.attempt_lease_seconds is not None:
            return self.attempt_lease_seconds
        return self.webhook_timeout_seconds + 10.0

    @property
    def push_applications(self) -> dict[PushPlatform, str]:
        arns = {
            PushPlatform.FCM: self.push_fcm_application_arn,
            PushPlatform.APNS: self.push_apns_application_arn,
            PushPlatform.APNS_SANDBOX: self.push_apns_sandbox_application_arn,
        }
        return {platform: arn for platform, arn in arns.items() if arn}

    def delivery_queue(self, channel: Channel) -> str:
        return f"{self.deliveries_queue_name}-{channel.value}"

    def delivery_dlq(self, channel: Channel) -> str:
        return f"{self.delivery_queue(channel)}-dlq"

    @property
    def fanout_dlq_name(self) -> str:
        return f"{self.fanout_queue_name}-dlq"

    @property
    def timers_dlq_name(self) -> str:
        return f"{self.timers_queue_name}-dlq"

    @property
    def endpoint_disable_after(self) -> float:
        if self.endpoint_disable_after_seconds is not None:
            return self.endpoint_disable_after_seconds
        return 60.0 if self.is_local else 5 * 24 * 3600.0

    @property
    def alert_recheck(self) -> float:
        if self.alert_recheck_seconds is not None:
            return self.alert_recheck_seconds
        return 2.0 if self.is_local else 30.0

    @property
    def sweep_grace(self) -> float:
        if self.sweep_grace_seconds is not None:
            return self.sweep_grace_seconds
        return 10.0 if self.is_local else 300.0


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
