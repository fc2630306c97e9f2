"""A fault campaign against the local stack: proof that nothing accepted is lost and that a
receiver never gets one delivery as a success twice, except after a crash between its 2xx and
the record of it.

The stack runs as `make run` runs it, with every injected fault on: function crashes before and
after a send (probability per attempt), SNS publish failures after the table write, a receiver
that answers 5xx or stalls past the webhook timeout, the trigger runner killed outright
(SIGKILL) and restarted by the supervisor mid-run, and, for notifications to a topic, fan-out
crashes between the batch writes of a page and between pages. The receiver counts webhooks by
``webhook-id`` (one per notification and recipient). Every fourth one-recipient notification
also goes to a chat channel (Slack, by default): the same receiver takes its messages, found by
the notification id they show, with the same faults.

Accounting after the deadline, per expected delivery (the webhook and the chat message of each
one-recipient notification, and the webhook of each subscriber of each topic notification):
- delivered: the receiver got a 2xx and the delivery's status says so;
- failed and visible: the delivery is ``failed`` and listed by /v1/dead-letters;
- lost: anything else.
A delivery (a webhook-id, a chat message's notification) that got more than one 2xx is a
duplicate success. It is explained when a process
died between an earlier 2xx of it and the record of that success (an injected crash at that
point, or another death: a function timeout, the runner killed), as the functions' journal of
sends and records shows; any other duplicate is unexplained.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import random
import re
import signal
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from tocsin_local.stack import StackProcess

# The deployed sweep runs every minute; the campaign does not wait that long for it.
SWEEP_EVERY_SECONDS = 15.0


@dataclass(frozen=True)
class FaultPlan:
    notifications: int = 500
    crash_before_send: float = 0.02
    crash_after_send: float = 0.02
    publish_failure: float = 0.03
    receiver_errors: float = 0.1
    receiver_stalls: float = 0.02
    runner_kills: int = 2
    webhook_timeout: float = 2.0
    # Notifications to a topic with this many webhook subscribers (inbox too), expanded in
    # pages of fanout_page_size with a crash chance at each batch write and page end.
    topic_notifications: int = 0
    topic_subscribers: int = 40
    fanout_page_size: int = 20
    crash_in_fanout: float = 0.08
    # A chat channel that every chat_every-th one-recipient notification also goes to (None:
    # webhooks only).
    chat_channel: str | None = "slack"
    chat_every: int = 4
    clients: int = 8
    deadline_seconds: float = 300.0
    seed: int = 20261201


@dataclass
class FaultReport:
    accepted: int = 0
    delivered: int = 0
    failed_visible: int = 0
    lost: list[str] = field(default_factory=list)
    duplicate_successes: int = 0
    resends_after_crash: int = 0
    resends_after_other_death: int = 0
    unexplained_duplicates: list[str] = field(default_factory=list)
    webhook_requests: int = 0
    # Expected deliveries by channel.
    channels: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)
    runner_restarts: int = 0
    seconds: float = 0.0
    inconsistent: list[str] = field(default_factory=list)
    # What the lost ones showed at the end (their status, and whether the receiver had a 2xx).
    lost_as: Counter[str] = field(default_factory=Counter)

    @property
    def retries(self) -> int:
        """Webhook requests beyond the first one per notification."""
        return self.webhook_requests - self.accepted

    def summary(self) -> str:
        injected = ", ".join(f"{kind} {count}" for kind, count in sorted(self.injected.items()))
        return (
            f"accepted {self.accepted}, delivered {self.delivered}, failed and visible "
            f"{self.failed_visible}, lost {len(self.lost)}\n"
            f"duplicate successes {self.duplicate_successes} (after an injected crash "
            f"{self.resends_after_crash}, after another death between a 2xx and its record "
            f"{self.resends_after_other_death}, "
            f"unexplained {len(self.unexplained_duplicates)})\n"
            f"webhook requests {self.webhook_requests} (retries {self.retries}), runner restarts "
            f"{self.runner_restarts}, {self.seconds:.1f} s\ninjected: {injected}"
            + (f"\nlost as: {dict(self.lost_as)}" if self.lost_as else "")
        )


# A chat message shows its notification's id (a ULID).
_NOTIFICATION_ID = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b")


def received_key(path: str, headers: Any, body: bytes) -> str:
    """What identifies a delivery at the receiver: a webhook's ``webhook-id``; a chat
    message's channel (the path it was posted to) and the notification id it shows."""
    if path.startswith("/hook"):
        return str(headers.get("webhook-id", ""))
    found = _NOTIFICATION_ID.search(body.decode(errors="replace"))
    return f"{path.strip('/')}:{found.group() if found else ''}"


