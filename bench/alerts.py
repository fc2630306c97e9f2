"""Alerting benchmark, through the local stack (as `make run` starts it).

    python bench/alerts.py [--alerts 40] [--retriggers 400] [--escalations 20]

Printed beside each goal:

- trigger -> first webhook of a new alert (p50/p95), and the POST's own latency;
- retriggers of one key, eight at a time: events/s, POST p50/p99, and that they made one alert;
- escalation: how late step 2 (2 s after step 1) reaches its webhook (p50/p95), and whether any
  step 3 came after an acknowledge sent as soon as step 2 arrived (goal: none);
- the stack's CPU while idle, with the local stage's one-second tick of `alert_timers` and
  without it (a second stack, TOCSIN_LOCAL_TICK_SECONDS=0, measured over the same seconds
  once both have settled): what the tick costs.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from tocsin_local.metering import percentile
from tocsin_local.process_tree import descendants
from tocsin_local.stack import StackInfo, StackProcess

IDLE_SECONDS = 30.0
SETTLE_SECONDS = 20.0
STEP_DELAY = 2.0


class Receiver:
    """Records when each alert's webhooks arrive."""

    def __init__(self) -> None:
        self.arrivals: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
                alert_id = (body.get("alert") or {}).get("id")
                if alert_id:
                    with receiver._lock:
                        receiver.arrivals.setdefault(alert_id, []).append(time.time())
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def of(self, alert_id: str) -> list[float]:
        with self._lock:
            return list(self.arrivals.get(alert_id, []))


def cpu_seconds(root: int) -> float:
    total = 0
    for pid in [root, *descendants(root)]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / os.sysconf("SC_CLK_TCK")


def idle_cpu(*stacks: StackProcess) -> list[float]:
    """Share of one core each stack's process tree uses while nothing is sent, measured over
    the same seconds (a shared machine's load weighs on both alike)."""
    time.sleep(SETTLE_SECONDS)
    start = [cpu_seconds(stack.process.pid) for stack in stacks]
    time.sleep(IDLE_SECONDS)
    return [
        (cpu_seconds(stack.process.pid) - before) / IDLE_SECONDS
        for stack, before in zip(stacks, start, strict=True)
    ]


class Bench:
    def __init__(self, info: StackInfo, receiver: Receiver) -> None:
        self.api = info.api_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {info.api_key}"
        self.receiver = receiver

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = self.session.request(method, self.api + path, timeout=30, **kwargs)
        response.raise_for_status()
        return response

    def setup(self) -> None:
        for name in ("first", "second", "third"):
            self.call("PUT", f"/v1/recipients/{name}", json={"webhook_url": self.receiver.url})
        self.call(
            "PUT",
            "/v1/subscriptions/bench",
            json={"recipient_id": "first", "pattern": "bench", "channels": ["webhook"]},
        )
        steps = [
            {"delay_seconds": 0, "targets": [{"recipient_id": "first"}]},
            {"delay_seconds": int(STEP_DELAY), "targets": [{"recipient_id": "second"}]},
            {"delay_seconds": int(STEP_DELAY), "targets": [{"recipient_id": "third"}]},
        ]
        self.call("PUT", "/v1/escalation-policies/bench", json={"steps": steps})

    def trigger(self, **body: Any) -> tuple[str, float, float]:
        sent = time.time()
        reply = self.call("POST", "/v1/alerts/events", json={"action": "trigger", **body})
        return reply.json()["alert_id"], sent, time.time() - sent

    def wait_for(self, alert_id: str, count: int, timeout: float = 60.0) -> list[float]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            arrived = self.receiver.of(alert_id)
            if len(arrived) >= count:
                return arrived
            time.sleep(0.02)
        raise TimeoutError(f"alert {alert_id}: {count} webhooks did not arrive")

    def new_alerts(self, count: int) -> None:
        latencies, posts = [], []
        for _ in range(count):
            alert_id, sent, post = self.trigger(summary="bench", topic="bench")
            latencies.append(self.wait_for(alert_id, 1)[0] - sent)
            posts.append(post)
        print(
            f"new alert -> webhook    p50 {percentile(latencies, 0.5) * 1000:7.0f} ms  "
            f"p95 {percentile(latencies, 0.95) * 1000:7.0f} ms   "
            f"(POST p50 {percentile(posts, 0.5) * 1000:.0f} ms; goal: under 1 s locally)"
        )

    def retriggers(self, count: int) -> None:
        key = f"bench-{uuid.uuid4().hex[:8]}"

        def one(index: int) -> tuple[str, float]:
            alert_id, _sent, post = self.trigger(summary="flapping", dedup_key=key, topic="quiet")
            return alert_id, post

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(one, range(count)))
        elapsed = time.monotonic() - started
        posts = [post for _, post in results]
        alerts = {alert_id for alert_id, _ in results}
        print(
            f"retriggers of one key   {count / elapsed:7.0f} events/s  POST p50 "
            f"{percentile(posts, 0.5) * 1000:.0f} ms  p99 {percentile(posts, 0.99) * 1000:.0f} ms"
            f"   alerts made: {len(alerts)} (goal: 1)"
        )

    def escalations(self, count: int) -> None:
        lateness, extra = [], 0
        for _ in range(count):
            alert_id, _, _ = self.trigger(summary="escalate", escalation_policy="bench")
            first, second = self.wait_for(alert_id, 2)[:2]
            self.call("POST", f"/v1/alerts/{alert_id}/acknowledge")
            lateness.append(second - first - STEP_DELAY)
        time.sleep(STEP_DELAY * 2)
        for alert_id in list(self.receiver.arrivals):
            if len(self.receiver.of(alert_id)) > 2:
                extra += 1
        print(
            f"step 2 lateness         p50 {percentile(lateness, 0.5) * 1000:7.0f} ms  "
            f"p95 {percentile(lateness, 0.95) * 1000:7.0f} ms   (goal: about the 1 s tick)"
        )
        print(f"steps after acknowledge {extra:7d}            (goal: 0)")


def run_stack(env: dict[str, str]) -> StackProcess:
    stack = StackProcess(Path(tempfile.mkdtemp(prefix="tocsin-bench-alerts-")), env=env)
    stack.wait_ready()
    return stack


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=40)
    parser.add_argument("--retriggers", type=int, default=400)
    parser.add_argument("--escalations", type=int, default=20)
    args = parser.parse_args()
    receiver = Receiver()
    stack = run_stack({})
    try:
        bench = Bench(stack.wait_ready(), receiver)
        bench.setup()
        bench.new_alerts(args.alerts)
        bench.retriggers(args.retriggers)
        bench.escalations(args.escalations)
        quiet = run_stack({"TOCSIN_LOCAL_TICK_SECONDS": "0"})
        try:
            ticking, still = idle_cpu(stack, quiet)
        finally:
            quiet.stop()
    finally:
        stack.stop()
    print(
        f"idle stack CPU          {ticking * 100:7.1f} % of a core with the 1 s tick, "
        f"{still * 100:.1f} % without ({IDLE_SECONDS:.0f} s each)"
    )


if __name__ == "__main__":
    main()
