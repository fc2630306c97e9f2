"""Chat messages within each platform's limits, chat and Apprise URLs, masking."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from chalicelib.adapters.chat import (
    MessageView,
    cut,
    discord_message,
    slack_message,
    teams_message,
    view_of,
)
from chalicelib.domain.apprise_targets import (
    check_apprise_url,
    mask_apprise_url,
    mask_chat_url,
)
from chalicelib.domain.chat_targets import check_chat_url
from chalicelib.domain.webhook_targets import RefusedTarget
from chalicelib.models.common import Channel, Severity
from chalicelib.models.stored import AlertRef, Content
from chalicelib.ports import Outgoing
from tests.chat_receivers import discord_errors, slack_errors, teams_errors

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def view(**fields: object) -> MessageView:
    values: dict[str, object] = {
        "notification_id": "01JN0TIFICATI0N",
        "title": "Disk almost full",
        "body": "db-1 at 93%",
        "severity": Severity.CRITICAL,
        "category": "ops",
        "created_at": NOW,
        "link": "https://status.example.com/db-1",
        "ack_url": "https://tocsin.example.com/ack/abc",
    }
    values.update(fields)
    return MessageView(**values)  # type: ignore[arg-type]


def size(payload: object) -> int:
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())


def test_each_message_shows_title_body_severity_colour_link_and_acknowledge() -> None:
    slack = slack_message(view())
    teams = teams_message(view())
    discord = discord_message(view())

    attachment = slack["attachments"][0]
    assert attachment["color"] == "#EB5757"
    assert attachment["blocks"][0]["text"]["text"] == "Disk almost full"
    buttons = attachment["blocks"][-1]["elements"]
    assert [(b["text"]["text"], b["url"]) for b in buttons] == [
        ("Open", "https://status.example.com/db-1"),
        ("Acknowledge", "https://tocsin.example.com/ack/abc"),
    ]
    card = teams["attachments"][0]["content"]
    assert card["body"][0]["style"] == "attention"
    assert [a["title"] for a in card["actions"]] == ["Open", "Acknowledge"]
    embed = discord["embeds"][0]
    assert (embed["color"], embed["url"], embed["description"]) == (
        0xEB5757,
        "https://status.example.com/db-1",
        "db-1 at 93%",
    )
    assert "[Acknowledge](https://tocsin.example.com/ack/abc)" in json.dumps(embed)
    assert discord["allowed_mentions"] == {"parse": []}
    assert slack_errors(slack) == []
    assert teams_errors(teams, size(teams)) == []
    assert discord_errors(discord) == []


@pytest.mark.parametrize("body", ["x" * 4000, "é" * 4000, "<&>" * 1333])
def test_the_longest_notification_is_cut_to_fit_every_platform(body: str) -> None:
    # GIVEN the longest title and body a notification may have
    longest = view(title="T" * 200, body=body, category="c" * 128)
    # WHEN each platform's message is made
    slack, teams, discord = slack_message(longest), teams_message(longest), discord_message(longest)
    # THEN each is within the platform's limits, cut with an ellipsis where it had to be
    assert slack_errors(slack) == []
    assert teams_errors(teams, size(teams)) == []
    assert discord_errors(discord) == []
    header = slack["attachments"][0]["blocks"][0]["text"]["text"]
    assert len(header) == 150
    assert header.endswith("…")
    assert slack["attachments"][0]["blocks"][1]["text"]["text"].endswith("…")


def test_a_teams_card_over_28_kb_is_cut_to_fit() -> None:
    huge = view(body="𝄞" * 8000)  # longer than a body may be: a template may make one
    card = teams_message(huge)
    assert teams_errors(card, size(card)) == []
    assert card["attachments"][0]["content"]["body"][1]["text"].endswith("…")


def test_a_body_cannot_mention_everyone_or_disguise_a_link_in_slack() -> None:
    message = slack_message(view(body="<!channel> see <https://evil.example|the docs> & more"))
    section = message["attachments"][0]["blocks"][1]["text"]["text"]
    assert section == "&lt;!channel&gt; see &lt;https://evil.example|the docs&gt; &amp; more"


def test_a_message_without_body_link_or_alert_has_none_of_them() -> None:
    plain = view(body=None, link=None, ack_url=None, category=None, severity=Severity.INFO)
    slack, discord = slack_message(plain), discord_message(plain)
    assert [b["type"] for b in slack["attachments"][0]["blocks"]] == ["header", "context"]
    assert slack["attachments"][0]["color"] == "#2F80ED"
    assert "description" not in discord["embeds"][0]
    assert "url" not in discord["embeds"][0]
    assert "actions" not in teams_message(plain)["attachments"][0]["content"]


def test_the_link_back_is_the_notifications_data_url() -> None:
    outgoing = Outgoing(
        notification_id="n1",
        created_at=NOW,
        content=Content(title="t", data={"url": "https://status.example.com/x"}),
    )
    assert view_of(outgoing).link == "https://status.example.com/x"
    not_a_link = Outgoing(
        notification_id="n1", created_at=NOW, content=Content(title="t", data={"url": "ftp://x"})
    )
    assert view_of(not_a_link).link is None


def test_an_alerts_notification_carries_its_acknowledge_link() -> None:
    alert = AlertRef(
        id="a1", dedup_key="disk", status="triggered", ack_url="https://t.example.com/ack/x"
    )
    outgoing = Outgoing(
        notification_id="n1", created_at=NOW, content=Content(title="t", alert=alert)
    )
    assert view_of(outgoing).ack_url == "https://t.example.com/ack/x"


def test_cut_measures_bytes_when_asked() -> None:
    assert cut("abc", 3) == "abc"
    assert cut("abcdef", 4) == "abc…"
    cut_bytes = cut("éééé", 6, lambda text: len(text.encode()))
    assert cut_bytes == "é…"
    assert len(cut_bytes.encode()) <= 6


def never(host: str, port: int) -> list[str]:
    raise AssertionError("not resolved")


def public(host: str, port: int) -> list[str]:
    return ["93.184.216.34"] if host != "internal.example.com" else ["10.0.0.5"]


@pytest.mark.parametrize(
    ("channel", "url"),
    [
        (Channel.SLACK, "https://hooks.slack.com/services/T000/B000/XXXX"),
        (Channel.TEAMS, "https://acme.webhook.office.com/webhookb2/abc/IncomingWebhook/def/ghi"),
        (
            Channel.TEAMS,
            "https://prod-01.westus.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke",
        ),
        (Channel.DISCORD, "https://discord.com/api/webhooks/123/abc"),
    ],
)
def test_a_chat_url_on_its_platforms_host_is_taken(channel: Channel, url: str) -> None:
    check_chat_url(channel, url, allow_private=False, resolve=public)


@pytest.mark.parametrize(
    ("channel", "url"),
    [
        (Channel.SLACK, "https://hooks.slack.com.evil.example/services/T/B/X"),
        (Channel.SLACK, "http://hooks.slack.com/services/T/B/X"),
        (Channel.SLACK, "https://hooks.slack.com:8443/services/T/B/X"),
        (Channel.SLACK, "https://discord.com/api/webhooks/1/a"),
        (Channel.TEAMS, "https://webhook.office.com.evil.example/webhookb2/x"),
        (Channel.DISCORD, "https://discord.com/channels/1/2"),
        (Channel.DISCORD, "https://127.0.0.1/api/webhooks/1/a"),
    ],
)
def test_outside_the_local_stage_a_chat_url_elsewhere_is_refused(
    channel: Channel, url: str
) -> None:
    with pytest.raises(RefusedTarget):
        check_chat_url(channel, url, allow_private=False, resolve=public)


def test_the_local_stage_takes_a_loopback_chat_url() -> None:
    check_chat_url(Channel.SLACK, "http://127.0.0.1:9000/slack", allow_private=True, resolve=never)


def test_apprise_urls_need_a_known_scheme_and_a_public_host() -> None:
    check_apprise_url("tgram://123456789:AAbbCC/-100123", allow_private=False, resolve=public)
    check_apprise_url("json://hooks.example.com/in", allow_private=False, resolve=public)
    check_apprise_url("json://127.0.0.1:9000/in", allow_private=True, resolve=never)
    for refused in (
        "nosuchscheme://token",
        "https//missing-colon",
        "json://10.0.0.5/in",
        "json://internal.example.com/in",
        "json://[::1]/in",
        "json://hooks.example.com/in\nX-Injected: 1",
    ):
        with pytest.raises(RefusedTarget):
            check_apprise_url(refused, allow_private=False, resolve=public)


def test_secret_addresses_are_masked_to_their_service() -> None:
    assert (
        mask_chat_url("https://hooks.slack.com/services/T000/B000/XXXX")
        == "https://hooks.slack.com/****"
    )
    assert mask_apprise_url("tgram://123456789:AAbbCC/-100123") == "tgram://****"