def delivery_key(notification_id: str, recipient_id: str, channel: str) -> str:
    """The receiver's key of an expected delivery."""
    if channel == "webhook":
        return webhook_id_of(notification_id, recipient_id)
    return f"{channel}:{notification_id}"


class FaultyReceiver:
    """Answers 2xx, 5xx, or stalls past the sender's timeout (then 503), at random."""

    def __init__(self, plan: FaultPlan) -> None:
        self._plan = plan
        self._rng = random.Random(plan.seed)
        self._lock = threading.Lock()
        self.successes: dict[str, list[float]] = {}
        self.requests = 0
        self.injected: Counter[str] = Counter()

    def _decide(self) -> str:
        with self._lock:
            self.requests += 1
            roll = self._rng.random()
        if roll < self._plan.receiver_stalls:
            return "stall"
        if roll < self._plan.receiver_stalls + self._plan.receiver_errors:
            return "error"
        return "ok"

    def succeeded(self) -> set[str]:
        """Deliveries (``received_key``) that got a 2xx so far."""
        with self._lock:
            return set(self.successes)

    def serve(self) -> ThreadingHTTPServer:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                webhook_id = received_key(self.path, self.headers, body)
                decision = receiver._decide()
                if decision == "stall":
                    with receiver._lock:
                        receiver.injected["receiver_stall"] += 1
                    time.sleep(receiver._plan.webhook_timeout + 1.0)
                    self._answer(503)
                elif decision == "error":
                    with receiver._lock:
                        receiver.injected["receiver_5xx"] += 1
                    self._answer(500)
                else:
                    with receiver._lock:
                        receiver.successes.setdefault(webhook_id, []).append(time.time())
                    self._answer(200)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


class CampaignStack:
    def __init__(self, plan: FaultPlan, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.journal = state_dir / "faults.jsonl"
        env = {
            "TOCSIN_FAULT_CRASH_BEFORE_SEND": str(plan.crash_before_send),
            "TOCSIN_FAULT_CRASH_AFTER_SEND": str(plan.crash_after_send),
            "TOCSIN_FAULT_PUBLISH_FAILURE": str(plan.publish_failure),
            "TOCSIN_FAULT_JOURNAL": str(self.journal),
            "TOCSIN_WEBHOOK_TIMEOUT_SECONDS": str(plan.webhook_timeout),
            "TOCSIN_FAULT_CRASH_IN_FANOUT": str(plan.crash_in_fanout),
            "TOCSIN_FANOUT_PAGE_SIZE": str(plan.fanout_page_size),
        }
        self._stack = StackProcess(state_dir, env=env, reload=False)
        info = self._stack.wait_ready()
        self._swept = 0.0
        self.api_url = info.api_url
        self.api_key = info.api_key

    def runner(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.state_dir / "runner.json").read_text())
        return data

    def kill_runner(self) -> int | None:
        """SIGKILLs the trigger runner (its function instances follow it); the supervisor
        starts a new one."""
        try:
            pid = int(self.runner()["pid"])
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, KeyError):
            return None
        return pid

    def fire_sweep(self) -> None:
        """Fires the sweep now and then (it scans an index: on moto, a walk of the table)."""
        if time.monotonic() - self._swept < SWEEP_EVERY_SECONDS:
            return
        self._swept = time.monotonic()
        try:
            port = self.runner()["control_port"]
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/functions/sweep/fire", method="POST"
            )
            with urllib.request.urlopen(request, timeout=5):  # noqa: S310 (loopback)
                pass
        except (OSError, ValueError, KeyError):
            pass  # the runner is restarting: the next round fires it

    def stop(self) -> None:
        self._stack.stop()


