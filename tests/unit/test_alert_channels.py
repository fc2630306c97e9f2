"""What an alert's notification carries on each channel: the alert reference and its
acknowledge link (api.md: webhook body, inbox item, email and SMS text)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from chalicelib.adapters.email import render_html, render_text
from chalicelib.adapters.sms import SMS_MAX_CHARS, render_sms
from chalicelib.adapters.webhook import webhook_payload
from chalicelib.models.stored import AlertRef, Content
from chalicelib.ports import Outgoing

ACK = "https://tocsin.example/ack/abc.def"


def content(status: str = "triggered", body: str = "Source: db-1") -> Content:
    return Content(
        title="Disk almost full",
        body=body,
        alert=AlertRef(id="01A", dedup_key="disk", status=status, ack_url=ACK),
    )


def test_the_webhook_body_carries_the_alert() -> None:
    outgoing = Outgoing("01N", datetime(2026, 11, 24, tzinfo=UTC), content(), topic="alerts")
    body = json.loads(webhook_payload(outgoing))
    assert body["type"] == "notification"
    assert body["alert"] == {
        "id": "01A",
        "dedup_key": "disk",
        "status": "triggered",
        "ack_url": ACK,
    }


def test_a_plain_notification_has_no_alert_in_its_webhook() -> None:
    outgoing = Outgoing("01N", datetime(2026, 11, 24, tzinfo=UTC), Content(title="x"))
    assert "alert" not in json.loads(webhook_payload(outgoing))


def test_email_and_sms_carry_the_acknowledge_link_while_it_matters() -> None:
    assert f"Acknowledge: {ACK}" in render_text(content())
    assert f'<a href="{ACK}">Acknowledge</a>' in render_html(content())
    assert ACK in render_sms(content())
    resolved = content(status="resolved")
    assert "Acknowledge" not in render_text(resolved)
    assert "Alert: 01A (resolved)" in render_text(resolved)
    assert ACK not in render_sms(resolved)


def test_a_long_sms_gives_way_to_the_link() -> None:
    text = render_sms(content(body="x" * 5000))
    assert len(text) == SMS_MAX_CHARS
    assert text.endswith(ACK)
