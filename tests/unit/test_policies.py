"""Retry schedule, Retry-After, webhook target rules, API keys."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from chalicelib.domain.errors import Unauthorized
from chalicelib.domain.keys import new_api_key, new_webhook_secret, split_api_key
from chalicelib.domain.retry import RetryPolicy, is_transient_status, parse_retry_after
from chalicelib.domain.tenants import TenantService
from chalicelib.domain.webhook_targets import RefusedTarget, check_webhook_url
from tests.fakes import FakeClock, FakeStore

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def test_default_schedule_has_eight_attempts_over_about_a_day() -> None:
    policy = RetryPolicy.default()
    assert policy.max_attempts == 8
    assert 20 * 3600 <= sum(policy.delays) <= 30 * 3600


def test_local_schedule_fits_in_a_minute_with_jitter_and_retries_first_within_two_seconds() -> None:
    policy = RetryPolicy.local()
    assert policy.max_attempts >= 8
    assert sum(delay * (1 + policy.jitter) for delay in policy.delays) < 60
    assert policy.delays[0] * (1 + policy.jitter) <= 2


def test_local_schedule_fits_in_a_minute_when_every_wait_is_a_long_retry_after() -> None:
    policy = RetryPolicy.local()
    waits = [policy.delay_after(n, 3600.0, random.Random(n)) for n in range(1, policy.max_attempts)]
    assert all(wait is not None for wait in waits)
    assert sum(wait or 0 for wait in waits) < 60


def test_no_delay_after_the_last_attempt() -> None:
    policy = RetryPolicy.local()
    assert policy.delay_after(policy.max_attempts, None, random.Random(1)) is None
    assert policy.delay_after(policy.max_attempts - 1, None, random.Random(1)) is not None


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        (408, True),
        (425, True),
        (429, True),
        (500, True),
        (503, True),
        (400, False),
        (404, False),
        (410, False),
    ],
)
def test_transient_statuses(status: int, transient: bool) -> None:
    assert is_transient_status(status) is transient


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("Tue, 24 Nov 2026 10:01:00 GMT", 60.0),
        ("Tue, 24 Nov 2026 09:00:00 GMT", 0.0),
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after_in_seconds_or_http_date(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


def fake_resolver(answers: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise OSError("NXDOMAIN")
        return answers[host]

    return resolve


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "https://169.254.169.254/",
        "https://127.0.0.1/hook",
        "https://10.0.0.7/hook",
        "https://[::1]/hook",
        "https://[::ffff:10.0.0.1]/hook",
        "https://224.0.0.1/hook",
        "https://internal.example.com/hook",
        "https://nowhere.example.com/hook",
        "http://hooks.example.com/hook",
        "https://user:pw@hooks.example.com/hook",
        "hooks.example.com/hook",
    ],
)
def test_outside_local_unsafe_targets_are_refused(url: str) -> None:
    resolve = fake_resolver(
        {"internal.example.com": ["10.1.2.3"], "hooks.example.com": ["93.184.216.34"]}
    )
    with pytest.raises(RefusedTarget):
        check_webhook_url(url, allow_private=False, resolve=resolve)


def test_outside_local_a_public_https_target_is_accepted() -> None:
    check_webhook_url(
        "https://hooks.example.com/in?x=1",
        allow_private=False,
        resolve=fake_resolver({"hooks.example.com": ["93.184.216.34"]}),
    )


def test_locally_loopback_http_is_accepted() -> None:
    check_webhook_url("http://127.0.0.1:9000/hook", allow_private=True, resolve=fake_resolver({}))


def test_api_keys_have_a_public_prefix_and_store_only_a_hash() -> None:
    key = new_api_key()
    prefix, secret = split_api_key(key.plaintext) or ("", "")
    assert prefix == key.prefix
    assert len(prefix) >= 8
    assert secret not in key.key_hash
    assert new_webhook_secret().startswith("whsec_")


def test_authentication_accepts_the_key_and_refuses_tampering_and_revocation() -> None:
    service = TenantService(tenants=FakeStore(), clock=FakeClock())
    issued = service.issue_key("acme")
    assert service.authenticate(issued.api_key) == "acme"
    with pytest.raises(Unauthorized):
        service.authenticate(issued.api_key[:-1] + ("A" if issued.api_key[-1] != "A" else "B"))
    with pytest.raises(Unauthorized):
        service.authenticate(None)
    service.revoke(issued.api_key.split(".")[0])
    with pytest.raises(Unauthorized):
        service.authenticate(issued.api_key)


def test_a_second_key_shares_the_tenants_webhook_secret() -> None:
    service = TenantService(tenants=FakeStore(), clock=FakeClock())
    assert service.issue_key("acme").webhook_secret == service.issue_key("acme").webhook_secret


def test_delays_are_whole_seconds_so_the_queue_never_rounds_them_up() -> None:
    policy = RetryPolicy.local()
    for seed in range(50):
        rng = random.Random(seed)
        delays = [
            policy.delay_after(attempt, None, rng) for attempt in range(1, policy.max_attempts)
        ]
        assert all(delay is not None and delay == int(delay) and delay >= 1 for delay in delays)
        assert delays[0] == 1
    assert policy.delay_after(1, 2.3, random.Random(1)) == 3
