"""The runner's HTTP endpoint on loopback: its control routes, the Lambda ``Invoke`` API and
the API Gateway management API of the WebSocket API.

Functions reach it through per-service endpoint variables, which the local cloud sets for
every process it runs (and prints for the user): ``AWS_ENDPOINT_URL_LAMBDA`` and
``AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI``; every other service stays on
``AWS_ENDPOINT_URL``.

- ``GET /status``, ``POST /functions/NAME/fire``: counters, fire a schedule now.
- ``POST /2015-03-31/functions/NAME/invocations``: Lambda's Invoke, for every function of the
  project (by name, partial or full ARN): ``RequestResponse`` answers the function's result
  (``X-Amz-Function-Error: Unhandled`` and the error as payload when it raised or timed out),
  ``Event`` answers 202 and queues the event on the function's carrier (asynchronous, with
  Lambda's retries), ``DryRun`` answers 204.
- ``POST|GET|DELETE [/STAGE]/@connections/ID``: post to, describe or close a WebSocket
  connection (410 ``GoneException`` when it is gone).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from tocsin_local.loopback import refusal

INVOKE_PREFIX = "/2015-03-31/functions/"
MAX_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024
MAX_ASYNC_PAYLOAD_BYTES = 256 * 1024


class Reply:
    def __init__(
        self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}


def error_reply(status: int, kind: str, message: str) -> Reply:
    """An AWS JSON error as botocore's rest-json parser reads it."""
    body = json.dumps({"__type": kind, "Type": "User", "message": message}).encode()
    return Reply(status, body, {"Content-Type": "application/json", "X-Amzn-ErrorType": kind})


class Backend(Protocol):
    """What the endpoint serves; the runner implements it."""

    def status(self) -> dict[str, Any]: ...

    def fire(self, function_name: str) -> bool: ...

    def invoke(self, function: str, invocation_type: str, payload: bytes) -> Reply: ...

    def connection(self, method: str, connection_id: str, data: bytes) -> Reply: ...


def _route(backend: Backend, method: str, path: str, headers: Any, body: bytes) -> Reply:
    if method == "GET" and path == "/status":
        return Reply(
            200, json.dumps(backend.status()).encode(), {"Content-Type": "application/json"}
        )
    parts = path.strip("/").split("/")
    if method == "POST" and len(parts) == 3 and parts[0] == "functions" and parts[2] == "fire":
        fired = backend.fire(parts[1])
        return Reply(202 if fired else 404, json.dumps({"fired": fired}).encode())
    if path.startswith(INVOKE_PREFIX) and path.endswith("/invocations") and method == "POST":
        function = unquote(path[len(INVOKE_PREFIX) : -len("/invocations")])
        invocation_type = headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        return backend.invoke(function, invocation_type, body)
    if "@connections" in parts:
        index = parts.index("@connections")
        if len(parts) == index + 2 and method in ("POST", "GET", "DELETE"):
            return backend.connection(method, unquote(parts[index + 1]), body)
    return error_reply(404, "UnknownOperationException", f"{method} {path} is not served here")


def serve(backend: Backend, port: int) -> ThreadingHTTPServer:
    """Starts the endpoint on ``127.0.0.1:port`` (0: a free port) in a thread of its own."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _handle(self) -> None:
            # Only local tools and functions call this port: never a web page.
            reason = refusal(self.headers.get("Host"), self.headers.get("Origin"), ())
            length = int(self.headers.get("Content-Length") or 0)
            if reason is not None:
                reply = Reply(403, json.dumps({"error": f"forbidden: {reason}"}).encode())
            elif length > MAX_SYNC_PAYLOAD_BYTES:
                reply = error_reply(
                    413, "RequestTooLargeException", "Request must be smaller than 6291456 bytes"
                )
            else:
                body = self.rfile.read(length) if length else b""
                path = urlsplit(self.path).path
                reply = _route(backend, self.command, path, self.headers, body)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            if reply.status == 413:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(reply.body)

        do_GET = do_POST = do_DELETE = _handle

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="endpoint").start()
    return server
