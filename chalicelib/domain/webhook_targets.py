"""Which webhook URLs Tocsin will call.

Outside the local stage a webhook must be https and its host must resolve only to public
addresses: never loopback, private, link-local (cloud metadata at 169.254.169.254), multicast
or reserved ones. The check runs when the URL is registered and again before every send,
against the addresses actually connected to, so DNS rebinding cannot slip past it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

Resolver = Callable[[str, int], Sequence[str]]
# Letters, digits, hyphens and dots (internationalized names in their punycode form).
_HOST_NAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+$")


class RefusedTarget(Exception):
    pass


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _literal_address(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def parse_webhook_url(url: str, *, allow_private: bool) -> tuple[str, int]:
    """(host, port) of an acceptable URL; raises RefusedTarget with the reason otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RefusedTarget(f"not a valid URL: {exc}") from None
    allowed_schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed_schemes:
        raise RefusedTarget(
            "must be an absolute https URL" if not allow_private else "must be http(s)"
        )
    host = parts.hostname
    if not host:
        raise RefusedTarget("must name a host")
    if _literal_address(host) is None and not _HOST_NAME.match(host):
        raise RefusedTarget(f"{host!r} is not a valid host name")
    if parts.username is not None or parts.password is not None:
        raise RefusedTarget("must not carry credentials")
    default_port = 443 if parts.scheme == "https" else 80
    return host, port or default_port


def public_addresses(host: str, port: int, resolve: Resolver) -> list[str]:
    """Addresses of ``host`` when every one is public; raises RefusedTarget otherwise."""
    literal = _literal_address(host)
    if literal is not None:
        addresses: Sequence[str] = [literal]
    else:
        try:
            addresses = resolve(host, port)
        except OSError:
            raise RefusedTarget(f"host {host!r} does not resolve") from None
        if not addresses:
            raise RefusedTarget(f"host {host!r} does not resolve")
    refused = [address for address in addresses if not is_public_address(address)]
    if refused:
        raise RefusedTarget(f"host {host!r} resolves to a non-public address ({refused[0]})")
    return list(addresses)


def check_webhook_url(url: str, *, allow_private: bool, resolve: Resolver) -> None:
    host, port = parse_webhook_url(url, allow_private=allow_private)
    if not allow_private:
        public_addresses(host, port, resolve)
