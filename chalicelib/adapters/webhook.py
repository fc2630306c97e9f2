"""Webhooks: an HTTP POST signed per the Standard Webhooks specification.

The host is resolved right before each attempt and the connection goes to one of the addresses
just resolved (outside the local stage: just checked to be public; the TLS name check still uses
the host), so a DNS answer that changes between registration and send cannot aim Tocsin at an
internal address. The addresses are tried in turn until one accepts the connection.

One deadline bounds the whole attempt: resolving, connecting, sending, and reading the status,
headers and body. A receiver that answers a byte at a time cannot hold a send past it: a
watchdog cuts the connection when the deadline passes, and the attempt counts as timed out.
Redirects are never followed and at most a few KiB of the answer are read.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from http.client import HTTPException
from typing import Any
from urllib.parse import urlsplit

from standardwebhooks import Webhook
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError
from urllib3.response import BaseHTTPResponse

from chalicelib.domain.retry import RETRY_AFTER_STATUSES, is_transient_status, parse_retry_after
from chalicelib.domain.webhook_targets import (
    RefusedTarget,
    Resolver,
    order_addresses,
    parse_webhook_url,
    resolve_addresses,
)
from chalicelib.models.common import Channel, format_timestamp
from chalicelib.models.scheduling import DigestEntry
from chalicelib.models.stored import Delivery, Tenant
from chalicelib.ports import Clock, Outgoing, SendOutcome

USER_AGENT = "Tocsin-Webhooks/0.1"


def resolve_host(host: str, port: int) -> Sequence[str]:
    """The host's addresses in the resolver's order of preference (RFC 6724)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class DeadlinePassed(Exception):
    """The attempt ran out of time."""


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self._at - time.monotonic()
        if left <= 0:
            raise DeadlinePassed
        return left


class _Guarded:
    """A connection that remembers its socket's descriptor as soon as TCP connects, so that a
    watchdog can cut it even during the TLS handshake."""

    fd: int | None = None

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        self.fd = sock.fileno()
        return sock


class _GuardedHTTP(_Guarded, HTTPConnection):
    pass


class _GuardedHTTPS(_Guarded, HTTPSConnection):
    pass


class _Watchdog:
    """Cuts a connection when the deadline passes, whatever the connection is blocked on."""

    def __init__(self, connection: _Guarded, deadline: _Deadline) -> None:
        self.fired = False
        self._connection = connection
        self._lock = threading.Lock()
        self._timer = threading.Timer(deadline.remaining(), self._cut)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        with self._lock:
            self._timer.cancel()
            self._connection = None  # type: ignore[assignment]

    def _cut(self) -> None:
        with self._lock:
            if self._connection is None or self._connection.fd is None:
                return
            self.fired = True
            # The descriptor's own shutdown, under TLS too: a blocked read or write returns at
            # once. The socket object made for it is detached, so the descriptor stays open.
            cut = socket.socket(fileno=self._connection.fd)
            try:
                cut.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            finally:
                cut.detach()


# Resolution cannot be interrupted; it runs here so that the attempt's deadline still holds.
_resolvers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook-resolve")


def digest_item(entry: DigestEntry) -> dict[str, Any]:
    content = entry.content
    return {
        "id": entry.notification_id,
        "title": content.title,
        "body": content.body,
        "severity": content.severity.value,
        "category": content.category,
        "data": content.data,
        "created_at": format_timestamp(entry.created_at),
    }


def webhook_payload(outgoing: Outgoing) -> str:
    """The exact text that is signed and sent."""
    content = outgoing.content
    payload: dict[str, Any]
    if outgoing.digest is not None:
        payload = {
            "type": "digest",
            "id": outgoing.notification_id,
            "key": outgoing.digest.key,
            "title": content.title,
            "created_at": format_timestamp(outgoing.created_at),
            "items": [digest_item(entry) for entry in outgoing.digest.on(Channel.WEBHOOK)],
        }
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    payload = {
        "type": "notification",
        "id": outgoing.notification_id,
        "title": content.title,
        "body": content.body,
        "severity": content.severity.value,
        "category": content.category,
        "data": content.data,
        "created_at": format_timestamp(outgoing.created_at),
    }
    if outgoing.topic is not None:
        payload["topic"] = outgoing.topic
    if content.alert is not None:
        payload["alert"] = content.alert.model_dump(mode="json")
    return json.dumps(
        payload,
        separators=(",", ":"),
        ensure_ascii=False,
    )


