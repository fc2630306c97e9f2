"""What the local cloud's loopback servers let in: web pages of other origins are refused by the
AWS endpoint and the runner's control port, and the gateway stops reading a body at its limit."""

from __future__ import annotations

import io
from typing import Any

import pytest
from chalice.app import Chalice
from werkzeug.test import Client, EnvironBuilder
from werkzeug.wrappers import Request

from tocsin_local.emulator.gateway import MAX_PAYLOAD_BYTES, Gateway
from tocsin_local.loopback import LoopbackGuard, refusal


def cors_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Stands in for moto's app, which answers every origin with permissive CORS headers."""
    start_response(
        "200 OK",
        [("Content-Type", "application/json"), ("Access-Control-Allow-Origin", "*")],
    )
    return [b"{}"]


GUARDED = Client(
    LoopbackGuard(
        cors_app,
        allowed_paths=frozenset({"/moto-api/data.json"}),
        origins=frozenset({"http://localhost:3000"}),
    )
)


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/", {"Host": "127.0.0.1:4566"}, 200),
        ("/moto-api/data.json", {"Host": "localhost:4566"}, 200),
        ("/", {"Host": "127.0.0.1:4566", "Origin": "https://evil.example"}, 403),
        ("/", {"Host": "127.0.0.1:4566", "Origin": "null"}, 403),
        ("/", {"Host": "evil.example:4566"}, 403),
        ("/", {"Host": "127.0.0.1.nip.io:4566"}, 403),
        ("/moto-api/reset", {"Host": "127.0.0.1:4566"}, 403),
        ("/moto-api/", {"Host": "127.0.0.1:4566"}, 403),
        ("/", {"Host": "127.0.0.1:4566", "Origin": "http://localhost:3000"}, 200),
    ],
)
def test_the_aws_endpoint_refuses_web_pages_and_moto_api_paths(
    path: str, headers: dict[str, str], status: int
) -> None:
    response = GUARDED.post(path, headers=headers)
    assert response.status_code == status


def test_the_aws_endpoint_sends_cors_headers_only_to_a_named_origin() -> None:
    plain = GUARDED.get("/", headers={"Host": "127.0.0.1:4566"})
    assert not [
        name for name, _ in plain.headers.items() if name.lower().startswith("access-control")
    ]
    named = GUARDED.get("/", headers={"Host": "127.0.0.1", "Origin": "http://localhost:3000"})
    assert named.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    ("host", "origin", "refused"),
    [
        ("127.0.0.1:8123", None, False),
        ("[::1]:8123", None, False),
        ("127.0.0.1:8123", "https://evil.example", True),
        ("attacker.example:8123", None, True),
        (None, None, True),
    ],
)
def test_the_control_port_admits_local_tools_only(
    host: str | None, origin: str | None, refused: bool
) -> None:
    assert (refusal(host, origin, ()) is not None) is refused


class EndlessBody(io.RawIOBase):
    """A body that never ends, counting what was read of it."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = len(buffer)
        buffer[:size] = b"x" * size
        self.read_bytes += size
        return size


def test_the_gateway_stops_reading_a_body_without_length_at_its_limit() -> None:
    # GIVEN a chunked request whose body never ends
    body = EndlessBody()
    environ = EnvironBuilder(method="POST", path="/anything").get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ["wsgi.input"] = body
    environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    environ["wsgi.input_terminated"] = True
    # WHEN the gateway handles it
    response = Gateway(Chalice("any"), "api", 30.0).handle(Request(environ))
    # THEN it answers 413 having read no more than the limit and one chunk
    assert response.status_code == 413
    assert response.headers["Connection"] == "close"
    assert MAX_PAYLOAD_BYTES < body.read_bytes <= MAX_PAYLOAD_BYTES + 64 * 1024
