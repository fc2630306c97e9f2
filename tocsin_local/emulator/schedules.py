"""Scheduled functions: EventBridge ``rate(...)`` and ``cron(...)`` expressions, and firing one
on demand (``tocsin fire NAME``)."""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aws_cron_expression_validator.validator import (
    AWSCronExpressionError,
    AWSCronExpressionValidator,
)
from croniter import CroniterBadDateError, croniter

from tocsin_local.emulator.asynchronous import invoke_async
from tocsin_local.emulator.cloud import Cloud
from tocsin_local.emulator.events import scheduled_event
from tocsin_local.emulator.functions import FunctionPool
from tocsin_local.emulator.project import EventSource

log = logging.getLogger("tocsin.emulator")

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


def _croniter_weekdays(field: str) -> str:
    """AWS numbers weekdays 1-7 from Sunday, croniter 0-6: names pass as they are, numbers move
    down by one, in ranges, ``n#k`` and ``nL`` (croniter spells the last weekday ``Ln``)."""
    field = field.upper()
    for number, name in enumerate(_WEEKDAYS, start=1):
        field = field.replace(name, str(number))
    # A number not after '#' (the week of ``n#k`` stays as it is) is a weekday.
    field = re.sub(r"(?<!#)\d+", lambda match: str(int(match.group()) - 1), field)
    return re.sub(r"^(\d)L$", r"L\1", field)


@dataclass(frozen=True)
class Cron:
    """An EventBridge cron expression (six fields, with a year): validated as AWS validates it
    (``aws-cron-expression-validator``), evaluated by ``croniter``. AWS's ``?`` is croniter's
    ``*``; ``LW`` (the month's last weekday), which croniter lacks, is its last day moved back
    to the Friday before when it falls on a weekend."""

    expression: str

    @classmethod
    def parse(cls, text: str) -> Cron:
        try:
            AWSCronExpressionValidator.validate(text)
        except AWSCronExpressionError as invalid:
            raise ValueError(str(invalid)) from None
        return cls(text)

    def _croniter(self, last_weekday: bool) -> str:
        minute, hour, day, month, weekday, year = self.expression.split(" ")
        if last_weekday:
            day = "L"
        day = "*" if day == "?" else day
        weekday = "*" if weekday == "?" else _croniter_weekdays(weekday)
        # croniter's seven fields: minute hour day month weekday second year.
        return f"{minute} {hour} {day} {month} {weekday} 0 {year}"

    def next_after(self, moment: datetime) -> datetime | None:
        start = moment.astimezone(UTC)
        last_weekday = self.expression.split(" ")[2].upper() == "LW"
        times = croniter(self._croniter(last_weekday), start)
        while True:
            try:
                candidate: datetime = times.get_next(datetime)
            except CroniterBadDateError:
                return None
            if not last_weekday:
                return candidate
            # The last day of the month, moved back to a weekday: may fall before ``start``.
            shifted = candidate - timedelta(days=max(0, candidate.weekday() - 4))
            if shifted > start:
                return shifted


def next_fire(expression: str, after: datetime) -> datetime | None:
    """When a schedule expression fires next after ``after`` (a rate counts from ``after``)."""
    rate = _RATE.fullmatch(expression.strip())
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        # AWS refuses rate(0 ...) and wants "1 minute" but "5 minutes".
        if value == 0 or (value == 1) != (not unit.endswith("s")):
            raise ValueError(f"not a rate AWS accepts: {expression!r}")
        return after + timedelta(seconds=value * _UNIT[unit.rstrip("s")])
    cron = _CRON.fullmatch(expression.strip())
    if cron:
        return Cron.parse(cron.group(1)).next_after(after)
    raise ValueError(f"not a schedule expression: {expression!r}")


class ScheduleSource:
    def __init__(self, source: EventSource, pool: FunctionPool, cloud: Cloud) -> None:
        self.source = source
        self._pool = pool
        self._cloud = cloud
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.next_at: datetime | None = None
        next_fire(source.params["expression"], datetime.now(UTC))  # fail early on a bad one

    @property
    def name(self) -> str:
        return self.source.function.name

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True, name=f"schedule-{self.name}").start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def reload(self, source: EventSource) -> None:
        changed = source.params != self.source.params
        self.source = source
        if changed:
            self.next_at = None
            self._wake.set()

    def fire(self) -> None:
        """Invokes the function now, as the rule would."""
        now = datetime.now(UTC)
        event = scheduled_event(self.name, self._cloud.region, self._cloud.account, now)
        invoke_async(self._pool, self._cloud, event)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = datetime.now(UTC)
            if self.next_at is None:
                self.next_at = next_fire(self.source.params["expression"], now)
            if self.next_at is None:
                log.warning("schedule %s never fires again", self.name)
                return
            self._wake.wait(max(0.0, (self.next_at - now).total_seconds()))
            if self._wake.is_set():
                self._wake.clear()
                continue
            if not self._stop.is_set():
                self.fire()
                self.next_at = next_fire(self.source.params["expression"], self.next_at)