class JsonPoster:
    """One POST of a JSON text within one deadline, with the checks of
    ``domain.webhook_targets``: what webhooks and chat webhooks share."""

    def __init__(
        self,
        *,
        clock: Clock,
        timeout: float,
        max_response_bytes: int,
        allow_private: bool,
        ipv6_egress: bool = False,
        resolve: Resolver = resolve_host,
        user_agent: str = USER_AGENT,
        name: str = "webhook",
    ) -> None:
        self._name = name
        self._clock = clock
        self._timeout = timeout
        self._max_response_bytes = max_response_bytes
        self._allow_private = allow_private
        self._ipv6_egress = ipv6_egress
        self._resolve = resolve
        self._user_agent = user_agent

    def post(
        self,
        url: str,
        payload: str,
        headers: Callable[[], dict[str, str]] = dict,
    ) -> SendOutcome:
        """``headers``: made once the host is resolved, right before sending (a signature's
        timestamp is as fresh as it can be)."""
        deadline = _Deadline(self._timeout)
        try:
            host, port = parse_webhook_url(url, allow_private=self._allow_private)
            addresses = self._addresses(host, port, deadline)
        except RefusedTarget as refused:
            return SendOutcome.permanent_failure(f"{self._name} URL refused: {refused}")
        except DeadlinePassed:
            return SendOutcome.transient(f"timed out after {self._timeout:g} s (resolving)")
        sent = {
            "content-type": "application/json",
            "user-agent": self._user_agent,
            "host": urlsplit(url).netloc,
            **headers(),
        }
        failures: list[str] = []
        for address in addresses:
            connection = self._connection(url, host, address, port)
            try:
                status, retry_after = self._exchange(
                    connection, url, payload.encode(), sent, deadline
                )
            except _Unreachable as error:
                failures.append(f"{address}: {error}")
                continue
            except DeadlinePassed:
                return SendOutcome.transient(f"timed out after {self._timeout:g} s")
            except (OSError, HTTPException, HTTPError) as error:
                return SendOutcome.transient(f"connection failed: {type(error).__name__}: {error}")
            finally:
                connection.close()
            return self._classify(status, retry_after)
        return SendOutcome.transient("connection failed: " + "; ".join(failures))

    def _addresses(self, host: str, port: int, deadline: _Deadline) -> list[str]:
        future = _resolvers.submit(
            resolve_addresses, host, port, self._resolve, allow_private=self._allow_private
        )
        try:
            addresses = future.result(timeout=deadline.remaining())
        except FutureTimeout:
            raise DeadlinePassed from None
        return order_addresses(addresses, ipv6_egress=self._ipv6_egress)

    @staticmethod
    def _connection(url: str, host: str, address: str, port: int) -> _GuardedHTTP | _GuardedHTTPS:
        if urlsplit(url).scheme == "https":
            return _GuardedHTTPS(address, port, server_hostname=host, assert_hostname=host)
        return _GuardedHTTP(address, port)

    def _exchange(
        self,
        connection: _GuardedHTTP | _GuardedHTTPS,
        url: str,
        body: bytes,
        headers: dict[str, str],
        deadline: _Deadline,
    ) -> tuple[int, str | None]:
        """(status, Retry-After) of one POST, all of it within the deadline."""
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        with _Watchdog(connection, deadline) as watchdog:
            try:
                connection.timeout = deadline.remaining()
                try:
                    connection.connect()
                except (OSError, HTTPError) as error:
                    if watchdog.fired:
                        raise
                    deadline.remaining()
                    raise _Unreachable(f"{type(error).__name__}: {error}") from None
                connection.request("POST", path, body=body, headers=headers, preload_content=False)
                response: BaseHTTPResponse = connection.getresponse()
                response.read(self._max_response_bytes)
            except (OSError, HTTPException, HTTPError):
                if watchdog.fired:
                    raise DeadlinePassed from None
                raise
        if watchdog.fired:
            raise DeadlinePassed
        return response.status, response.headers.get("retry-after")

    def _classify(self, status: int, retry_after_header: str | None) -> SendOutcome:
        if 200 <= status <= 299:
            return SendOutcome.ok(http_status=status)
        error = f"HTTP {status}"
        if is_transient_status(status):
            retry_after = None
            if status in RETRY_AFTER_STATUSES:
                retry_after = parse_retry_after(retry_after_header, self._clock.now())
            return SendOutcome.transient(error, retry_after, http_status=status)
        return SendOutcome.permanent_failure(
            error + (" (redirects are not followed)" if 300 <= status <= 399 else ""),
            http_status=status,
        )


class _Unreachable(Exception):
    """This address took no connection; the next one may."""


class WebhookSender:
    channel = Channel.WEBHOOK

    def __init__(
        self,
        *,
        clock: Clock,
        timeout: float,
        max_response_bytes: int,
        allow_private: bool,
        ipv6_egress: bool = False,
        resolve: Resolver = resolve_host,
    ) -> None:
        self._clock = clock
        self._poster = JsonPoster(
            clock=clock,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            allow_private=allow_private,
            ipv6_egress=ipv6_egress,
            resolve=resolve,
        )

    def send(self, outgoing: Outgoing, delivery: Delivery, tenant: Tenant) -> SendOutcome:
        assert delivery.address is not None
        assert delivery.webhook_id is not None
        webhook_id = delivery.webhook_id
        payload = webhook_payload(outgoing)

        def signed() -> dict[str, str]:
            sent_at = self._clock.now()
            return {
                "webhook-id": webhook_id,
                "webhook-timestamp": str(int(sent_at.timestamp())),
                "webhook-signature": Webhook(tenant.webhook_secret).sign(
                    webhook_id, sent_at, payload
                ),
            }

        return self._poster.post(delivery.address, payload, signed)
