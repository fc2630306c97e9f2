"""WebSocket APIs: a real ``ws://`` endpoint; ``$connect`` (which may refuse), ``$default``
messages and ``$disconnect`` reach their handlers with API Gateway's event; the management API
(``post_to_connection``, ``get_connection``, ``delete_connection``) reaches the client, from a
function (Chalice's ``app.websocket_api.send``) and from outside."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.emulator.backend import Backend, Deployment
from tests.harness import poll

pytestmark = pytest.mark.xdist_group("websockets")


@pytest.fixture(scope="module")
def app(backend: Backend) -> Deployment:
    return backend.deploy("websockets")


def open_socket(app: Deployment, **query: str) -> ClientConnection:
    assert app.websocket_url is not None
    suffix = "&".join(f"{key}={value}" for key, value in query.items())
    url = f"{app.websocket_url}?{suffix}" if suffix else app.websocket_url
    return poll(lambda: _connect(url), timeout=30, what="the WebSocket API answering")


def _connect(url: str) -> ClientConnection | None:
    try:
        return connect(url, open_timeout=10)
    except (ConnectionRefusedError, OSError):
        return None


def connection_of(app: Deployment, run: str) -> str:
    """The connection id that ``$connect`` saw for the socket opened with ``?run=RUN``."""
    items = app.await_observed(
        "connect", lambda items: any(item["query"].get("run") == run for item in items)
    )
    return str(next(item for item in items if item["query"].get("run") == run)["connection_id"])


def test_message_reaches_the_handler_and_its_reply_reaches_the_client(app: Deployment) -> None:
    # GIVEN an open connection
    run = uuid.uuid4().hex[:8]
    with open_socket(app, run=run) as socket:
        connection_id = connection_of(app, run)

        # WHEN the client sends a message
        socket.send(f"hello-{run}")

        # THEN the handler gets it on that connection and its send() comes back
        assert socket.recv(timeout=30) == f"echo:hello-{run}"
    items = app.await_observed(
        "message", lambda items: any(i["body"] == f"hello-{run}" for i in items)
    )
    assert next(i for i in items if i["body"] == f"hello-{run}")["connection_id"] == connection_id


def test_connect_event_carries_stage_and_query(app: Deployment) -> None:
    run = uuid.uuid4().hex[:8]
    with open_socket(app, run=run):
        items = app.await_observed(
            "connect", lambda items: any(item["query"].get("run") == run for item in items)
        )

    item = next(item for item in items if item["query"].get("run") == run)
    assert item["stage"] == "api"
    assert item["connection_id"]


def test_connect_handler_can_refuse_the_connection(app: Deployment) -> None:
    assert app.websocket_url is not None

    with pytest.raises(InvalidStatus) as refused:
        connect(f"{app.websocket_url}?deny=yes", open_timeout=10)

    assert refused.value.response.status_code == 403


def test_disconnect_handler_runs_when_the_client_closes(app: Deployment) -> None:
    run = uuid.uuid4().hex[:8]
    with open_socket(app, run=run):
        connection_id = connection_of(app, run)

    app.await_observed(
        "disconnect", lambda items: any(i["connection_id"] == connection_id for i in items)
    )


def test_management_api_reaches_the_client_from_outside(app: Deployment) -> None:
    # GIVEN an open connection and the management API client of the stage
    run = uuid.uuid4().hex[:8]
    management = app.aws("apigatewaymanagementapi")
    with open_socket(app, run=run) as socket:
        connection_id = connection_of(app, run)

        # WHEN a script posts to the connection, reads it, then deletes it
        management.post_to_connection(ConnectionId=connection_id, Data=f"pushed-{run}".encode())
        received = socket.recv(timeout=30)
        info: dict[str, Any] = management.get_connection(ConnectionId=connection_id)
        management.delete_connection(ConnectionId=connection_id)

        # THEN the client got the data, and the connection is closed and gone
        assert received == f"pushed-{run}"
        assert info["Identity"]["SourceIp"]
        assert info["ConnectedAt"]
        with pytest.raises(ConnectionClosed):
            socket.recv(timeout=30)
    app.await_observed(
        "disconnect", lambda items: any(i["connection_id"] == connection_id for i in items)
    )
    with pytest.raises(ClientError) as gone:
        management.post_to_connection(ConnectionId=connection_id, Data=b"late")
    assert gone.value.response["Error"]["Code"] == "GoneException"
