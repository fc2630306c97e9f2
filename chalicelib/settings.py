"""Configuration, parsed once from the environment (set per stage in .chalice/config.json)."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from chalicelib.models.common import Channel


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
    # Fault injection (probabilities, 0..1). Honoured only in the local stage.
    fault_crash_before_send: float = Field(default=0.0, ge=0.0, le=1.0)
    fault_crash_after_send: float = Field(default=0.0, ge=0.0, le=1.0)
    fault_publish_failure: float = Field(default=0.0, ge=0.0, le=1.0)
    # A crash in the middle of a fan-out page's writes, and one between pages.
    fault_crash_in_fanout: float = Field(default=0.0, ge=0.0, le=1.0)
    # Where injected faults are written down (one JSON line each), for the fault tests.
    fault_journal: str | None = None

    @property
    def is_local(self) -> bool:
        return self.stage is Stage.LOCAL

    @property
    def attempt_lease(self) -> float:
        if self.attempt_lease_seconds is not None:
            return self.attempt_lease_seconds
        return self.webhook_timeout_seconds + 10.0

    def delivery_queue(self, channel: Channel) -> str:
        return f"{self.deliveries_queue_name}-{channel.value}"

    def delivery_dlq(self, channel: Channel) -> str:
        return f"{self.delivery_queue(channel)}-dlq"

    @property
    def fanout_dlq_name(self) -> str:
        return f"{self.fanout_queue_name}-dlq"

    @property
    def endpoint_disable_after(self) -> float:
        if self.endpoint_disable_after_seconds is not None:
            return self.endpoint_disable_after_seconds
        return 60.0 if self.is_local else 5 * 24 * 3600.0

    @property
    def sweep_grace(self) -> float:
        if self.sweep_grace_seconds is not None:
            return self.sweep_grace_seconds
        return 10.0 if self.is_local else 300.0


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
