"""Scheduled functions: EventBridge ``rate(...)`` and ``cron(...)`` expressions, and firing one
on demand (``tocsin fire NAME``)."""

from __future__ import annotations

import calendar
import logging
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tocsin_local.emulator.asynchronous import invoke_async
from tocsin_local.emulator.cloud import Cloud
from tocsin_local.emulator.events import scheduled_event
from tocsin_local.emulator.functions import FunctionPool
from tocsin_local.emulator.project import EventSource

log = logging.getLogger("tocsin.emulator")

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_MONTHS = {name: index for index, name in enumerate(calendar.month_abbr) if name}
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}


def _values(field: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    values: set[int] = set()
    for part in field.upper().split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part in ("*", ""):
            start, end = low, high
        elif "-" in part:
            first, last = part.split("-", 1)
            start, end = names.get(first) or int(first), names.get(last) or int(last)
        else:
            start = names.get(part) or int(part)
            end = high if step > 1 else start
        if not (low <= start <= high and low <= end <= high):
            raise ValueError(f"{part} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return values


@dataclass(frozen=True)
class Cron:
    minutes: set[int]
    hours: set[int]
    days: set[int] | None  # None: '?' (the weekday field decides)
    last_day: bool
    months: set[int]
    weekdays: set[int] | None  # AWS numbering, 1 = Sunday
    nth_weekday: tuple[int, int] | None  # (weekday, n) for "2#1"
    years: set[int]

    @classmethod
    def parse(cls, text: str) -> Cron:
        fields = text.split()
        if len(fields) != 6:
            raise ValueError(
                "cron needs 6 fields: minutes hours day-of-month month day-of-week year"
            )
        minute, hour, day, month, weekday, year = fields
        if (day == "?") == (weekday == "?"):
            raise ValueError("exactly one of day-of-month and day-of-week must be '?'")
        if "W" in day.upper() or "L" in weekday.upper():
            raise ValueError("the W and weekday-L wildcards are not supported locally")
        nth = None
        if "#" in weekday:
            name, n = weekday.split("#", 1)
            nth = (_DAYS.get(name.upper()) or int(name), int(n))
        return cls(
            minutes=_values(minute, 0, 59, {}),
            hours=_values(hour, 0, 23, {}),
            days=None if day in ("?", "L") else _values(day, 1, 31, {}),
            last_day=day.upper() == "L",
            months=_values(month, 1, 12, {name.upper(): index for name, index in _MONTHS.items()}),
            weekdays=None if weekday == "?" or nth else _values(weekday, 1, 7, _DAYS),
            nth_weekday=nth,
            years=_values(year, 1970, 2199, {}),
        )

    def _day_matches(self, day: datetime) -> bool:
        if day.year not in self.years or day.month not in self.months:
            return False
        aws_weekday = (day.isoweekday() % 7) + 1
        if self.last_day:
            return day.day == calendar.monthrange(day.year, day.month)[1]
        if self.days is not None:
            return day.day in self.days
        if self.nth_weekday is not None:
            weekday, n = self.nth_weekday
            return aws_weekday == weekday and (day.day - 1) // 7 + 1 == n
        return self.weekdays is not None and aws_weekday in self.weekdays

    def next_after(self, moment: datetime) -> datetime | None:
        start = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.replace(hour=0, minute=0)
        for _ in range(366 * 5):
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate >= start:
                            return candidate
            day += timedelta(days=1)
        return None


def next_fire(expression: str, after: datetime) -> datetime | None:
    """When a schedule expression fires next after ``after`` (a rate counts from ``after``)."""
    rate = _RATE.fullmatch(expression.strip())
    if rate:
        value, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        return after + timedelta(seconds=value * _UNIT[unit])
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
