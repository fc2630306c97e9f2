"""Test helpers: free ports, polling with a deadline, the local stack as a process, an API
client, and a webhook receiver that verifies Standard Webhooks signatures."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from pytest_httpserver import HTTPServer
from standardwebhooks import Webhook
from werkzeug.wrappers import Request, Response

from tocsin_local.stack import StackInfo, StackProcess, tocsin_command


def poll[T](
    check: Callable[[], T | None],
    *,
    timeout: float = 30.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Calls ``check`` until it returns something truthy, or fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout} s (last: {last!r})")


@dataclass
class Stack:
    """The local stack, started as `make run` starts it."""

    running: StackProcess
    info: StackInfo

    @classmethod
    def start(
        cls, state_dir: Path, env: dict[str, str] | None = None, timeout: float = 90.0
    ) -> Stack:
        running = StackProcess(state_dir, env=env)
        return cls(running, running.wait_ready(timeout))

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self.running.process

    @property
    def state_dir(self) -> Path:
        return self.running.state_dir

    @property
    def api_url(self) -> str:
        return self.info.api_url

    @property
    def api_key(self) -> str:
        return self.info.api_key

    @property
    def webhook_secret(self) -> str:
        return self.info.webhook_secret

    @property
    def aws_endpoint_url(self) -> str:
        return self.info.aws_endpoint_url

    def stop(self) -> int:
        return self.running.stop()

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Runs the `tocsin` CLI against this stack (found through AWS_ENDPOINT_URL)."""
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": self.aws_endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        return subprocess.run(
            [*tocsin_command(), *args],
            cwd=self.state_dir,
            env=env,
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
        )

    def new_tenant(self, name: str) -> tuple[str, str]:
        """(api_key, webhook_secret) of a fresh key for ``name``, minted with the CLI."""
        issued = json.loads(self.cli("keys", "create", "--tenant", name).stdout)
        return issued["api_key"], issued["webhook_secret"]

    def client(self, api_key: str | None = None) -> Api:
        return Api(self.api_url, api_key if api_key is not None else self.api_key)


@dataclass
class Api:
    base: str
    key: str
    session: requests.Session = field(default_factory=requests.Session)

    def request(
        self, method: str, path: str, *, auth: bool = True, **kwargs: Any
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if auth and self.key:
            headers.setdefault("Authorization", f"Bearer {self.key}")
        return self.session.request(method, self.base + path, headers=headers, timeout=30, **kwargs)

    def put_recipient(self, recipient_id: str, **fields: Any) -> requests.Response:
        return self.request("PUT", f"/v1/recipients/{recipient_id}", json=fields)

    def notify(self, **body: Any) -> requests.Response:
        body.setdefault("title", "Disk almost full")
        return self.request("POST", "/v1/notifications", json=body)

    def notification(self, notification_id: str) -> dict[str, Any]:
        response = self.request("GET", f"/v1/notifications/{notification_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait_final(self, notification_id: str, timeout: float = 30.0) -> dict[str, Any]:
        final = {"delivered", "partially_delivered", "failed", "skipped"}

        def check() -> dict[str, Any] | None:
            notification = self.notification(notification_id)
            return notification if notification["status"] in final else None

        return poll(check, timeout=timeout, what=f"notification {notification_id} final")


@dataclass
class Delivery:
    webhook_id: str
    body: dict[str, Any]
    headers: dict[str, str]
    received_at: float = field(default_factory=time.monotonic)


class Receiver:
    """A webhook receiver on loopback that verifies every signature and records deliveries.

    ``respond`` decides the answer for each request (default 200)."""

    def __init__(self, server: HTTPServer, secret: str | None = None) -> None:
        self.server = server
        self.secret = secret
        self.received: list[Delivery] = []
        self.bad_signatures = 0
        self.respond: Callable[[Delivery], Response] = lambda _: Response("ok", status=200)
        self._lock = threading.Lock()
        server.expect_request("/hook", method="POST").respond_with_handler(self._handle)

    @property
    def url(self) -> str:
        return self.server.url_for("/hook")

    def _handle(self, request: Request) -> Response:
        payload = request.get_data(as_text=True)
        headers = {key.lower(): value for key, value in request.headers.items()}
        if self.secret is not None:
            try:
                Webhook(self.secret).verify(payload, headers)
            except Exception:
                with self._lock:
                    self.bad_signatures += 1
                return Response("bad signature", status=400)
        delivery = Delivery(headers.get("webhook-id", ""), json.loads(payload), headers)
        with self._lock:
            self.received.append(delivery)
        return self.respond(delivery)

    def for_notification(self, notification_id: str) -> list[Delivery]:
        with self._lock:
            return [item for item in self.received if item.body.get("id") == notification_id]


@contextlib.contextmanager
def receiver(secret: str | None) -> Iterator[Receiver]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        yield Receiver(server, secret)
    finally:
        server.clear()
        if server.is_running():
            server.stop()


@contextlib.contextmanager
def answering(
    answer: bytes, *, drip_from: int = 0, interval: float = 0.25
) -> Iterator[tuple[int, list[float]]]:
    """A raw HTTP server on 127.0.0.1 that reads each request, then sends ``answer``: the first
    ``drip_from`` bytes at once, the rest one byte per ``interval`` (a receiver that drips its
    answer). Yields (port, the times at which each connection ended)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    ended: list[float] = []

    def serve(connection: socket.socket) -> None:
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                request += chunk
            try:
                connection.sendall(answer[:drip_from])
                for index in range(drip_from, len(answer)):
                    if stop.wait(interval):
                        return
                    connection.sendall(answer[index : index + 1])
            except OSError:
                pass
            finally:
                ended.append(time.monotonic())

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1], ended
    finally:
        stop.set()
        listener.close()
