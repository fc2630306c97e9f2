"""Webhooks: an HTTP POST signed per the Standard Webhooks specification.

Outside the local stage the host is resolved right before each attempt and the connection goes
to one of the addresses just checked to be public (the TLS name check still uses the host), so a
DNS answer that changes between registration and send cannot aim Tocsin at an internal address.
Redirects are never followed and at most a few KiB of the answer are read.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

import urllib3
from standardwebhooks import Webhook

from chalicelib.domain.retry import RETRY_AFTER_STATUSES, is_transient_status, parse_retry_after
from chalicelib.domain.webhook_targets import (
    RefusedTarget,
    Resolver,
    parse_webhook_url,
    public_addresses,
)
from chalicelib.models.common import Channel, format_timestamp
from chalicelib.models.stored import Delivery, Notification, Tenant
from chalicelib.ports import Clock, SendOutcome

USER_AGENT = "Tocsin-Webhooks/0.1"


def resolve_host(host: str, port: int) -> Sequence[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def webhook_payload(notification: Notification) -> str:
    """The exact text that is signed and sent."""
    return json.dumps(
        {
            "type": "notification",
            "id": notification.id,
            "title": notification.title,
            "body": notification.body,
            "severity": notification.severity.value,
            "category": notification.category,
            "data": notification.data,
            "created_at": format_timestamp(notification.created_at),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


class WebhookSender:
    channel = Channel.WEBHOOK

    def __init__(
        self,
        *,
        clock: Clock,
        timeout: float,
        max_response_bytes: int,
        allow_private: bool,
        resolve: Resolver = resolve_host,
    ) -> None:
        self._clock = clock
        self._timeout = timeout
        self._max_response_bytes = max_response_bytes
        self._allow_private = allow_private
        self._resolve = resolve
        self._pool = urllib3.PoolManager(num_pools=64, maxsize=8, retries=False)

    def send(self, notification: Notification, delivery: Delivery, tenant: Tenant) -> SendOutcome:
        assert delivery.address is not None
        assert delivery.webhook_id is not None
        url = delivery.address
        try:
            host, port = parse_webhook_url(url, allow_private=self._allow_private)
            connect_to = (
                None if self._allow_private else public_addresses(host, port, self._resolve)
            )
        except RefusedTarget as refused:
            return SendOutcome.permanent_failure(f"webhook URL refused: {refused}")
        payload = webhook_payload(notification)
        sent_at = self._clock.now()
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": delivery.webhook_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": Webhook(tenant.webhook_secret).sign(
                delivery.webhook_id, sent_at, payload
            ),
        }
        try:
            response = self._post(url, host, port, connect_to, payload.encode(), headers)
        except urllib3.exceptions.NewConnectionError as error:
            # A subclass of the timeout errors in urllib3, though nothing timed out.
            return SendOutcome.transient(f"connection failed: {error}")
        except urllib3.exceptions.TimeoutError:
            return SendOutcome.transient(f"timed out after {self._timeout:g} s")
        except urllib3.exceptions.HTTPError as error:
            return SendOutcome.transient(f"connection failed: {type(error).__name__}: {error}")
        return self._classify(response)

    def _post(
        self,
        url: str,
        host: str,
        port: int,
        connect_to: list[str] | None,
        body: bytes,
        headers: dict[str, str],
    ) -> urllib3.BaseHTTPResponse:
        timeout = urllib3.Timeout(total=self._timeout)
        if connect_to is None:
            response = self._pool.request(
                "POST",
                url,
                body=body,
                headers=headers,
                timeout=timeout,
                redirect=False,
                preload_content=False,
            )
        else:
            parts = urlsplit(url)
            pool = urllib3.HTTPSConnectionPool(
                connect_to[0], port, server_hostname=host, assert_hostname=host, retries=False
            )
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            response = pool.urlopen(
                "POST",
                path,
                body=body,
                headers={**headers, "host": parts.netloc},
                timeout=timeout,
                redirect=False,
                preload_content=False,
            )
        try:
            response.read(self._max_response_bytes)
        finally:
            response.release_conn()
        return response

    def _classify(self, response: urllib3.BaseHTTPResponse) -> SendOutcome:
        status = response.status
        if 200 <= status <= 299:
            return SendOutcome.ok()
        error = f"HTTP {status}"
        if is_transient_status(status):
            retry_after = None
            if status in RETRY_AFTER_STATUSES:
                retry_after = parse_retry_after(
                    response.headers.get("retry-after"), self._clock.now()
                )
            return SendOutcome.transient(error, retry_after)
        return SendOutcome.permanent_failure(
            error + (" (redirects are not followed)" if 300 <= status <= 399 else "")
        )
