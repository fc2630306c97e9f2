"""Apprise: its scheme list, its sender, and that nothing but its own function imports it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from chalicelib.domain.apprise_schemes import APPRISE_SCHEMES, APPRISE_VERSION
from chalicelib.models.common import Channel, Severity
from chalicelib.models.stored import Content, Delivery, Tenant
from chalicelib.ports import Outgoing
from infra.resources import PROJECT_DIR

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
TENANT = Tenant(
    name="acme", webhook_secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", created_at=NOW
)


def test_the_scheme_list_is_the_installed_apprises() -> None:
    import apprise
    from apprise.manager_plugins import NotificationManager

    installed = sorted(set(NotificationManager().schemas()))  # type: ignore[no-untyped-call]
    assert apprise.__version__ == APPRISE_VERSION
    assert sorted(APPRISE_SCHEMES) == installed, (
        "regenerate chalicelib/domain/apprise_schemes.py from "
        f"NotificationManager().schemas(): {json.dumps(installed)}"
    )


PROBE = """
import json, sys
import app
from chalicelib import triggers
from chalicelib.models.common import Channel
from chalicelib.wiring import services
services()
for channel in Channel:
    if channel.value != "apprise" and channel.value != "inbox":
        triggers.deliver(channel, {"Records": []}, None)
before = sorted(m for m in sys.modules if m.split(".")[0] == "apprise" or m.startswith("chalicelib.adapters.") and m.rsplit(".", 1)[1] in ("apprise_sender", "chat", "push"))
from chalicelib.settings import get_settings
from chalicelib.wiring import apprise_sender
apprise_sender(get_settings())
print(json.dumps({"before": before, "after": "apprise" in sys.modules}))
"""


def test_only_the_apprise_function_imports_apprise() -> None:
    # GIVEN a fresh interpreter that imports the app and runs every other deliver function
    env = {
        **os.environ,
        "TOCSIN_STAGE": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    # WHEN it is done, and then the Apprise sender is built as deliver_apprise builds it
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # THEN Apprise was not loaded before, and is after
    assert report == {"before": [], "after": True}


@pytest.fixture
def service() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def outgoing(**content: object) -> Outgoing:
    return Outgoing(
        notification_id="n1",
        created_at=NOW,
        content=Content(title="Disk almost full", **content),
    )


def delivery(*urls: str) -> Delivery:
    return Delivery(
        tenant_id="acme",
        notification_id="n1",
        recipient_id="alice",
        channel=Channel.APPRISE,
        targets=list(urls),
    )


def test_apprise_sends_each_url_and_retries_only_those_that_failed(service: HTTPServer) -> None:
    from chalicelib.adapters.apprise_sender import AppriseSender

    # GIVEN two Apprise JSON services, one of them failing
    received: list[dict[str, object]] = []

    def ok(request: Request) -> Response:
        received.append(json.loads(request.get_data()))
        return Response("{}", 200)

    service.expect_request("/ok", method="POST").respond_with_handler(ok)
    service.expect_request("/down", method="POST").respond_with_data("", 503)
    host = f"127.0.0.1:{service.port}"
    sender = AppriseSender(allow_private=True, resolve=lambda host, port: [], timeout=10)
    # WHEN a critical notification with a link is sent to both
    outcome = sender.send(
        outgoing(
            body="db-1 at 93%",
            severity=Severity.CRITICAL,
            data={"url": "https://status.example.com"},
        ),
        delivery(f"json://{host}/ok", f"json://{host}/down"),
        TENANT,
    )
    # THEN the first got Apprise's JSON message, and only the second is left to retry
    assert [(m["title"], m["message"], m["type"]) for m in received] == [
        ("Disk almost full", "db-1 at 93%\n\nhttps://status.example.com", "failure")
    ]
    assert not outcome.delivered
    assert not outcome.permanent
    assert outcome.remaining == (f"json://{host}/down",)
    assert outcome.reached == 1
    assert outcome.error == "json://****: the service did not take it"


def test_a_url_apprise_cannot_use_fails_for_good() -> None:
    from chalicelib.adapters.apprise_sender import AppriseSender

    sender = AppriseSender(allow_private=True, resolve=lambda host, port: [], timeout=10)
    outcome = sender.send(outgoing(), delivery("mailto://"), TENANT)
    assert outcome.permanent
    assert outcome.error == "mailto://****: not a URL Apprise can use"
