"""The webhook sender against real sockets on loopback: one deadline bounds the whole attempt,
and each resolved address is tried in turn."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from chalicelib.adapters.webhook import WebhookSender
from chalicelib.domain.webhook_targets import order_addresses
from chalicelib.models.common import Channel
from chalicelib.models.stored import Content, Delivery, Tenant
from chalicelib.ports import Outgoing, SendOutcome
from tests.fakes import FakeClock
from tests.harness import answering, poll

TIMEOUT = 1.0
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def resolver(answers: dict[str, Sequence[str]]) -> object:
    def resolve(host: str, port: int) -> Sequence[str]:
        return answers[host]

    return resolve


def sender(**kwargs: object) -> WebhookSender:
    return WebhookSender(
        clock=FakeClock(),
        timeout=TIMEOUT,
        max_response_bytes=65536,
        allow_private=True,
        **kwargs,  # type: ignore[arg-type]
    )


def send(webhooks: WebhookSender, url: str) -> tuple[SendOutcome, float]:
    clock = FakeClock()
    outgoing = Outgoing(
        notification_id="01JABCDEFGHJKMNPQRSTVWXYZ0",
        created_at=clock.now(),
        content=Content(title="t"),
    )
    delivery = Delivery(
        tenant_id="acme",
        notification_id=outgoing.notification_id,
        channel=Channel.WEBHOOK,
        recipient_id="alice",
        address=url,
        webhook_id="msg_1",
    )
    tenant = Tenant(name="acme", webhook_secret="whsec_" + "A" * 32, created_at=clock.now())
    started = time.monotonic()
    outcome = webhooks.send(outgoing, delivery, tenant)
    return outcome, time.monotonic() - started


def test_a_prompt_receiver_is_delivered() -> None:
    with answering(OK, drip_from=len(OK)) as (port, _):
        outcome, _ = send(sender(), f"http://127.0.0.1:{port}/hook")
    assert outcome == SendOutcome.ok()
    assert outcome.http_status == 200  # for the attempt's timeline


@pytest.mark.parametrize(
    ("what", "drip_from"),
    [("status line and headers", 0), ("body", OK.index(b"\r\n\r\n") + 4)],
)
def test_a_receiver_that_drips_its_answer_is_cut_off_at_the_deadline(
    what: str, drip_from: int
) -> None:
    # GIVEN a receiver that sends its answer one byte every quarter second (about 10 s in all,
    # each byte well within any per-read timeout)
    answer = OK.replace(b"ok", b"o" * 20).replace(b"Length: 2", b"Length: 20")
    with answering(answer, drip_from=drip_from) as (port, ended):
        # WHEN a webhook with a 1 s deadline is sent to it
        outcome, elapsed = send(sender(), f"http://127.0.0.1:{port}/hook")
        # THEN the attempt ends at its deadline as a transient failure, never as delivered
        assert not outcome.delivered
        assert not outcome.permanent
        assert "timed out" in (outcome.error or "")
        assert elapsed < TIMEOUT + 1.0, elapsed
        # and the connection is closed, not left to drip
        poll(lambda: ended, timeout=5, what="the receiver's connection closed")


def test_each_resolved_address_is_tried_in_turn() -> None:
    # GIVEN a host whose first address takes no connection
    with answering(OK, drip_from=len(OK)) as (port, _):
        webhooks = sender(resolve=resolver({"hooks.test": ["127.0.0.2", "127.0.0.1"]}))
        # WHEN a webhook is sent to it
        outcome, _ = send(webhooks, f"http://hooks.test:{port}/hook")
    # THEN the second address delivers it
    assert outcome == SendOutcome.ok()


def test_no_address_taking_a_connection_is_a_transient_failure_naming_each() -> None:
    webhooks = sender(resolve=resolver({"hooks.test": ["127.0.0.2", "127.0.0.3"]}))
    with answering(OK) as (port, _):
        pass  # the port is closed again: nothing listens there
    outcome, _ = send(webhooks, f"http://hooks.test:{port}/hook")
    assert not outcome.delivered
    assert not outcome.permanent
    assert "127.0.0.2" in (outcome.error or "")
    assert "127.0.0.3" in (outcome.error or "")


def test_ipv4_addresses_come_first_without_ipv6_egress() -> None:
    resolved = ["2606:4700::1111", "1.1.1.1", "2606:4700::1001", "1.0.0.1", "1.1.1.1"]
    assert order_addresses(resolved, ipv6_egress=False) == [
        "1.1.1.1",
        "1.0.0.1",
        "2606:4700::1111",
        "2606:4700::1001",
    ]
    assert order_addresses(resolved, ipv6_egress=True) == [
        "2606:4700::1111",
        "1.1.1.1",
        "2606:4700::1001",
        "1.0.0.1",
    ]


def test_a_url_that_cannot_be_sent_is_a_permanent_failure() -> None:
    outcome, _ = send(sender(), "http://127.0.0.1:9711\r\n/ok")
    assert outcome.permanent
