"""Broadcast benchmark: one notification to a topic's whole audience, through the local stack.

    python bench/broadcast.py [--inbox 100000] [--webhooks 10000] [--page-size 2000]

A fresh stack (as `make run` starts it, with AWS-call metering in every process); the audience
is seeded straight into its table with the same item shapes the store writes (a topic's
subscribers and their recipients: seeding is not measured, but its pace is moto's raw
BatchWriteItem ceiling, printed beside the results). Then, for each run:

- an inbox broadcast: POST to the topic -> every delivery recorded (the notification's counts);
- a webhook broadcast to a local receiver: POST -> every webhook received, with the latency of
  each delivery (accept -> receipt).

Printed for each, beside its goal: deliveries/s, time to all delivered, AWS requests per
delivery (every process's botocore calls during the broadcast), and peak RSS of the stack.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import requests

from chalicelib.adapters.dynamodb import recipient_item, subscription_match_item
from chalicelib.models.common import Channel
from chalicelib.models.stored import Recipient, Subscription
from chalicelib.settings import Stage
from infra.resources import stage_settings
from tocsin_local.metering import ENV_VAR, SITE_DIR, percentile, read_totals
from tocsin_local.process_tree import tree_rss_mb
from tocsin_local.stack import StackInfo, StackProcess

TENANT = "demo"
INBOX_GOAL_SECONDS = 60.0
INBOX_GOAL_REQUESTS = 0.1
WEBHOOK_GOAL_REQUESTS = 3.0


class Receiver:
    """Counts webhooks by id and when each arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.duplicates = 0
        self._lock = threading.Lock()

    def serve(self) -> ThreadingHTTPServer:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                webhook_id = self.headers.get("webhook-id", "")
                with receiver._lock:
                    if webhook_id in receiver.arrived:
                        receiver.duplicates += 1
                    else:
                        receiver.arrived[webhook_id] = time.time()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def count(self) -> int:
        with self._lock:
            return len(self.arrived)


@dataclass
class Seeder:
    """Writes a topic's audience straight into the stack's table."""

    client: Any
    table: str

    def audience(self, topic_word: str, prefix: str, count: int, webhook: str | None) -> float:
        """Seeds ``count`` recipients subscribed to ``{topic_word}.#``; items written per second."""
        now = datetime.now(UTC)
        items = []
        for index in range(count):
            recipient_id = f"{prefix}{index:06d}"
            items.append(
                recipient_item(
                    Recipient(
                        tenant_id=TENANT,
                        recipient_id=recipient_id,
                        webhook_url=webhook,
                        created_at=now,
                        updated_at=now,
                    )
                )
            )
            items.append(
                subscription_match_item(
                    Subscription(
                        tenant_id=TENANT,
                        subscription_id=recipient_id,
                        recipient_id=recipient_id,
                        pattern=f"{topic_word}.#",
                        channels=[Channel.WEBHOOK] if webhook else [Channel.INBOX],
                        created_at=now,
                    )
                )
            )
        started = time.perf_counter()
        for start in range(0, len(items), 25):
            pending = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
            while pending:
                response = self.client.batch_write_item(RequestItems={self.table: pending})
                pending = response.get("UnprocessedItems", {}).get(self.table, [])
        return len(items) / (time.perf_counter() - started)


def start(state_dir: Path, meter_dir: Path, page_size: int) -> tuple[StackProcess, StackInfo]:
    env = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SITE_DIR), os.environ.get("PYTHONPATH")])),
        ENV_VAR: str(meter_dir),
        "TOCSIN_FANOUT_PAGE_SIZE": str(page_size),
    }
    stack = StackProcess(state_dir, env=env, reload=False)
    return stack, stack.wait_ready()


