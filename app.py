"""Tocsin: routes and event handlers. Each parses, calls chalicelib, and shapes the reply."""

from __future__ import annotations

from typing import Any

from chalice.app import CloudWatchEvent, Rate, SQSEvent

from chalicelib import logs, triggers
from chalicelib.api.front_door import FrontDoorApp
from chalicelib.api.gateway import http_middleware, install_catch_alls, system
from chalicelib.api.notifications import notifications
from chalicelib.api.recipients import recipients
from chalicelib.settings import get_settings

settings = get_settings()
logs.configure()

app = FrontDoorApp(app_name="tocsin")
app.register_middleware(http_middleware, "http")
app.register_blueprint(system)
app.register_blueprint(recipients)
app.register_blueprint(notifications)


@app.on_sqs_message(queue=settings.deliveries_queue_name, batch_size=10, name="deliver")
def deliver(event: SQSEvent) -> dict[str, Any]:
    return triggers.deliver(event.to_dict(), event.context)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="sweep")
def sweep(event: CloudWatchEvent) -> dict[str, int]:
    return triggers.sweep(event.context)


install_catch_alls(app)
