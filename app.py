"""Tocsin: routes and event handlers. Each parses, calls chalicelib, and shapes the reply."""

from __future__ import annotations

from typing import Any

from chalice.app import Chalice, CloudWatchEvent, Rate, SQSEvent

from chalicelib import logs, triggers
from chalicelib.api.gateway import http_middleware, install_catch_alls, system
from chalicelib.api.notifications import notifications
from chalicelib.api.recipients import recipients
from chalicelib.api.topics import topics
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


# One queue and one function per channel: a slow or failing channel never holds up another.
@app.on_sqs_message(
    queue=settings.delivery_queue(Channel.WEBHOOK), batch_size=10, name="deliver_webhook"
)
def deliver_webhook(event: SQSEvent) -> dict[str, Any]:
    return triggers.deliver(Channel.WEBHOOK, event.to_dict(), event.context)


@app.on_sqs_message(
    queue=settings.delivery_queue(Channel.EMAIL), batch_size=10, name="deliver_email"
)
def deliver_email(event: SQSEvent) -> dict[str, Any]:
    return triggers.deliver(Channel.EMAIL, event.to_dict(), event.context)


@app.on_sqs_message(queue=settings.delivery_queue(Channel.SMS), batch_size=10, name="deliver_sms")
def deliver_sms(event: SQSEvent) -> dict[str, Any]:
    return triggers.deliver(Channel.SMS, event.to_dict(), event.context)


@app.on_sqs_message(queue=settings.fanout_queue_name, batch_size=1, name="fanout")
def fanout(event: SQSEvent) -> dict[str, Any]:
    return triggers.fanout(event.to_dict(), event.context)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="sweep")
def sweep(event: CloudWatchEvent) -> dict[str, int]:
    return triggers.sweep(event.context)


install_catch_alls(app)
