"""Conformance fixture: a WebSocket API. Connect refuses ``?deny=yes``; each message is
echoed back through ``app.websocket_api.send`` (API Gateway's management API); every event is
recorded."""

from __future__ import annotations

import boto3
from chalice.app import Chalice, Response, WebsocketEvent
from chalicelib.observations import observe  # type: ignore[import-not-found]

app = Chalice(app_name="cf-ws")
app.experimental_feature_flags.update(["WEBSOCKETS"])
app.websocket_api.session = boto3.session.Session()


@app.on_ws_connect()
def connect(event: WebsocketEvent) -> Response | None:
    query = event.to_dict().get("queryStringParameters") or {}
    observe("connect", connection_id=event.connection_id, query=query, stage=event.stage)
    if query.get("deny") == "yes":
        return Response(body="", status_code=403)
    return None


@app.on_ws_message()
def message(event: WebsocketEvent) -> None:
    observe("message", connection_id=event.connection_id, body=event.body)
    app.websocket_api.send(event.connection_id, f"echo:{event.body}")


@app.on_ws_disconnect()
def disconnect(event: WebsocketEvent) -> None:
    observe("disconnect", connection_id=event.connection_id)
