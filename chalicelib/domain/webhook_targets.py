"""Which webhook URLs Tocsin will call.

Outside the local stage a webhook must be https and its host must resolve only to public
addresses: never loopback, private, link-local (cloud metadata at 169.254.169.254), multicast
or reserved ones, nor an IPv6 form that embeds such an IPv4 address (mapped, compatible, NAT64,
6to4, Teredo). The check runs when the URL is registered and again before every send, against
the addresses actually connected to, so DNS rebinding cannot slip past it.

Every check here is linear in the length of its input: no pattern with nested repetition.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

Resolver = Callable[[str, int], Sequence[str]]

MAX_HOST_NAME = 253
MAX_LABEL = 63
# One label of a host name: letters, digits and inner hyphens (internationalized names in
# their punycode form). Matched a label at a time, so the time is linear in the name's length.
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# Control characters, spaces and DEL: never part of a URL as sent on the wire.
_UNSAFE_IN_URL = re.compile(r"[\x00-\x20\x7f]")

# IPv6 prefixes that carry an IPv4 address in their last 32 bits.
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


class RefusedTarget(Exception):
    pass


def is_host_name(host: str) -> bool:
    """A DNS host name (one trailing dot allowed), checked a label at a time."""
    name = host[:-1] if host.endswith(".") else host
    if not 1 <= len(name) <= MAX_HOST_NAME:
        return False
    return all(_LABEL.fullmatch(label) for label in name.split("."))


def _embedded_ipv4s(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for, when its form embeds any."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)
    if any(ip in network for network in _NAT64) or int(ip) >> 32 == 0:
        # NAT64 (RFC 6052) and the deprecated IPv4-compatible form ``::a.b.c.d``.
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return []


def _is_public_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not ip.is_multicast


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and not all(
        _is_public_ip(embedded) for embedded in _embedded_ipv4s(ip)
    ):
        return False
    return _is_public_ip(ip)


def _literal_address(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def parse_webhook_url(url: str, *, allow_private: bool) -> tuple[str, int]:
    """(host, port) of an acceptable URL; raises RefusedTarget with the reason otherwise."""
    unsafe = _UNSAFE_IN_URL.search(url)
    if unsafe is not None:
        raise RefusedTarget(
            f"must not contain whitespace or control characters (found {unsafe.group()!r})"
        )
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
    if _literal_address(host) is None and not is_host_name(host):
        raise RefusedTarget(f"{host[:80]!r} is not a valid host name")
    if parts.username is not None or parts.password is not None:
        raise RefusedTarget("must not carry credentials")
    default_port = 443 if parts.scheme == "https" else 80
    return host, port or default_port


def order_addresses(addresses: Sequence[str], *, ipv6_egress: bool) -> list[str]:
    """The order to try addresses in: as resolved (RFC 6724), but IPv4 first where the
    deployment cannot reach IPv6 (Lambda outside a dual-stack VPC); duplicates dropped."""
    unique = list(dict.fromkeys(addresses))
    if ipv6_egress:
        return unique
    return sorted(unique, key=lambda address: ":" in address)


def resolve_addresses(host: str, port: int, resolve: Resolver, *, allow_private: bool) -> list[str]:
    """Addresses of ``host``; outside the local stage only when every one is public (raises
    RefusedTarget otherwise)."""
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
    if not allow_private:
        refused = [address for address in addresses if not is_public_address(address)]
        if refused:
            raise RefusedTarget(f"host {host!r} resolves to a non-public address ({refused[0]})")
    return list(addresses)


def check_webhook_url(url: str, *, allow_private: bool, resolve: Resolver) -> None:
    host, port = parse_webhook_url(url, allow_private=allow_private)
    if not allow_private:
        resolve_addresses(host, port, resolve, allow_private=False)
