"""Which Apprise URLs Tocsin takes, and how secret addresses are shown.

An Apprise URL must use a scheme Apprise knows (checked against a list, so that the API never
imports Apprise). Outside the local stage, a URL whose host is an address, or a name that
resolves, must be public: ``json://10.0.0.5/`` cannot aim Tocsin inside a network. A host part
that does not resolve is let through, since many schemes carry a token there
(``tgram://{bot_token}/{chat_id}``). Apprise resolves names itself at send time, so this is a
best effort, checked again before each send.

Chat webhook URLs and Apprise URLs carry their credentials in the URL: replies show them masked
(``mask_chat_url``, ``mask_apprise_url``).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from chalicelib.domain.apprise_schemes import APPRISE_SCHEMES
from chalicelib.domain.webhook_targets import (
    RefusedTarget,
    Resolver,
    is_host_name,
    is_public_address,
)

MASK = "****"
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]{0,31})://")
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")


def apprise_scheme(url: str) -> str | None:
    found = _SCHEME.match(url)
    return found.group(1).lower() if found else None


def _host(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def check_apprise_url(url: str, *, allow_private: bool, resolve: Resolver) -> None:
    """Raises RefusedTarget with the reason when Tocsin will not send to ``url``."""
    unsafe = _UNSAFE.search(url)
    if unsafe is not None:
        raise RefusedTarget(
            f"must not contain whitespace or control characters ({unsafe.group()!r})"
        )
    scheme = apprise_scheme(url)
    if scheme is None or scheme not in APPRISE_SCHEMES:
        raise RefusedTarget(
            "not a URL scheme Apprise knows (https://github.com/caronc/apprise/wiki)"
        )
    if allow_private:
        return
    host = _host(url)
    if not host:
        return
    if _is_address(host):
        addresses = [host]
    elif is_host_name(host) and not host.isdigit():
        # (An all-digit "host" is an id, such as a Telegram bot's: a resolver would read it as
        # an IPv4 address in one number.)
        try:
            addresses = list(resolve(host, 443))
        except OSError:
            return
    else:
        return
    refused = [address for address in addresses if not is_public_address(address)]
    if refused:
        raise RefusedTarget(f"host {host!r} is a non-public address ({refused[0]})")


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def mask_apprise_url(url: str) -> str:
    """``tgram://****``: the scheme says which service; the rest is the secret."""
    return f"{apprise_scheme(url) or 'unknown'}://{MASK}"


def mask_chat_url(url: str) -> str:
    """``https://hooks.slack.com/****``: the platform's host, not the path that is the key."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/{MASK}"
