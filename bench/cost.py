"""Dollars per million, measured: Tocsin's local stack on LocalStack's DynamoDB, SNS and SQS, with
every AWS request counted, every DynamoDB request's consumed capacity read
(``ReturnConsumedCapacity``, indexes included: DynamoDB Local computes it from item sizes) and
every function invocation timed, priced at AWS list prices (bench/prices.py).

A scenario is a small function over the HTTP API that returns what one unit of it used (a
notification, a delivery, an alert trigger + resolve). Each service's line is printed beside
its floor (what the cheapest design of that unit would pay) and the total beside the goal.
A scenario whose routes are not served yet is probed and named, not measured.

    python bench/cost.py [--notifications 100] [--price-stage prod] [--front-door http]

LocalStack is the one at ``LOCALSTACK_ENDPOINT``, else one started here with
``tools/localstack-offline.sh`` on ``LOCALSTACK_PORT`` (default 4599) and stopped after.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import prices
import requests

from chalicelib.settings import Stage
from infra.resources import chalice_config
from infra.template import DEFAULT_FRONT_DOOR, FRONT_DOORS
from tocsin_local.localstack import running_localstack
from tocsin_local.metering import ENV_VAR, SITE_DIR, Meter, read_meters
from tocsin_local.stack import StackProcess

ROOT = Path(__file__).resolve().parent.parent
GOAL_WEBHOOK = 4.00
# Not attributable to a notification: the sweep runs once a minute whatever the volume, and an
# empty receive is a poller waiting for work (on AWS, Lambda's pollers of each queue).
FIXED_ROLES = {"sweep"}
IDLE_CALLS = {"sqs:ReceiveMessage (empty)"}
FRONT_DOOR_NAMES = {"http": "HTTP API", "rest": "REST API", "url": "function URL"}
FLUSH_SECONDS = 1.5


@dataclass(frozen=True)
class Floor:
    """The least one unit could use: the issue's model of the cheapest design."""

    api_requests: float
    lambda_requests: float
    lambda_dollars: float
    write_units: float
    read_units: float


@dataclass
class Usage:
    """What one unit of a scenario used, averaged over ``units``."""

    units: int
    api_requests: float
    invocations: dict[str, float]
    gb_seconds: dict[str, float]
    milliseconds: dict[str, float]
    write_units: float
    read_units: float
    calls: dict[str, float]
    memory: dict[str, int] = field(default_factory=dict)
    # DynamoDB capacity units by operation.
    capacity: dict[str, float] = field(default_factory=dict)

    def count(self, prefix: str) -> float:
        return sum(value for key, value in self.calls.items() if key.startswith(prefix))


@dataclass(frozen=True)
class NotYet:
    reason: str


@dataclass
class World:
    api: str
    key: str
    meters: Path
    hook_url: str
    receiver: Receiver
    memory: Callable[[str], int]

    def session(self) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.key}"
        return session

    def snapshot(self) -> Meter:
        time.sleep(FLUSH_SECONDS)
        total = Meter()
        for meter in read_meters(self.meters):
            if meter.role not in FIXED_ROLES:
                total.add(meter)
        return total

    def fixed(self) -> Meter:
        total = Meter()
        for meter in read_meters(self.meters):
            if meter.role in FIXED_ROLES:
                total.add(meter)
        return total

    def usage(self, delta: Meter, units: int) -> Usage:
        invocations = {name: count / units for name, count in delta.invocations.items()}
        seconds = {name: delta.seconds.get(name, 0.0) for name in delta.invocations}
        calls = {key: count / units for key, count in delta.calls.items() if key not in IDLE_CALLS}
        return Usage(
            units=units,
            api_requests=delta.invocations.get("api_handler", 0) / units,
            invocations=invocations,
            gb_seconds={name: seconds[name] * self.memory(name) / 1024 / units for name in seconds},
            milliseconds={
                name: 1000 * seconds[name] / max(1, delta.invocations[name]) for name in seconds
            },
            write_units=delta.write_units / units,
            read_units=delta.read_units / units,
            calls=calls,
            memory={name: self.memory(name) for name in seconds},
            capacity={op: value / units for op, value in delta.capacity.items()},
        )


