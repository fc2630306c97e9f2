"""Conformance fixture for hot reload: the test edits VERSION here and LIBRARY in chalicelib."""

from __future__ import annotations

from chalice.app import Chalice, SQSEvent
from chalicelib.observations import observe  # type: ignore[import-not-found]
from chalicelib.version import LIBRARY  # type: ignore[import-not-found]

app = Chalice(app_name="cf-reload")

VERSION = "app-1"


@app.on_sqs_message(queue="cf-reload", batch_size=1, name="reloaded")
def reloaded(event: SQSEvent) -> None:
    for record in event:
        observe("reloaded", body=record.body, version=VERSION, library=LIBRARY)
