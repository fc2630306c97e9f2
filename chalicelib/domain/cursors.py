"""Cursors the domain makes itself (where it pages over something other than one table list):
opaque, and bound to the list they came from."""

from __future__ import annotations

import base64
import binascii
import json

from chalicelib.ports import InvalidCursor


def encode(scope: str, position: str) -> str:
    raw = json.dumps({"s": scope, "p": position}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(scope: str, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        plain = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidCursor("malformed cursor") from None
    if not isinstance(plain, dict) or not isinstance(plain.get("p"), str):
        raise InvalidCursor("malformed cursor")
    if plain.get("s") != scope:
        raise InvalidCursor("this cursor belongs to another list")
    position: str = plain["p"]
    return position