class Receiver:
    """Counts webhooks by notification id; ``wait`` blocks until one arrived."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self.arrived = threading.Condition()

    def serve(self) -> ThreadingHTTPServer:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.arrived:
                    receiver.received[json.loads(body).get("id", "")] += 1
                    receiver.arrived.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def wait(self, notification_id: str, timeout: float = 60.0) -> None:
        with self.arrived:
            if not self.arrived.wait_for(lambda: self.received[notification_id] > 0, timeout):
                raise RuntimeError(f"no webhook for {notification_id} within {timeout} s")


# --- scenarios ----------------------------------------------------------------------------------
def single_webhook(world: World, count: int) -> Usage | NotYet:
    """One notification to one recipient's webhook, sent one after another (each delivery a
    batch of one, as at low traffic)."""
    session = world.session()
    recipient = f"cost-{uuid.uuid4().hex[:8]}"
    session.put(
        f"{world.api}/v1/recipients/{recipient}", json={"webhook_url": world.hook_url}, timeout=30
    ).raise_for_status()

    def send(index: int) -> None:
        response = session.post(
            f"{world.api}/v1/notifications",
            json={
                "recipient_id": recipient,
                "channels": ["webhook"],
                "title": "Disk almost full",
                "body": f"db-{index} at 93%",
            },
            timeout=30,
        )
        if response.status_code != 202:
            raise RuntimeError(f"POST answered {response.status_code}: {response.text}")
        world.receiver.wait(response.json()["id"])

    for index in range(3):  # warm: cold starts are not what a million notifications pay
        send(index)
    time.sleep(2)
    before = world.snapshot()
    for index in range(count):
        send(index)
    time.sleep(2)  # the last outcome is recorded after its webhook answered
    return world.usage(world.snapshot().minus(before), count)


def topic_at_1000_inbox_subscribers(world: World, count: int) -> Usage | NotYet:
    """One topic notification reaching 1,000 recipients' inboxes, per delivery."""
    del count
    session = world.session()
    probe = session.post(
        f"{world.api}/v1/notifications", json={"topic": "cost.probe", "title": "probe"}, timeout=30
    )
    if probe.status_code == 422 and any(
        error.get("loc") == ["body", "topic"] for error in probe.json().get("errors", [])
    ):
        return NotYet("needs POST /v1/notifications with topic (topics: issue 11)")
    subscribers = 1000
    topic = f"cost.{uuid.uuid4().hex[:8]}"
    for index in range(subscribers):
        recipient = f"sub-{topic.split('.')[1]}-{index}"
        session.put(f"{world.api}/v1/recipients/{recipient}", json={}, timeout=30)
        session.put(
            f"{world.api}/v1/subscriptions/{recipient}",
            json={"recipient_id": recipient, "pattern": topic, "channels": ["inbox"]},
            timeout=30,
        ).raise_for_status()
    before = world.snapshot()
    created = session.post(
        f"{world.api}/v1/notifications", json={"topic": topic, "title": "Disk almost full"}
    )
    created.raise_for_status()
    # Settled when the status is final; each GET's own cost is taken back out below.
    polls = _wait_final(session, world.api, created.json()["id"])
    after = world.snapshot()
    per_get = _cost_of_gets(world, session, created.json()["id"])
    delta = after.minus(before)
    _take_back(delta, per_get, polls)
    return world.usage(delta, subscribers)


