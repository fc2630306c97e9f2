"""Local stand-ins for Slack, Microsoft Teams and Discord incoming webhooks.

Each checks a message against the platform's published structure and limits and answers as
the platform does: Slack ``200 ok`` or ``400 invalid_blocks``; Teams ``200 1`` or ``400`` (``413``
over 28 KB); Discord ``204`` or ``400 {"code": 50035, "message": "Invalid Form Body"}``; and, when
asked, ``429`` with ``Retry-After`` (Discord's with its JSON body). The limits:

- Slack Block Kit: https://api.slack.com/reference/block-kit/blocks (header 150, section text
  3,000, context 10 elements, actions 25 elements, button text 75 and URL 3,000, 50 blocks;
  text objects non-empty), attachments https://api.slack.com/reference/messaging/attachments.
- Adaptive Cards (Teams): https://adaptivecards.io/explorer/ (element and action types, styles),
  Teams' 28 KB limit on a connector message.
- Discord: https://discord.com/developers/docs/resources/message#embed-object-embed-limits
  (title 256, description 4,096, 25 fields of 256/1,024, footer 2,048, 6,000 in all, content
  2,000, 10 embeds).
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

Json = dict[str, Any]

SLACK_MAX_BLOCKS = 50
TEAMS_MAX_BYTES = 28 * 1024
DISCORD_EMBED_TOTAL = 6000
_COLOUR = re.compile(r"^#?[0-9A-Fa-f]{6}$")
_HTTP_URL = re.compile(r"^https?://\S+$")


def _text_object(obj: Any, where: str, limit: int, *, plain_only: bool = False) -> list[str]:
    kinds = {"plain_text"} if plain_only else {"plain_text", "mrkdwn"}
    if not isinstance(obj, dict) or obj.get("type") not in kinds:
        return [f"{where}: a text object of type {sorted(kinds)}"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"{where}.text: a non-empty string"]
    if len(text) > limit:
        return [f"{where}.text: {len(text)} characters, limit {limit}"]
    return []


def _slack_block(block: Any, where: str) -> list[str]:
    if not isinstance(block, dict):
        return [f"{where}: an object"]
    kind = block.get("type")
    if kind == "header":
        return _text_object(block.get("text"), where, 150, plain_only=True)
    if kind == "section":
        return _text_object(block.get("text"), where, 3000)
    if kind == "divider":
        return []
    if kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
            return [f"{where}.elements: 1 to 10"]
        return [e for i, el in enumerate(elements) for e in _text_object(el, f"{where}[{i}]", 3000)]
    if kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
            return [f"{where}.elements: 1 to 25"]
        errors: list[str] = []
        for i, button in enumerate(elements):
            at = f"{where}.elements[{i}]"
            if not isinstance(button, dict) or button.get("type") != "button":
                errors.append(f"{at}: a button")
                continue
            errors += _text_object(button.get("text"), at, 75, plain_only=True)
            url = button.get("url")
            if url is not None and (not isinstance(url, str) or len(url) > 3000):
                errors.append(f"{at}.url: at most 3000 characters")
            if button.get("style") not in (None, "primary", "danger"):
                errors.append(f"{at}.style: primary or danger")
            if len(str(button.get("action_id", ""))) > 255:
                errors.append(f"{at}.action_id: at most 255 characters")
        return errors
    return [f"{where}.type: unknown block type {kind!r}"]


def slack_errors(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["the body is not a JSON object"]
    errors: list[str] = []
    if not payload.get("text") and not payload.get("blocks") and not payload.get("attachments"):
        errors.append("no text, blocks or attachments")
    if "text" in payload and not isinstance(payload["text"], str):
        errors.append("text: a string")
    groups = [("blocks", payload.get("blocks") or [])]
    for i, attachment in enumerate(payload.get("attachments") or []):
        color = attachment.get("color")
        if color is not None and not (
            _COLOUR.match(color) or color in ("good", "warning", "danger")
        ):
            errors.append(f"attachments[{i}].color: a hex colour")
        groups.append((f"attachments[{i}].blocks", attachment.get("blocks") or []))
    for where, blocks in groups:
        if len(blocks) > SLACK_MAX_BLOCKS:
            errors.append(f"{where}: {len(blocks)} blocks, limit {SLACK_MAX_BLOCKS}")
        for index, block in enumerate(blocks):
            errors += _slack_block(block, f"{where}[{index}]")
    return errors


_CARD_ELEMENTS = {"TextBlock", "Container", "FactSet", "ColumnSet", "Image", "ActionSet"}
_CARD_ACTIONS = {"Action.OpenUrl", "Action.Submit", "Action.ShowCard", "Action.Execute"}
_CONTAINER_STYLES = {"default", "emphasis", "good", "attention", "warning", "accent"}


def _card_element(element: Any, where: str) -> list[str]:
    if not isinstance(element, dict) or element.get("type") not in _CARD_ELEMENTS:
        return [f"{where}.type: one of {sorted(_CARD_ELEMENTS)}"]
    kind = element["type"]
    if kind == "TextBlock" and not isinstance(element.get("text"), str):
        return [f"{where}.text: a string"]
    if kind == "Container":
        errors = []
        if element.get("style", "default") not in _CONTAINER_STYLES:
            errors.append(f"{where}.style: one of {sorted(_CONTAINER_STYLES)}")
        items = element.get("items")
        if not isinstance(items, list):
            return [*errors, f"{where}.items: a list"]
        return errors + [
            e for i, it in enumerate(items) for e in _card_element(it, f"{where}[{i}]")
        ]
    if kind == "FactSet":
        facts = element.get("facts")
        if not isinstance(facts, list) or not all(
            isinstance(f, dict)
            and isinstance(f.get("title"), str)
            and isinstance(f.get("value"), str)
            for f in facts
        ):
            return [f"{where}.facts: a list of title/value strings"]
    return []


def teams_errors(payload: Any, size: int) -> list[str]:
    if size > TEAMS_MAX_BYTES:
        return [f"{size} bytes, limit {TEAMS_MAX_BYTES}"]
    if not isinstance(payload, dict) or payload.get("type") != "message":
        return ['type: "message"']
    attachments = payload.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return ["attachments: at least one card"]
    errors: list[str] = []
    for index, attachment in enumerate(attachments):
        at = f"attachments[{index}]"
        if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
            errors.append(f"{at}.contentType: an Adaptive Card")
            continue
        card = attachment.get("content") or {}
        if card.get("type") != "AdaptiveCard":
            errors.append(f"{at}.content.type: AdaptiveCard")
        if card.get("version") not in ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5"):
            errors.append(f"{at}.content.version: 1.0 to 1.5")
        body = card.get("body")
        if not isinstance(body, list):
            errors.append(f"{at}.content.body: a list")
            continue
        for i, element in enumerate(body):
            errors += _card_element(element, f"{at}.content.body[{i}]")
        for i, action in enumerate(card.get("actions") or []):
            where = f"{at}.content.actions[{i}]"
            if action.get("type") not in _CARD_ACTIONS:
                errors.append(f"{where}.type: one of {sorted(_CARD_ACTIONS)}")
            elif action["type"] == "Action.OpenUrl" and not _HTTP_URL.match(str(action.get("url"))):
                errors.append(f"{where}.url: an http(s) URL")
            if action.get("style", "default") not in ("default", "positive", "destructive"):
                errors.append(f"{where}.style: default, positive or destructive")
    return errors


def discord_errors(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["the body is not a JSON object"]
    errors: list[str] = []
    content = payload.get("content")
    embeds = payload.get("embeds") or []
    if not content and not embeds:
        errors.append("content or embeds: one is required (code 50006)")
    if content is not None and len(content) > 2000:
        errors.append("content: at most 2000 characters")
    if len(embeds) > 10:
        errors.append("embeds: at most 10")
    total = 0
    for index, embed in enumerate(embeds):
        at = f"embeds[{index}]"
        limits = {"title": 256, "description": 4096}
        for name, limit in limits.items():
            value = embed.get(name)
            if value is not None:
                total += len(value)
                if len(value) > limit:
                    errors.append(f"{at}.{name}: {len(value)} characters, limit {limit}")
        fields = embed.get("fields") or []
        if len(fields) > 25:
            errors.append(f"{at}.fields: at most 25")
        for i, item in enumerate(fields):
            name, value = item.get("name", ""), item.get("value", "")
            total += len(name) + len(value)
            if not name or len(name) > 256:
                errors.append(f"{at}.fields[{i}].name: 1 to 256 characters")
            if not value or len(value) > 1024:
                errors.append(f"{at}.fields[{i}].value: 1 to 1024 characters")
        footer = (embed.get("footer") or {}).get("text")
        if footer is not None:
            total += len(footer)
            if len(footer) > 2048:
                errors.append(f"{at}.footer.text: at most 2048 characters")
        colour = embed.get("color")
        if colour is not None and (not isinstance(colour, int) or not 0 <= colour <= 0xFFFFFF):
            errors.append(f"{at}.color: an integer RGB colour")
        if "url" in embed and not _HTTP_URL.match(str(embed["url"])):
            errors.append(f"{at}.url: an http(s) URL")
    if total > DISCORD_EMBED_TOTAL:
        errors.append(f"embeds: {total} characters in all, limit {DISCORD_EMBED_TOTAL}")
    mentions = (payload.get("allowed_mentions") or {}).get("parse", [])
    if not set(mentions) <= {"roles", "users", "everyone"}:
        errors.append("allowed_mentions.parse: roles, users, everyone")
    return errors


@dataclass
class ChatMessage:
    platform: str
    body: Json
    headers: dict[str, str]


@dataclass
class ChatReceivers:
    """Slack at ``/slack``, Teams at ``/teams``, Discord at ``/discord`` of one local server."""

    server: HTTPServer
    received: list[ChatMessage] = field(default_factory=list)
    refused: list[tuple[str, list[str]]] = field(default_factory=list)
    # Requests still to answer with 429, per platform, and the Retry-After to send.
    rate_limited: dict[str, int] = field(default_factory=dict)
    retry_after: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, platform: str, path: str = "") -> str:
        return self.server.url_for(f"/{platform}{path}")

    def messages(self, platform: str, notification_id: str | None = None) -> list[Json]:
        with self._lock:
            return [
                message.body
                for message in self.received
                if message.platform == platform
                and (notification_id is None or notification_id in json.dumps(message.body))
            ]

    def handle(self, platform: str, request: Request) -> Response:
        raw = request.get_data()
        with self._lock:
            if self.rate_limited.get(platform, 0) > 0:
                self.rate_limited[platform] -= 1
                return self._rate_limited(platform)
        try:
            payload = json.loads(raw)
        except ValueError:
            return Response("invalid_payload", status=400)
        errors = {
            "slack": lambda: slack_errors(payload),
            "teams": lambda: teams_errors(payload, len(raw)),
            "discord": lambda: discord_errors(payload),
        }[platform]()
        with self._lock:
            if errors:
                self.refused.append((platform, errors))
            else:
                self.received.append(ChatMessage(platform, payload, dict(request.headers)))
        if errors:
            return self._refused(platform, errors, len(raw))
        return {
            "slack": Response("ok", status=200),
            "teams": Response("1", status=200),
            "discord": Response(status=204),
        }[platform]

    def _rate_limited(self, platform: str) -> Response:
        headers = {"Retry-After": str(self.retry_after)}
        if platform == "discord":
            body = {"message": "You are being rate limited.", "retry_after": 1.0, "global": False}
            return Response(json.dumps(body), 429, headers, content_type="application/json")
        return Response("rate_limited", 429, headers)

    @staticmethod
    def _refused(platform: str, errors: list[str], size: int) -> Response:
        if platform == "discord":
            body = {"code": 50035, "message": "Invalid Form Body", "errors": errors}
            return Response(json.dumps(body), 400, content_type="application/json")
        if platform == "teams" and size > TEAMS_MAX_BYTES:
            return Response("Request Entity Too Large", status=413)
        return Response("invalid_blocks" if platform == "slack" else "; ".join(errors), 400)


@contextlib.contextmanager
def chat_receivers() -> Iterator[ChatReceivers]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    receivers = ChatReceivers(server)
    for platform in ("slack", "teams", "discord"):
        server.expect_request(
            re.compile(f"^/{platform}(/.*)?$"), method="POST"
        ).respond_with_handler(functools.partial(receivers.handle, platform))
    try:
        yield receivers
    finally:
        server.clear()
        if server.is_running():
            server.stop()