def _session(key: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    return session


def _every_item(api: str, key: str, path: str) -> Iterator[dict[str, Any]]:
    """Every item of a paginated list, page after page."""
    session = _session(key)
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = session.get(f"{api}{path}", params=params, timeout=30).json()
        yield from page["items"]
        if page["next"] is None:
            return
        params["cursor"] = page["next"]


Expected = tuple[str, str, str]  # notification, recipient, channel


def _dead_letter_keys(api: str, key: str) -> set[Expected]:
    return {
        (item["notification_id"], item["recipient_id"], item["channel"])
        for item in _every_item(api, key, "/v1/dead-letters")
        if item["channel"] != "inbox"
    }


FINAL = {"delivered", "failed", "partially_delivered", "skipped"}
SINGLE_RECIPIENT = "faulty"
TOPIC = "faults.campaign"


def webhook_id_of(notification_id: str, recipient_id: str) -> str:
    """As Tocsin makes it: per notification, and per recipient for a topic's."""
    if recipient_id == SINGLE_RECIPIENT:
        return f"msg_{notification_id}"
    return f"msg_{notification_id}_{recipient_id}"


def run_campaign(plan: FaultPlan, state_dir: Path | None = None) -> FaultReport:
    with tempfile.TemporaryDirectory(prefix="tocsin-faults-") as tmp:
        return _run(plan, state_dir or Path(tmp))


def _subscribers(plan: FaultPlan) -> list[str]:
    return [f"sub-{index:04d}" for index in range(plan.topic_subscribers)]


def _set_up(api: str, key: str, base: str, plan: FaultPlan) -> None:
    session = _session(key)
    hook = f"{base}/hook"
    single: dict[str, str] = {"webhook_url": hook}
    if plan.chat_channel:
        single[f"{plan.chat_channel}_webhook_url"] = f"{base}/{plan.chat_channel}"
    session.put(
        f"{api}/v1/recipients/{SINGLE_RECIPIENT}", json=single, timeout=30
    ).raise_for_status()
    if not plan.topic_notifications:
        return
    for recipient in _subscribers(plan):
        session.put(
            f"{api}/v1/recipients/{recipient}", json={"webhook_url": hook}, timeout=30
        ).raise_for_status()
        session.put(
            f"{api}/v1/subscriptions/{recipient}",
            json={
                "recipient_id": recipient,
                "pattern": "faults.#",
                "channels": ["webhook", "inbox"],
            },
            timeout=30,
        ).raise_for_status()


def _run(plan: FaultPlan, state_dir: Path) -> FaultReport:
    state_dir.mkdir(parents=True, exist_ok=True)
    report = FaultReport()
    receiver = FaultyReceiver(plan)
    server = receiver.serve()
    stack = CampaignStack(plan, state_dir)
    started = time.monotonic()
    kills: list[float] = []
    killed: list[int] = []
    try:
        api, key = stack.api_url, stack.api_key
        _set_up(api, key, f"http://127.0.0.1:{server.server_address[1]}", plan)
        single_channels = ["webhook", *([plan.chat_channel] if plan.chat_channel else [])]
        total = plan.notifications + plan.topic_notifications
        kill_at = {
            round(total * (index + 1) / (plan.runner_kills + 1))
            for index in range(plan.runner_kills)
        }
        topic_every = total // plan.topic_notifications if plan.topic_notifications else 0
        expected: list[Expected] = []
        accepted: list[str] = []
        lock = threading.Lock()
        local = threading.local()

        def send(index: int) -> None:
            if not hasattr(local, "session"):
                local.session = _session(key)
            to_topic = bool(topic_every) and index % topic_every == 0
            channels = single_channels if index % plan.chat_every == 0 else ["webhook"]
            target: dict[str, Any] = (
                {"topic": TOPIC}
                if to_topic
                else {"recipient_id": SINGLE_RECIPIENT, "channels": channels}
            )
            response = local.session.post(
                f"{api}/v1/notifications", json={**target, "title": f"fault {index}"}, timeout=60
            )
            response.raise_for_status()
            nid = response.json()["id"]
            due = (
                [(recipient, "webhook") for recipient in _subscribers(plan)]
                if to_topic
                else [(SINGLE_RECIPIENT, channel) for channel in target["channels"]]
            )
            with lock:
                accepted.append(nid)
                expected.extend((nid, recipient, channel) for recipient, channel in due)
                if len(accepted) in kill_at:
                    pid = stack.kill_runner()
                    if pid is not None:
                        kills.append(time.time())
                        killed.append(pid)

        with concurrent.futures.ThreadPoolExecutor(plan.clients) as pool:
            list(pool.map(send, range(total)))
        report.accepted = len(expected)
        report.channels.update(channel for _, _, channel in expected)

        statuses = _await_final(stack, receiver, expected, time.monotonic() + plan.deadline_seconds)
        report.seconds = time.monotonic() - started
        dead = _dead_letter_keys(api, key)
        successes = receiver.succeeded()
        for nid, recipient, channel in expected:
            status = statuses.get((nid, recipient, channel))
            got_2xx = delivery_key(nid, recipient, channel) in successes
            subject = f"{nid}/{recipient}/{channel}"
            if status == "delivered" and got_2xx:
                report.delivered += 1
            elif status == "failed" and (nid, recipient, channel) in dead:
                report.failed_visible += 1
            else:
                report.lost.append(subject)
                report.lost_as[f"{channel} {status or 'unread'}, 2xx {got_2xx}"] += 1
            if (status == "delivered") != got_2xx:
                report.inconsistent.append(subject)
        _account_duplicates(report, receiver, stack.journal)
        report.webhook_requests = receiver.requests
        report.injected.update(receiver.injected)
        report.injected["runner_kill"] = len(kills)
        report.runner_restarts = len(killed) - (stack.runner()["pid"] in killed)
    finally:
        stack.stop()
        server.shutdown()
    return report


def _statuses(api: str, key: str, nid: str) -> dict[Expected, str]:
    return {
        (nid, item["recipient_id"], item["channel"]): item["status"]
        for item in _every_item(api, key, f"/v1/notifications/{nid}/deliveries")
        if item["channel"] != "inbox"
    }


def _await_final(
    stack: CampaignStack,
    receiver: FaultyReceiver,
    expected: list[Expected],
    deadline: float,
) -> dict[Expected, str]:
    """Waits until every expected delivery is final, firing the sweeper meanwhile; returns the
    status of each.

    Cheap checks first (the receiver's successes and the dead letters cover every one), then the
    notifications' deliveries, read again only for those still open: listing everything on every
    round would cost moto a scan of the table per page."""
    api, key = stack.api_url, stack.api_key
    while time.monotonic() < deadline:
        succeeded = receiver.succeeded()
        covered = {
            (nid, recipient, channel)
            for nid, recipient, channel in expected
            if delivery_key(nid, recipient, channel) in succeeded
        }
        if covered.union(_dead_letter_keys(api, key)).issuperset(expected):
            break
        stack.fire_sweep()
        time.sleep(2)
    statuses: dict[Expected, str] = {}
    notifications = sorted({nid for nid, _, _ in expected})
    while True:
        # Read at least once, past the deadline too: the report then says what is still open.
        for nid in notifications:
            statuses.update(_statuses(api, key, nid))
        still_open = {item[0] for item in expected if statuses.get(item) not in FINAL}
        if not still_open or time.monotonic() >= deadline:
            break
        notifications = sorted(still_open)
        stack.fire_sweep()
        time.sleep(2)
    return statuses


WITNESSED = ("attempt", "failed", "recorded", "superseded")


def _account_duplicates(report: FaultReport, receiver: FaultyReceiver, journal: Path) -> None:
    """A duplicate success is explained by a death after a 2xx and before its record. The
    functions write down each send as it begins (``attempt``) and how it ended (``failed``,
    ``recorded``, ``superseded``: a success another attempt had stored first); an attempt with
    no ending is one whose process died on the way (an injected crash, a function timeout, the
    runner killed), possibly after the receiver's 2xx. Each extra 2xx needs such a death; one
    without is unexplained: a double send by live processes."""
    crashes_after_send: Counter[str] = Counter()
    witnessed: dict[str, Counter[str]] = {event: Counter() for event in WITNESSED}
    if journal.exists():
        for line in journal.read_text().splitlines():
            entry = json.loads(line)
            # Sends are written down as "{notification}/{recipient}/{channel}".
            parts = entry["subject"].split("/")
            subject = delivery_key(*parts) if len(parts) == 3 else entry["subject"]
            if entry["fault"] in witnessed:
                witnessed[entry["fault"]][subject] += 1
                continue
            report.injected[entry["fault"]] += 1
            if entry["fault"] == "crash_after_send":
                crashes_after_send[subject] += 1
    with receiver._lock:
        successes = {webhook_id: len(times) for webhook_id, times in receiver.successes.items()}
    for webhook_id, count in successes.items():
        extra = count - 1
        if extra <= 0:
            continue
        report.duplicate_successes += extra
        nid = webhook_id
        ended = sum(witnessed[event][nid] for event in ("failed", "recorded", "superseded"))
        deaths = witnessed["attempt"][nid] - ended
        by_crash = min(extra, crashes_after_send[nid], deaths)
        by_other_death = min(extra - by_crash, deaths - by_crash)
        report.resends_after_crash += by_crash
        report.resends_after_other_death += by_other_death
        if extra - by_crash - by_other_death > 0:
            report.unexplained_duplicates.append(webhook_id)
