"""A WebSocket API in front of a Chalice app's ``on_ws_connect``, ``on_ws_message`` and
``on_ws_disconnect`` handlers: a real ``ws://`` endpoint on loopback.

As API Gateway does it: ``$connect`` runs during the handshake (a handler that raises, or
answers a status other than 2xx, refuses the connection with that status, 500 for an error);
each message is one invocation of the ``$default`` handler, in order per connection; the
``$disconnect`` handler runs once the connection is closed, by either side. Events have
API Gateway's WebSocket shape (``requestContext.connectionId``, ``routeKey``, ``eventType``,
``domainName``, ``stage``, ``apiId``). ``post_to_connection``, ``get_connection`` and
``delete_connection`` are served by the runner's endpoint (``tocsin_local.emulator.endpoint``)
through :meth:`WebSocketApi.connection`.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from tocsin_local.emulator.endpoint import Reply, error_reply
from tocsin_local.emulator.functions import Invocation
from tocsin_local.loopback import refusal

log = logging.getLogger("tocsin.emulator")

API_ID = "local"
# API Gateway's WebSocket limits: 128 KB per message.
MAX_MESSAGE_BYTES = 128 * 1024

Invoke = Callable[[str, dict[str, Any]], Invocation | None]


def connection_id() -> str:
    """An id shaped like API Gateway's (16 characters of base64), safe in a URL path."""
    return base64.urlsafe_b64encode(os.urandom(11)).decode()


@dataclass
class _Connection:
    id: str
    socket: ServerConnection
    headers: dict[str, str]
    query: dict[str, list[str]]
    source_ip: str
    user_agent: str
    connected_at: float = field(default_factory=time.time)
    last_active_at: float = field(default_factory=time.time)
    closed_by_api: bool = False


def _time_text(epoch: float) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch))


class WebSocketApi:
    def __init__(self, invoke: Invoke, stage: str, region: str) -> None:
        self._invoke = invoke
        self.stage = stage
        self.region = region
        self._connections: dict[str, _Connection] = {}
        self._lock = threading.Lock()
        self._server: Server | None = None
        self.port = 0

    @property
    def domain_name(self) -> str:
        return f"{API_ID}.execute-api.{self.region}.amazonaws.com"

    def start(self, port: int) -> None:
        self._server = serve(
            self._serve,
            "127.0.0.1",
            port,
            process_request=self._handshake,
            max_size=MAX_MESSAGE_BYTES,
            compression=None,
        )
        self.port = self._server.socket.getsockname()[1]
        threading.Thread(target=self._server.serve_forever, daemon=True, name="websocket").start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()

    def _context(self, connection: _Connection, route: str, kind: str) -> dict[str, Any]:
        now = time.time()
        return {
            "routeKey": route,
            "eventType": kind,
            "extendedRequestId": uuid.uuid4().hex[:16],
            "requestTime": _time_text(now),
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": int(connection.connected_at * 1000),
            "requestTimeEpoch": int(now * 1000),
            "identity": {"sourceIp": connection.source_ip, "userAgent": connection.user_agent},
            "requestId": uuid.uuid4().hex[:16],
            "domainName": self.domain_name,
            "connectionId": connection.id,
            "apiId": API_ID,
        }

    def _handshake(self, socket: ServerConnection, request: Request) -> Response | None:
        # Pages of any origin may connect, as to API Gateway; a non-loopback Host (a DNS
        # rebinding page) may not.
        reason = refusal(request.headers.get("Host"), None, ())
        if reason is not None:
            return socket.respond(403, json.dumps({"message": "Forbidden"}) + "\n")
        headers = {name: value for name, value in request.headers.raw_items()}
        query = parse_qs(urlsplit(request.path).query)
        remote = socket.remote_address
        connection = _Connection(
            id=connection_id(),
            socket=socket,
            headers=headers,
            query=query,
            source_ip=str(remote[0]) if remote else "127.0.0.1",
            user_agent=request.headers.get("User-Agent", ""),
        )
        event: dict[str, Any] = {
            "headers": headers,
            "multiValueHeaders": {name: [value] for name, value in headers.items()},
            "requestContext": self._context(connection, "$connect", "CONNECT"),
            "isBase64Encoded": False,
        }
        if query:
            event["queryStringParameters"] = {key: values[-1] for key, values in query.items()}
            event["multiValueQueryStringParameters"] = query
        result = self._invoke("$connect", event)
        status = _status(result)
        if not 200 <= status < 300:
            message = "Forbidden" if status < 500 else "Internal server error"
            return socket.respond(status, json.dumps({"message": message}) + "\n")
        socket.tocsin_connection = connection  # type: ignore[attr-defined]
        with self._lock:
            self._connections[connection.id] = connection
        return None

    def _serve(self, socket: ServerConnection) -> None:
        connection: _Connection = socket.tocsin_connection  # type: ignore[attr-defined]
        try:
            for message in socket:
                connection.last_active_at = time.time()
                binary = isinstance(message, bytes)
                body = base64.b64encode(message).decode() if isinstance(message, bytes) else message
                event = {
                    "requestContext": {
                        **self._context(connection, "$default", "MESSAGE"),
                        "messageId": uuid.uuid4().hex[:16],
                    },
                    "body": body,
                    "isBase64Encoded": binary,
                }
                self._invoke("$default", event)
        except ConnectionClosed:
            pass
        finally:
            code = socket.close_code or 1006
            reason = socket.close_reason or ""
            with self._lock:
                self._connections.pop(connection.id, None)
            event = {
                "headers": connection.headers,
                "multiValueHeaders": {name: [value] for name, value in connection.headers.items()},
                "requestContext": {
                    **self._context(connection, "$disconnect", "DISCONNECT"),
                    "disconnectStatusCode": code,
                    "disconnectReason": reason,
                },
                "isBase64Encoded": False,
            }
            self._invoke("$disconnect", event)

    def connection(self, method: str, connection_id: str, data: bytes) -> Reply:
        """The API Gateway management API for one connection."""
        with self._lock:
            connection = self._connections.get(connection_id)
        if connection is None:
            return error_reply(410, "GoneException", f"connection {connection_id} is gone")
        if method == "GET":
            body = {
                "connectedAt": _iso(connection.connected_at),
                "identity": {"sourceIp": connection.source_ip, "userAgent": connection.user_agent},
                "lastActiveAt": _iso(connection.last_active_at),
            }
            return Reply(200, json.dumps(body).encode(), {"Content-Type": "application/json"})
        if method == "DELETE":
            connection.closed_by_api = True
            connection.socket.close()
            return Reply(204)
        if len(data) > MAX_MESSAGE_BYTES:
            return error_reply(413, "PayloadTooLargeException", "the message is larger than 128 KB")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            connection.socket.send(data)
        else:
            connection.socket.send(text)
        return Reply(200)


def _status(result: Invocation | None) -> int:
    """The status a ``$connect`` invocation answers: no handler and no status mean 200."""
    if result is None:
        return 200
    if not result.ok:
        return 500
    answer = result.result
    if isinstance(answer, dict) and "statusCode" in answer:
        try:
            return int(answer["statusCode"])
        except (TypeError, ValueError):
            return 500
    return 200


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
