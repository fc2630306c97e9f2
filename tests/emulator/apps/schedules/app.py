"""Conformance fixture: scheduled functions. Each records the event it received."""

from __future__ import annotations

from chalice.app import Chalice, CloudWatchEvent
from chalicelib.observations import observe  # type: ignore[import-not-found]

app = Chalice(app_name="cf-schedules")


@app.schedule("rate(1 minute)", name="every_minute")
def every_minute(event: CloudWatchEvent) -> None:
    observe("every_minute", event=event.to_dict())


@app.schedule("cron(* * * * ? *)", name="cron_minute")
def cron_minute(event: CloudWatchEvent) -> None:
    observe("cron_minute", event=event.to_dict())


@app.schedule("rate(7 days)", name="weekly")
def weekly(event: CloudWatchEvent) -> None:
    observe("weekly", event=event.to_dict(), source=event.source, detail_type=event.detail_type)


@app.schedule("cron(0/1 * * * ? *)", name="cron_step")
def cron_step(event: CloudWatchEvent) -> None:
    observe("cron_step", event=event.to_dict())
