"""Tocsin: routes and event handlers. Each parses, calls chalicelib, and shapes the reply."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice.app import Chalice, CloudWatchEvent, Rate, SQSEvent

from chalicelib import logs, triggers
from chalicelib.api.gateway import http_middleware, install_catch_alls, system
from chalicelib.api.notifications import notifications
from chalicelib.api.recipients import recipients
from chalicelib.api.topics import topics
from chalicelib.console.pages import console
from chalicelib.domain.planning import QUEUED_CHANNELS
from chalicelib.models.common import Channel
from chalicelib.settings import get_settings

settings = get_settings()
logs.configure()

app = Chalice(app_name="tocsin")
app.register_middleware(http_middleware, "http")
app.register_blueprint(system)
app.register_blueprint(recipients)
app.register_blueprint(notifications)
app.register_blueprint(topics)
app.register_blueprint(console)


# One queue and one function per channel: a slow or failing channel never holds up another.
def _deliverer(channel: Channel) -> Callable[[SQSEvent], dict[str, Any]]:
    def deliver(event: SQSEvent) -> dict[str, Any]:
        return triggers.deliver(channel, event.to_dict(), event.context)

    deliver.__name__ = f"deliver_{channel.value}"
    return deliver


for _channel in QUEUED_CHANNELS:
    # A module attribute of its own: Lambda finds each function's handler as app.<name>.
    globals()[f"deliver_{_channel.value}"] = app.on_sqs_message(
        queue=settings.delivery_queue(_channel), batch_size=10, name=f"deliver_{_channel.value}"
    )(_deliverer(_channel))


@app.on_sqs_message(queue=settings.fanout_queue_name, batch_size=1, name="fanout")
def fanout(event: SQSEvent) -> dict[str, Any]:
    return triggers.fanout(event.to_dict(), event.context)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="sweep")
def sweep(event: CloudWatchEvent) -> dict[str, int]:
    return triggers.sweep(event.context)


install_catch_alls(app)
