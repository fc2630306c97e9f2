"""Console sessions on fakes: expiry, sign-out, revocation, forgery, CSRF tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain.errors import Unauthorized
from chalicelib.domain.sessions import SessionService
from chalicelib.domain.tenants import TenantService
from tests.fakes import FakeClock, FakeStore

TTL = timedelta(hours=8)


@pytest.fixture
def world() -> tuple[SessionService, TenantService, FakeClock]:
    store, clock = FakeStore(), FakeClock()
    tenants = TenantService(tenants=store, clock=clock)
    return SessionService(tenants=store, sessions=store, clock=clock, ttl=TTL), tenants, clock


def test_a_session_lasts_its_ttl_and_no_longer(
    world: tuple[SessionService, TenantService, FakeClock],
) -> None:
    sessions, tenants, clock = world
    signed_in = sessions.sign_in(tenants.issue_key("acme").api_key)
    clock.advance(TTL.total_seconds() - 1)
    assert sessions.resolve(signed_in.cookie).tenant == "acme"
    clock.advance(1)
    with pytest.raises(Unauthorized):
        sessions.resolve(signed_in.cookie)


def test_sign_out_and_revocation_end_a_session(
    world: tuple[SessionService, TenantService, FakeClock],
) -> None:
    sessions, tenants, _ = world
    key = tenants.issue_key("acme").api_key
    first, second = sessions.sign_in(key), sessions.sign_in(key)
    sessions.sign_out(first.cookie)
    with pytest.raises(Unauthorized):
        sessions.resolve(first.cookie)
    assert sessions.resolve(second.cookie).tenant == "acme"
    tenants.revoke(key.split(".")[0])
    with pytest.raises(Unauthorized):
        sessions.resolve(second.cookie)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda parts: [parts[0], parts[1], str(int(parts[2]) + 60), parts[3]],
        lambda parts: [parts[0], parts[1] + "x", parts[2], parts[3]],
        lambda parts: [parts[0], parts[1], parts[2], parts[3][:-2] + "AA"],
        lambda parts: parts[:3],
    ],
)
def test_a_forged_cookie_is_refused(
    world: tuple[SessionService, TenantService, FakeClock], tamper: object
) -> None:
    sessions, tenants, _ = world
    cookie = sessions.sign_in(tenants.issue_key("acme").api_key).cookie
    forged = ".".join(tamper(cookie.split(".")))  # type: ignore[operator]
    with pytest.raises(Unauthorized):
        sessions.resolve(forged)


def test_csrf_tokens_belong_to_their_session(
    world: tuple[SessionService, TenantService, FakeClock],
) -> None:
    sessions, tenants, _ = world
    key = tenants.issue_key("acme").api_key
    first, second = sessions.sign_in(key).session, sessions.sign_in(key).session
    assert sessions.csrf_ok(first, first.csrf_token)
    assert not sessions.csrf_ok(first, second.csrf_token)
    assert not sessions.csrf_ok(first, None)


def test_a_wrong_key_opens_no_session(
    world: tuple[SessionService, TenantService, FakeClock],
) -> None:
    sessions, tenants, _ = world
    prefix = tenants.issue_key("acme").api_key.split(".")[0]
    for key in ("", "nonsense", f"{prefix}.{'x' * 43}"):
        with pytest.raises(Unauthorized):
            sessions.sign_in(key)