def alert_trigger_and_resolve(world: World, count: int) -> Usage | NotYet:
    """An alert triggered and resolved, notifying one inbox subscriber of its topic each time."""
    session = world.session()
    probe = session.post(
        f"{world.api}/v1/alerts/events",
        json={"action": "resolve", "dedup_key": f"probe-{uuid.uuid4().hex}"},
        timeout=30,
    )
    if probe.status_code in (404, 405):
        return NotYet("needs POST /v1/alerts/events (alerts: issue 14)")
    topic = f"alerts.cost{uuid.uuid4().hex[:6]}"
    recipient = f"oncall-{uuid.uuid4().hex[:6]}"
    session.put(f"{world.api}/v1/recipients/{recipient}", json={}, timeout=30).raise_for_status()
    session.put(
        f"{world.api}/v1/subscriptions/{recipient}",
        json={"recipient_id": recipient, "pattern": topic, "channels": ["inbox"]},
        timeout=30,
    ).raise_for_status()
    pairs = max(1, count // 5)
    before = world.snapshot()
    for index in range(pairs):
        key = f"cost-{index}-{uuid.uuid4().hex[:6]}"
        for action in ("trigger", "resolve"):
            session.post(
                f"{world.api}/v1/alerts/events",
                json={"action": action, "dedup_key": key, "summary": "db-1 down", "topic": topic},
                timeout=30,
            ).raise_for_status()
    time.sleep(10)  # the notifications of the last pair are delivered within this
    return world.usage(world.snapshot().minus(before), pairs)


def _wait_final(session: requests.Session, api: str, notification_id: str) -> int:
    polls = 0
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        polls += 1
        status = session.get(f"{api}/v1/notifications/{notification_id}", timeout=30).json()
        if status.get("status") not in ("accepted", "processing", "scheduled"):
            return polls
        time.sleep(2)
    raise RuntimeError(f"{notification_id} not final within 300 s")


def _cost_of_gets(world: World, session: requests.Session, notification_id: str) -> Meter:
    before = world.snapshot()
    for _ in range(10):
        session.get(f"{world.api}/v1/notifications/{notification_id}", timeout=30)
    delta = world.snapshot().minus(before)
    return Meter(
        "gets",
        Counter({key: round(value / 10) for key, value in delta.calls.items()}),
        {key: value / 10 for key, value in delta.capacity.items()},
        Counter({key: round(value / 10) for key, value in delta.invocations.items()}),
        {key: value / 10 for key, value in delta.seconds.items()},
    )


def _take_back(delta: Meter, per_get: Meter, gets: int) -> None:
    for key, value in per_get.calls.items():
        delta.calls[key] -= value * gets
    for key, units in per_get.capacity.items():
        delta.capacity[key] = delta.capacity.get(key, 0.0) - units * gets
    for key, value in per_get.invocations.items():
        delta.invocations[key] -= value * gets
    for key, seconds in per_get.seconds.items():
        delta.seconds[key] = delta.seconds.get(key, 0.0) - seconds * gets


SCENARIOS: list[tuple[str, Callable[[World, int], Usage | NotYet], Floor, float | None]] = [
    (
        "single-recipient webhook notification",
        single_webhook,
        # One HTTP API request, two Lambda requests (accept, deliver) and their duration (about
        # $0.30 at 256 MB), a 1 KB write at accept and at the outcome, two eventually
        # consistent reads.
        Floor(1.0, 2.0, 0.30e-6, 2.0, 1.0),
        GOAL_WEBHOOK,
    ),
    (
        "topic notification at 1,000 inbox subscribers, per delivery",
        topic_at_1000_inbox_subscribers,
        # The inbox item's write; the request and the fan-out shared by 1,000 deliveries.
        Floor(0.001, 0.002, 0.0, 1.0, 0.05),
        None,
    ),
    (
        "alert trigger + resolve (one inbox subscriber)",
        alert_trigger_and_resolve,
        # Two requests, the alert written twice, a notification written and delivered each time.
        Floor(2.0, 4.0, 0.3e-6, 6.0, 2.0),
        None,
    ),
]


# --- printing -----------------------------------------------------------------------------------
def dollars(per_unit: float) -> str:
    return f"${per_unit * 1e6:8.2f}"


def lines(usage: Usage, floor: Floor, door: str) -> list[tuple[str, str, float, float]]:
    """(service, what one unit used, $ per unit, floor $ per unit)."""
    lambda_requests = sum(usage.invocations.values())
    duration = sum(usage.gb_seconds.values()) * prices.LAMBDA_GB_SECOND
    functions = ", ".join(
        f"{name} {usage.invocations[name]:.2f}" for name in sorted(usage.invocations)
    )
    timing = ", ".join(
        f"{name} {usage.milliseconds[name]:.0f} ms @ {usage.memory[name]} MB"
        for name in sorted(usage.milliseconds)
    )
    sns = usage.count("sns:Publish")
    sqs = usage.count("sqs:")
    events = usage.count("events:PutEvents")
    return [
        (
            f"API Gateway ({FRONT_DOOR_NAMES[door]})",
            f"{usage.api_requests:.2f} requests",
            usage.api_requests * prices.FRONT_DOOR_REQUEST[door],
            floor.api_requests * prices.FRONT_DOOR_REQUEST[door],
        ),
        (
            "Lambda requests",
            f"{lambda_requests:.2f} ({functions})",
            lambda_requests * prices.LAMBDA_REQUEST,
            floor.lambda_requests * prices.LAMBDA_REQUEST,
        ),
        ("Lambda duration", timing or "-", duration, floor.lambda_dollars),
        (
            "DynamoDB writes",
            f"{usage.write_units:.2f} write units",
            usage.write_units * prices.DYNAMODB_WRITE_UNIT,
            floor.write_units * prices.DYNAMODB_WRITE_UNIT,
        ),
        (
            "DynamoDB reads",
            f"{usage.read_units:.2f} read units",
            usage.read_units * prices.DYNAMODB_READ_UNIT,
            floor.read_units * prices.DYNAMODB_READ_UNIT,
        ),
        ("SNS", f"{sns:.2f} publishes", sns * prices.SNS_PUBLISH, 0.0),
        ("SQS", f"{sqs:.2f} requests", sqs * prices.SQS_REQUEST, 0.0),
        (
            "EventBridge",
            f"{events:.2f} events",
            events * prices.EVENTBRIDGE_CUSTOM_EVENT,
            0.0,
        ),
    ]


def report(name: str, usage: Usage, floor: Floor, goal: float | None, door: str) -> None:
    print(f"\n{name}: {usage.units} measured, front door {FRONT_DOOR_NAMES[door]}")
    print(f"  {'service':<24} {'per unit':<52} {'$/million':>10} {'floor':>10}")
    rows = lines(usage, floor, door)
    for service, used, cost, least in rows:
        print(f"  {service:<24} {used:<52} {dollars(cost):>10} {dollars(least):>10}")
    total = sum(row[2] for row in rows)
    least = sum(row[3] for row in rows)
    verdict = ""
    if goal is not None:
        verdict = f"   goal <= ${goal:.2f}: {'met' if total * 1e6 <= goal else 'NOT met'}"
    print(f"  {'total':<77} {dollars(total):>10} {dollars(least):>10}{verdict}")
    for other in FRONT_DOORS:
        if other != door:
            alternative = sum(row[2] for row in lines(usage, floor, other))
            print(
                f"    with a {FRONT_DOOR_NAMES[other]} front door instead: {dollars(alternative)}"
            )
    print("  AWS requests per unit (each priced at its service's rate):")
    for key, value in sorted(usage.calls.items(), key=lambda item: -item[1]):
        if value <= 0.005:
            continue
        service, _, operation = key.partition(":")
        units = usage.capacity.get(operation) if service == "dynamodb" else None
        extra = "" if units is None else f"  {units:6.2f} capacity units"
        print(f"    {key:<40} {value:6.2f}{extra}")


def report_fixed(fixed: Meter, minutes: float, memory: Callable[[str], int]) -> None:
    invocations = sum(fixed.invocations.values())
    if not invocations:
        print(f"\nFixed, whatever the volume: the sweep did not run in these {minutes:.0f} min.")
        return
    per_run = {
        "lambda": prices.LAMBDA_REQUEST
        + sum(fixed.seconds.get(name, 0.0) * memory(name) / 1024 for name in fixed.invocations)
        / invocations
        * prices.LAMBDA_GB_SECOND,
        "dynamodb": (
            fixed.read_units * prices.DYNAMODB_READ_UNIT
            + fixed.write_units * prices.DYNAMODB_WRITE_UNIT
        )
        / invocations,
    }
    month = 60 * 24 * 30
    print(
        f"\nFixed, whatever the volume: the sweep ({invocations} runs in {minutes:.0f} min "
        f"here) once a minute = ${sum(per_run.values()) * month:.4f} a month; Lambda's pollers "
        "of each queue (a few long-polling receives a minute) about $0.26 a month per queue."
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--notifications", type=int, default=100)
    parser.add_argument(
        "--price-stage",
        choices=[stage.value for stage in Stage],
        default=Stage.PROD.value,
        help="whose configured Lambda memory the duration is priced at",
    )
    parser.add_argument("--front-door", choices=FRONT_DOORS, default=DEFAULT_FRONT_DOOR)
    args = parser.parse_args()
    price_stage = Stage(args.price_stage)

    def memory(function: str) -> int:
        configured = chalice_config(price_stage, function).lambda_memory_size
        return int(configured) if configured else 128

    print(
        f"Prices: AWS list, {prices.REGION}, on demand, as of {prices.PRICES_AS_OF} "
        f"(bench/prices.py); Lambda memory as configured for {price_stage.value}."
    )
    started = time.monotonic()
    with running_localstack() as localstack, tempfile.TemporaryDirectory() as tmp:
        meters = Path(tmp) / "meters"
        meters.mkdir()
        env = {
            ENV_VAR: str(meters),
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(SITE_DIR), str(ROOT), os.environ.get("PYTHONPATH")])
            ),
        }
        receiver = Receiver()
        server = receiver.serve()
        stack = StackProcess(
            Path(tmp) / "state", env=env, reload=False, endpoint_url=localstack.endpoint
        )
        try:
            info = stack.wait_ready(180)
            world = World(
                api=info.api_url,
                key=info.api_key,
                meters=meters,
                hook_url=f"http://127.0.0.1:{server.server_address[1]}/hook",
                receiver=receiver,
                memory=memory,
            )
            for name, scenario, floor, goal in SCENARIOS:
                result = scenario(world, args.notifications)
                if isinstance(result, NotYet):
                    print(f"\n{name}: not measurable yet: {result.reason}")
                    continue
                report(name, result, floor, goal, args.front_door)
            report_fixed(world.fixed(), (time.monotonic() - started) / 60, memory)
        finally:
            stack.stop()
            server.shutdown()
    print(
        "\nDurations are measured on this machine against LocalStack: Lambda at the configured "
        "memory gets a fraction of a core, and AWS's DynamoDB answers in a few milliseconds, so "
        "take the duration line as an estimate."
    )


if __name__ == "__main__":
    main()
