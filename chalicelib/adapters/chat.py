"""Slack, Microsoft Teams and Discord: each platform's native message, posted to the recipient's
incoming webhook.

Each message shows the title, the body, the severity (by colour), and buttons or links to the
notification's own link (``data.url``) and, for an alert, its acknowledge link. Text is cut to
each platform's documented limits with an ellipsis, so that no message is refused for its size:

- Slack (Block Kit, https://api.slack.com/reference/block-kit/blocks): header text 150
  characters, section text 3,000, button text 75 and URL 3,000, at most 50 blocks; the severity
  colour is the bar of the attachment that holds the blocks.
- Teams (Adaptive Card 1.4, https://adaptivecards.io/explorer/): the whole request at most
  28 KB (Teams' limit on a connector message); the severity is the title container's style.
- Discord (embed, https://discord.com/developers/docs/resources/message#embed-object-embed-limits):
  title 256, description 4,096, field value 1,024, footer 2,048, all of an embed's text at most
  6,000; the severity is the embed's colour. Mentions are never parsed (a body cannot ping
  ``@everyone``).

The POST itself is a webhook's (``JsonPoster``): the same address checks, one deadline, and the
same retry rules (``429`` with ``Retry-After`` included).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.adapters.webhook import JsonPoster
from chalicelib.domain.chat_targets import parse_chat_url
from chalicelib.domain.webhook_targets import RefusedTarget
from chalicelib.models.common import Channel, Severity, format_timestamp
from chalicelib.models.stored import Delivery, Tenant
from chalicelib.ports import Outgoing, SendOutcome

Json = dict[str, Any]
ELLIPSIS = "…"

SEVERITY_COLOURS = {
    Severity.INFO: 0x2F80ED,
    Severity.WARNING: 0xF2994A,
    Severity.CRITICAL: 0xEB5757,
}

SLACK_HEADER_MAX = 150
SLACK_TEXT_MAX = 3000
SLACK_BUTTON_TEXT_MAX = 75
SLACK_URL_MAX = 3000
SLACK_CONTEXT_TEXT_MAX = 3000
TEAMS_MAX_BYTES = 28 * 1024
DISCORD_TITLE_MAX = 256
DISCORD_DESCRIPTION_MAX = 4096
DISCORD_FIELD_VALUE_MAX = 1024
DISCORD_FOOTER_MAX = 2048
DISCORD_EMBED_TOTAL_MAX = 6000
DISCORD_URL_MAX = 2048


@dataclass(frozen=True)
class MessageView:
    """What a chat message shows of a notification."""

    notification_id: str
    title: str
    body: str | None
    severity: Severity
    category: str | None
    created_at: datetime
    topic: str | None = None
    link: str | None = None
    ack_url: str | None = None


def _http_url(value: object) -> str | None:
    if isinstance(value, str) and value.startswith(("https://", "http://")):
        return value
    return None


def _ack_url(outgoing: Outgoing) -> str | None:
    """An alert's acknowledge link, when the notification is an alert's (its ``alert``
    reference: ``{"id", "dedup_key", "status", "ack_url"}``)."""
    alert = getattr(outgoing, "alert", None) or getattr(outgoing.content, "alert", None)
    if alert is None:
        return None
    value = alert.get("ack_url") if isinstance(alert, dict) else getattr(alert, "ack_url", None)
    return _http_url(value)


def view_of(outgoing: Outgoing) -> MessageView:
    content = outgoing.content
    return MessageView(
        notification_id=outgoing.notification_id,
        title=content.title,
        body=content.body,
        severity=content.severity,
        category=content.category,
        created_at=outgoing.created_at,
        topic=outgoing.topic,
        link=_http_url((content.data or {}).get("url")),
        ack_url=_ack_url(outgoing),
    )


def cut(text: str, limit: int, measure: Callable[[str], int] = len) -> str:
    """``text`` if it measures at most ``limit``, else its longest start that does with an
    ellipsis after it (``measure``: characters by default)."""
    if measure(text) <= limit:
        return text
    low, high = 0, len(text)  # text[:low] + ELLIPSIS fits (or low is 0); text[:high] does not
    while high - low > 1:
        middle = (low + high) // 2
        if measure(text[:middle] + ELLIPSIS) <= limit:
            low = middle
        else:
            high = middle
    return text[:low] + ELLIPSIS


def _fit(text: str, limit: int, transform: Callable[[str], str]) -> str:
    """``transform(text)`` within ``limit`` characters, cutting the text before transforming it
    (so that no escape sequence is broken)."""
    return transform(cut(text, limit, lambda part: len(transform(part))))


def _facts(view: MessageView) -> list[tuple[str, str]]:
    facts = [("Severity", view.severity.value)]
    if view.category:
        facts.append(("Category", view.category))
    if view.topic:
        facts.append(("Topic", view.topic))
    return facts


# --- Slack ------------------------------------------------------------------------------------
def slack_escape(text: str) -> str:
    """Slack's three control characters (https://api.slack.com/reference/surfaces/formatting):
    a body cannot make a ``<!channel>`` mention or a disguised link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(view: MessageView) -> Json:
    blocks: list[Json] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": cut(view.title, SLACK_HEADER_MAX)},
        }
    ]
    if view.body:
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": _fit(view.body, SLACK_TEXT_MAX, slack_escape),
                },
            }
        )
    context = " · ".join(f"*{name}:* {slack_escape(value)}" for name, value in _facts(view))
    blocks.append(
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": cut(context, SLACK_CONTEXT_TEXT_MAX)},
                {
                    "type": "mrkdwn",
                    "text": f"{format_timestamp(view.created_at)} · {view.notification_id}",
                },
            ],
        }
    )
    buttons: list[Json] = []
    if view.link and len(view.link) <= SLACK_URL_MAX:
        buttons.append(_slack_button("Open", view.link, "open", style=None))
    if view.ack_url and len(view.ack_url) <= SLACK_URL_MAX:
        buttons.append(_slack_button("Acknowledge", view.ack_url, "acknowledge", style="danger"))
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    fallback = f"[{view.severity.value}] {view.title}"
    return {
        "text": _fit(fallback, SLACK_TEXT_MAX, slack_escape),
        "attachments": [
            {
                "color": f"#{SEVERITY_COLOURS[view.severity]:06X}",
                "fallback": _fit(fallback, SLACK_TEXT_MAX, slack_escape),
                "blocks": blocks,
            }
        ],
    }


