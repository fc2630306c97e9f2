"""Tocsin: routes and event handlers. Each parses, calls chalicelib, and shapes the reply."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice.app import CloudWatchEvent, Rate, SQSEvent

from chalicelib import alert_triggers, logs, triggers
from chalicelib.api.alerts import alerts
from chalicelib.api.front_door import FrontDoorApp
from chalicelib.api.gateway import http_middleware, install_catch_alls, system
from chalicelib.api.integrations import integrations
from chalicelib.api.notifications import notifications
from chalicelib.api.preferences import preferences
from chalicelib.api.recipients import recipients
from chalicelib.api.templates import templates
from chalicelib.api.topics import topics
from chalicelib.console.alert_pages import console_alerts
from chalicelib.console.pages import console
from chalicelib.console.template_pages import console_templates
from chalicelib.domain.planning import QUEUED_CHANNELS
from chalicelib.models.common import Channel
from chalicelib.settings import get_settings

settings = get_settings()
logs.configure()

app = FrontDoorApp(app_name="tocsin")
app.register_middleware(http_middleware, "http")
app.register_blueprint(system)
app.register_blueprint(recipients)
app.register_blueprint(notifications)
app.register_blueprint(topics)
app.register_blueprint(console)
app.register_blueprint(console_alerts)
app.register_blueprint(console_templates)
app.register_blueprint(preferences)
app.register_blueprint(templates)
app.register_blueprint(alerts)
app.register_blueprint(integrations)


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


# Scheduled deliveries and digest windows: the queue wakes each timer when it is due; the
# schedule finds timers set further ahead than the queue's 15-minute reach.
@app.on_sqs_message(queue=settings.timers_queue_name, batch_size=10, name="timers")
def timers(event: SQSEvent) -> dict[str, Any]:
    return triggers.timers(event.to_dict(), event.context)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="find_timers")
def find_timers(event: CloudWatchEvent) -> dict[str, int]:
    return triggers.find_timers(event.context)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="sweep")
def sweep(event: CloudWatchEvent) -> dict[str, int]:
    return triggers.sweep(event.context)


# Alerts' escalation steps, silence ends and resolution notices, from their stored timers. The
# local stage's stack fires it every second too (its delays are seconds; a rate is a minute).
@app.schedule(Rate(1, unit=Rate.MINUTES), name="alert_timers")
def alert_timers(event: CloudWatchEvent) -> dict[str, int]:
    return alert_triggers.alert_timers(event.context)


install_catch_alls(app)