def notify(info: StackInfo, topic: str) -> tuple[str, float]:
    accepted = time.time()
    response = requests.post(
        f"{info.api_url}/v1/notifications",
        json={"topic": topic, "title": "broadcast"},
        headers={"Authorization": f"Bearer {info.api_key}"},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()["id"], accepted


def wait_counted(info: StackInfo, notification_id: str, expected: int, timeout: float) -> float:
    """Seconds until the notification's counts show ``expected`` deliveries final."""
    started = time.time()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {info.api_key}"
    while time.time() - started < timeout:
        counts = session.get(
            f"{info.api_url}/v1/notifications/{notification_id}", timeout=30
        ).json()["delivery_counts"]
        if counts["delivered"] + counts["failed"] + counts["skipped"] >= expected:
            return time.time() - started
        time.sleep(0.5)
    raise TimeoutError(f"{notification_id}: not every delivery final within {timeout:.0f} s")


def calls_during(meter_dir: Path, run: Any) -> tuple[Any, Counter[str]]:
    before = read_totals(meter_dir)
    result = run()
    time.sleep(1.5)  # every process's meter flushes twice a second
    return result, read_totals(meter_dir) - before


def verdict(value: float, goal: float, *, at_most: bool = True) -> str:
    met = value <= goal if at_most else value >= goal
    return "meets" if met else "MISSES"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--inbox", type=int, default=100_000, help="inbox subscribers")
    parser.add_argument("--webhooks", type=int, default=10_000, help="webhook subscribers")
    parser.add_argument("--page-size", type=int, default=500, help="recipients per fan-out page")
    args = parser.parse_args()
    settings = stage_settings(Stage.LOCAL)
    receiver = Receiver()
    server = receiver.serve()
    hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
    with tempfile.TemporaryDirectory(prefix="tocsin-broadcast-") as tmp:
        state_dir, meter_dir = Path(tmp) / "state", Path(tmp) / "meter"
        meter_dir.mkdir(parents=True)
        stack, info = start(state_dir, meter_dir, args.page_size)
        peak_rss = 0.0
        sampling = threading.Event()

        def sample() -> None:
            nonlocal peak_rss
            while not sampling.is_set():
                peak_rss = max(peak_rss, tree_rss_mb(stack.process.pid)[0])
                sampling.wait(0.5)

        threading.Thread(target=sample, daemon=True).start()
        try:
            client = boto3.client(
                "dynamodb",
                endpoint_url=info.aws_endpoint_url,
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            seeder = Seeder(client, settings.table_name)
            print(
                f"seeding {args.inbox:,} inbox and {args.webhooks:,} webhook subscribers ...",
                flush=True,
            )
            ceiling = seeder.audience("news", "inbox-", args.inbox, None)
            seeder.audience("hooks", "hook-", args.webhooks, hook)

            inbox_id, _ = notify(info, "news.today")
            inbox_seconds, inbox_calls = calls_during(
                meter_dir, lambda: wait_counted(info, inbox_id, args.inbox, 900)
            )

            def webhook_run() -> float:
                webhook_id, accepted = notify(info, "hooks.deploy")
                deadline = time.time() + 900
                while receiver.count() < args.webhooks and time.time() < deadline:
                    time.sleep(0.2)
                wait_counted(info, webhook_id, args.webhooks, 300)
                return accepted

            accepted, webhook_calls = calls_during(meter_dir, webhook_run)
        finally:
            sampling.set()
            stack.stop()
            server.shutdown()

    arrivals = sorted(receiver.arrived.values())
    latencies = [moment - accepted for moment in arrivals]
    webhook_seconds = (arrivals[-1] - accepted) if arrivals else float("nan")
    inbox_requests = sum(inbox_calls.values()) / args.inbox
    webhook_requests = sum(webhook_calls.values()) / args.webhooks
    print(
        f"\nTocsin broadcast, local stack, {os.cpu_count()} cores, fan-out pages of {args.page_size}"
    )
    print(f"  raw moto BatchWriteItem ceiling (seeding): {ceiling:8.0f} items/s")
    print(f"  inbox topic, {args.inbox:,} subscribers:")
    print(
        f"    accept -> all delivered {inbox_seconds:7.1f} s   (goal <= {INBOX_GOAL_SECONDS:.0f} s: "
        f"{verdict(inbox_seconds, INBOX_GOAL_SECONDS)})"
    )
    print(
        f"    deliveries/s            {args.inbox / inbox_seconds:7.0f}     (raw ceiling {ceiling:.0f} items/s)"
    )
    print(
        f"    AWS requests/delivery   {inbox_requests:7.3f}   (goal <= {INBOX_GOAL_REQUESTS}: "
        f"{verdict(inbox_requests, INBOX_GOAL_REQUESTS)})"
    )
    for operation, count in inbox_calls.most_common(8):
        print(f"      {operation:<40} {count / args.inbox:7.4f}")
    print(f"  webhook topic, {args.webhooks:,} subscribers (local receiver):")
    print(f"    received {len(arrivals):,}, duplicates {receiver.duplicates}")
    print(f"    accept -> all received  {webhook_seconds:7.1f} s")
    print(f"    deliveries/s            {len(arrivals) / webhook_seconds:7.0f}")
    print(
        f"    latency p50 / p99       {percentile(latencies, 0.5):7.1f} s / {percentile(latencies, 0.99):.1f} s"
    )
    print(
        f"    AWS requests/delivery   {webhook_requests:7.3f}   (goal <= {WEBHOOK_GOAL_REQUESTS}: "
        f"{verdict(webhook_requests, WEBHOOK_GOAL_REQUESTS)})"
    )
    for operation, count in webhook_calls.most_common(8):
        print(f"      {operation:<40} {count / args.webhooks:7.4f}")
    print(f"  peak RSS of the stack (all processes): {peak_rss:6.0f} MB")
    print(json.dumps({"inbox_seconds": inbox_seconds, "webhook_seconds": webhook_seconds}))


if __name__ == "__main__":
    main()