def _slack_button(text: str, url: str, action: str, *, style: str | None) -> Json:
    button: Json = {
        "type": "button",
        "text": {"type": "plain_text", "text": cut(text, SLACK_BUTTON_TEXT_MAX)},
        "url": url,
        "action_id": action,
    }
    if style is not None:
        button["style"] = style
    return button


# --- Microsoft Teams ----------------------------------------------------------------------------
TEAMS_STYLES = {
    Severity.INFO: "accent",
    Severity.WARNING: "warning",
    Severity.CRITICAL: "attention",
}


def _json_bytes(payload: Json) -> int:
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())


def teams_message(view: MessageView) -> Json:
    def card(body_text: str | None) -> Json:
        elements: list[Json] = [
            {
                "type": "Container",
                "style": TEAMS_STYLES[view.severity],
                "bleed": True,
                "items": [
                    {
                        "type": "TextBlock",
                        "text": view.title,
                        "weight": "Bolder",
                        "size": "Medium",
                        "wrap": True,
                    }
                ],
            }
        ]
        if body_text:
            elements.append({"type": "TextBlock", "text": body_text, "wrap": True})
        facts = [
            *_facts(view),
            ("Time", format_timestamp(view.created_at)),
            ("Notification", view.notification_id),
        ]
        elements.append({"type": "FactSet", "facts": [{"title": n, "value": v} for n, v in facts]})
        actions: list[Json] = []
        if view.link:
            actions.append({"type": "Action.OpenUrl", "title": "Open", "url": view.link})
        if view.ack_url:
            actions.append(
                {
                    "type": "Action.OpenUrl",
                    "title": "Acknowledge",
                    "url": view.ack_url,
                    "style": "destructive",
                }
            )
        content: Json = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "msteams": {"width": "Full"},
            "body": elements,
        }
        if actions:
            content["actions"] = actions
        return {
            "type": "message",
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": None,
                    "content": content,
                }
            ],
        }

    message = card(view.body)
    if view.body and _json_bytes(message) > TEAMS_MAX_BYTES:
        # What the card takes besides its body text (``"x"``: three bytes as JSON).
        room = TEAMS_MAX_BYTES - (_json_bytes(card("x")) - 3)
        message = card(
            cut(view.body, room, lambda text: len(json.dumps(text, ensure_ascii=False).encode()))
        )
    return message


# --- Discord ----------------------------------------------------------------------------------
def discord_message(view: MessageView) -> Json:
    title = cut(view.title, DISCORD_TITLE_MAX)
    fields: list[Json] = [
        {"name": name, "value": cut(value, DISCORD_FIELD_VALUE_MAX), "inline": True}
        for name, value in _facts(view)
    ]
    if view.ack_url:
        ack = f"[Acknowledge]({view.ack_url})"
        if len(ack) <= DISCORD_FIELD_VALUE_MAX:
            fields.append({"name": "Alert", "value": ack, "inline": False})
    footer = cut(f"Tocsin · {view.notification_id}", DISCORD_FOOTER_MAX)
    used = len(title) + len(footer) + sum(len(f["name"]) + len(f["value"]) for f in fields)
    embed: Json = {
        "title": title,
        "color": SEVERITY_COLOURS[view.severity],
        "fields": fields,
        "footer": {"text": footer},
        "timestamp": format_timestamp(view.created_at),
    }
    if view.body:
        embed["description"] = cut(
            view.body, min(DISCORD_DESCRIPTION_MAX, DISCORD_EMBED_TOTAL_MAX - used)
        )
    if view.link and len(view.link) <= DISCORD_URL_MAX:
        embed["url"] = view.link
    return {"embeds": [embed], "allowed_mentions": {"parse": []}}


RENDERERS: dict[Channel, Callable[[MessageView], Json]] = {
    Channel.SLACK: slack_message,
    Channel.TEAMS: teams_message,
    Channel.DISCORD: discord_message,
}


class ChatSender:
    """Posts a channel's native message to the delivery's incoming-webhook URL."""

    def __init__(self, channel: Channel, *, poster: JsonPoster, allow_private: bool) -> None:
        self.channel = channel
        self._poster = poster
        self._allow_private = allow_private
        self._render = RENDERERS[channel]

    def send(self, outgoing: Outgoing, delivery: Delivery, tenant: Tenant) -> SendOutcome:
        assert delivery.address is not None
        try:
            # The address was checked when it was stored; the platform rule is checked again
            # here, as the poster checks the addresses before connecting.
            parse_chat_url(self.channel, delivery.address, allow_private=self._allow_private)
        except RefusedTarget as refused:
            return SendOutcome.permanent_failure(f"{self.channel.value} URL refused: {refused}")
        payload = json.dumps(
            self._render(view_of(outgoing)), ensure_ascii=False, separators=(",", ":")
        )
        return self._poster.post(delivery.address, payload)
