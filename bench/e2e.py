"""End-to-end benchmark of the local stack: POST -> signed webhook received.

Starts a fresh stack exactly as `make run` does (plus AWS-call metering in every process),
a webhook receiver on loopback, and sends N notifications: half at a steady rate, half at full
speed from concurrent clients. Prints:

- sustained notifications/s accepted -> delivered (full-speed phase),
- latency accept (202) -> webhook received, p50/p95/p99 (steady phase and full-speed phase),
- POST latency seen by the client, p50/p99,
- AWS API calls per notification, by operation, counted with botocore event hooks in every
  process (API, trigger runner, function instances),
- stack start time (command -> /health 200) and peak RSS of the stack's process tree,
- the raw moto ceiling on this machine in the same run: SQS send/receive/delete in batches of
  10 through a bare moto server, no Tocsin code,
- send latency per channel beside the webhook's: notifications to one recipient on every
  queued channel (webhook, Slack, Teams, Discord and Apprise to loopback receivers, push to the
  local cloud's SNS), accepted -> delivery recorded (``delivered_at - created_at``), p50/p95,
- cold-start imports of the functions, median of fresh interpreters: ``import app`` (every
  function imports it), a core deliver function's (``import app`` + its services + an empty
  batch), and ``deliver_apprise``'s (the same + Apprise), and whether Apprise was loaded by the
  core one.

    python bench/e2e.py [--notifications 2000] [--rate 10] [--clients 16] [--channel-rounds 20]
    python bench/e2e.py --imports-only [--imports-baseline DIR]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import requests

from tocsin_local.local_cloud import free_port
from tocsin_local.metering import ENV_VAR, SITE_DIR, percentile, read_totals
from tocsin_local.process_tree import tree_rss_mb
from tocsin_local.stack import StackInfo, StackProcess

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Receiver:
    received: dict[str, float] = field(default_factory=dict)
    duplicates: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: threading.Event = field(default_factory=threading.Event)
    expected: int = 0

    def serve(self) -> ThreadingHTTPServer:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                now = time.perf_counter()
                if self.path != "/hook":
                    # A chat platform's or Apprise's message (timed from the API's records).
                    self.send_response(204 if self.path.startswith("/discord") else 200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                notification_id = json.loads(body)["id"]
                with receiver.lock:
                    if notification_id in receiver.received:
                        receiver.duplicates += 1
                    else:
                        receiver.received[notification_id] = now
                    if receiver.expected and len(receiver.received) >= receiver.expected:
                        receiver.done.set()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


@dataclass
class Sent:
    notification_id: str
    accepted_at: float
    post_seconds: float


def start_stack(state_dir: Path, meter_dir: Path) -> tuple[StackProcess, StackInfo, float]:
    """The stack with every process's AWS calls metered; also how long until /health said 200
    (local.json is written right after)."""
    env = {
        ENV_VAR: str(meter_dir),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(SITE_DIR), str(ROOT), os.environ.get("PYTHONPATH")])
        ),
    }
    stack = StackProcess(state_dir, env=env, reload=False)
    info = stack.wait_ready()
    return stack, info, time.monotonic() - stack.started


def post_all(
    api: str, key: str, recipient: str, count: int, *, rate: float | None, clients: int
) -> list[Sent]:
    local = threading.local()

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers["Authorization"] = f"Bearer {key}"
        return local.session  # type: ignore[no-any-return]

    def send(index: int) -> Sent:
        begun = time.perf_counter()
        response = session().post(
            f"{api}/v1/notifications",
            json={"recipient_id": recipient, "title": f"bench {index}"},
            timeout=30,
        )
        ended = time.perf_counter()
        if response.status_code != 202:
            raise RuntimeError(f"POST answered {response.status_code}: {response.text}")
        return Sent(response.json()["id"], ended, ended - begun)

    if rate is None:
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            return list(pool.map(send, range(count)))
    interval = 1.0 / rate
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        futures = []
        start = time.perf_counter()
        for index in range(count):
            delay = start + index * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(send, index))
        return [future.result() for future in futures]


def moto_ceiling(seconds: float = 5.0) -> float:
    """Messages/s through a bare moto server: send, receive and delete in batches of 10."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tocsin_local.moto_server", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()
        sqs = boto3.client(
            "sqs",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        url = sqs.create_queue(QueueName="ceiling")["QueueUrl"]
        moved = 0
        deadline = time.perf_counter() + seconds
        begun = time.perf_counter()
        while time.perf_counter() < deadline:
            sqs.send_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x" * 200} for i in range(10)]
            )
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if messages:
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(messages)
                    ],
                )
            moved += len(messages)
        return moved / (time.perf_counter() - begun)
    finally:
        process.terminate()
        process.wait(10)


def report_latencies(label: str, sent: list[Sent], received: dict[str, float]) -> None:
    latencies = [
        (received[s.notification_id] - s.accepted_at) * 1000
        for s in sent
        if s.notification_id in received
    ]
    posts = [s.post_seconds * 1000 for s in sent]
    print(
        f"  {label:<11} accept->webhook p50 {percentile(latencies, 0.5):7.1f} ms  p95 {percentile(latencies, 0.95):7.1f} ms"
        f"  p99 {percentile(latencies, 0.99):7.1f} ms | POST p50 {percentile(posts, 0.5):6.1f} ms  p99 {percentile(posts, 0.99):6.1f} ms"
    )


CHANNELS = ("webhook", "slack", "teams", "discord", "push", "apprise")


def channel_latencies(api: str, key: str, base: str, rounds: int) -> dict[str, list[float]]:
    """Accepted -> delivery recorded, in ms, per channel: ``rounds`` notifications at 2/s to a
    recipient on every queued channel (after one that warms each function up)."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    host = base.removeprefix("http://")
    session.put(
        f"{api}/v1/recipients/channels",
        json={
            "webhook_url": f"{base}/channels/webhook",  # not /hook: the first phase counts those
            "slack_webhook_url": f"{base}/slack",
            "teams_webhook_url": f"{base}/teams",
            "discord_webhook_url": f"{base}/discord",
            "push_tokens": [{"platform": "fcm", "token": "bench-token"}],
            "apprise_urls": [f"json://{host}/apprise"],
        },
        timeout=10,
    ).raise_for_status()

    def send() -> str:
        response = session.post(
            f"{api}/v1/notifications",
            json={"recipient_id": "channels", "title": "bench", "channels": list(CHANNELS)},
            timeout=30,
        )
        response.raise_for_status()
        return str(response.json()["id"])

    def final(notification_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            notification: dict[str, Any] = session.get(
                f"{api}/v1/notifications/{notification_id}", timeout=30
            ).json()
            if notification["status"] not in ("accepted", "processing"):
                return notification
            time.sleep(0.2)
        raise TimeoutError(f"notification {notification_id} not final")

    final(send())
    sent = []
    for _ in range(rounds):
        sent.append(send())
        time.sleep(0.5)
    latencies: dict[str, list[float]] = {channel: [] for channel in CHANNELS}
    for notification_id in sent:
        notification = final(notification_id)
        created = _parse_time(notification["created_at"])
        for delivery in notification["deliveries"]:
            if delivery.get("delivered_at"):
                elapsed = _parse_time(delivery["delivered_at"]) - created
                latencies[delivery["channel"]].append(elapsed * 1000)
    return latencies


def _parse_time(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


IMPORT_PROBE = """
import json, sys, time
begun = time.perf_counter()
import app
imported = time.perf_counter()
from chalicelib import triggers
from chalicelib.models.common import Channel
from chalicelib.wiring import services
services()
triggers.deliver(Channel.WEBHOOK, {"Records": []}, None)
ready = time.perf_counter()
core_loaded_apprise = "apprise" in sys.modules
if "--apprise" in sys.argv:
    from chalicelib.settings import get_settings
    from chalicelib.wiring import apprise_sender
    apprise_sender(get_settings())
done = time.perf_counter()
print(json.dumps({"import_app": imported - begun, "deliver": ready - begun,
                  "deliver_apprise": done - begun, "core_loaded_apprise": core_loaded_apprise}))
"""


def cold_imports(
    project_dir: Path = ROOT, runs: int = 5, *, apprise: bool = True
) -> dict[str, float | bool]:
    """Median seconds over fresh interpreters (what a Lambda cold start imports).
    ``apprise``: also time deliver_apprise's (False for a checkout without the channel)."""
    env = {
        **os.environ,
        "TOCSIN_STAGE": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    samples: list[dict[str, Any]] = []
    for index in range(runs * 2 if apprise else runs):
        with_apprise = apprise and index % 2 == 1
        command = [sys.executable, "-c", IMPORT_PROBE]
        if with_apprise:
            command.append("--apprise")
        done = subprocess.run(
            command, cwd=project_dir, env=env, capture_output=True, text=True, check=True
        )
        samples.append(
            {**json.loads(done.stdout.strip().splitlines()[-1]), "apprise": with_apprise}
        )
    core = [sample for sample in samples if not sample["apprise"]]
    with_apprise_samples = [sample for sample in samples if sample["apprise"]]
    result: dict[str, float | bool] = {
        "import_app": statistics.median(s["import_app"] for s in core),
        "deliver": statistics.median(s["deliver"] for s in core),
        "core_loaded_apprise": any(s["core_loaded_apprise"] for s in samples),
    }
    if with_apprise_samples:
        result["deliver_apprise"] = statistics.median(
            s["deliver_apprise"] for s in with_apprise_samples
        )
    return result


def report_imports(baseline: Path | None = None) -> None:
    """``baseline``: another checkout (the code before the new channels, e.g. ``git archive
    main``) whose core figures are printed beside, measured in turn with the same interpreter."""
    imports = cold_imports()
    before = cold_imports(baseline, apprise=False) if baseline is not None else None

    def row(label: str, name: str) -> None:
        line = f"    {label:<42}{float(imports[name]) * 1000:7.0f} ms"
        if before is not None and name in before:
            line += f"   (before: {float(before[name]) * 1000:5.0f} ms)"
        print(line)

    print("  cold-start imports (median of fresh interpreters):")
    row("import app", "import_app")
    row("a core deliver function (app + services)", "deliver")
    row("deliver_apprise (the same + Apprise)", "deliver_apprise")
    print(
        f"    Apprise loaded by a core deliver function: {'yes' if imports['core_loaded_apprise'] else 'no'}"
    )
    if baseline is not None:
        print(f"    (before: {baseline})")


def report_channels(latencies: dict[str, list[float]]) -> None:
    print("  send latency per channel, accepted -> delivery recorded:")
    for channel, values in latencies.items():
        if not values:
            print(f"    {channel:<8} (none delivered)")
            continue
        print(
            f"    {channel:<8} p50 {percentile(values, 0.5):7.1f} ms  p95 {percentile(values, 0.95):7.1f} ms  ({len(values)} sends)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--notifications", type=int, default=2000)
    parser.add_argument(
        "--rate",
        type=float,
        default=10.0,
        help="steady phase rate, notifications/s (below capacity: it measures latency, not queueing)",
    )
    parser.add_argument(
        "--clients", type=int, default=16, help="concurrent clients in the full-speed phase"
    )
    parser.add_argument(
        "--channel-rounds", type=int, default=20, help="notifications of the per-channel phase"
    )
    parser.add_argument("--imports-only", action="store_true", help="only the cold-start imports")
    parser.add_argument(
        "--imports-baseline",
        type=Path,
        help="a checkout to compare the cold-start imports with (e.g. main, from git archive)",
    )
    args = parser.parse_args()
    if args.imports_only:
        report_imports(args.imports_baseline)
        return
    steady_count = args.notifications // 2
    burst_count = args.notifications - steady_count

    with tempfile.TemporaryDirectory(prefix="tocsin-bench-") as tmp:
        state_dir, meter_dir = Path(tmp) / "state", Path(tmp) / "meter"
        state_dir.mkdir()
        meter_dir.mkdir()
        receiver = Receiver()
        server = receiver.serve()
        stack, info, start_seconds = start_stack(state_dir, meter_dir)
        peak_rss = 0.0
        sampling = threading.Event()

        def sample() -> None:
            nonlocal peak_rss
            while not sampling.is_set():
                peak_rss = max(peak_rss, tree_rss_mb(stack.process.pid)[0])
                sampling.wait(0.2)

        threading.Thread(target=sample, daemon=True).start()
        try:
            api, key = info.api_url, info.api_key
            hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
            requests.put(
                f"{api}/v1/recipients/bench",
                json={"webhook_url": hook},
                headers={"Authorization": f"Bearer {key}"},
                timeout=10,
            ).raise_for_status()
            # Warm-up: the first notification pays the function instances' cold start.
            receiver.expected = 1
            post_all(api, key, "bench", 1, rate=None, clients=1)
            receiver.done.wait(60)
            receiver.received.clear()
            receiver.done.clear()
            calls_before = read_totals(meter_dir)

            receiver.expected = steady_count
            steady = post_all(api, key, "bench", steady_count, rate=args.rate, clients=8)
            receiver.done.wait(120 + steady_count / 10)
            receiver.done.clear()
            receiver.expected = steady_count + burst_count
            burst_started = time.perf_counter()
            burst = post_all(api, key, "bench", burst_count, rate=None, clients=args.clients)
            receiver.done.wait(300 + burst_count / 5)
            burst_received = [
                receiver.received[s.notification_id]
                for s in burst
                if s.notification_id in receiver.received
            ]
            time.sleep(1.5)  # let every process's call meter flush once more
            calls = read_totals(meter_dir) - calls_before
            latencies = channel_latencies(
                api, key, f"http://127.0.0.1:{server.server_address[1]}", args.channel_rounds
            )
        finally:
            sampling.set()
            stack.stop()
            server.shutdown()

        delivered = len(receiver.received)
        total = steady_count + burst_count
        burst_seconds = (max(burst_received) - burst_started) if burst_received else float("nan")
        print(
            f"\nTocsin local stack, {total} notifications (recipient with webhook + inbox), {os.cpu_count()} cores"
        )
        print(f"  delivered {delivered}/{total}, duplicate webhooks {receiver.duplicates}")
        print(
            f"  sustained accepted->delivered (full speed, {args.clients} clients): {len(burst_received) / burst_seconds:6.1f} notifications/s"
        )
        accepted_rate = burst_count / (max(s.accepted_at for s in burst) - burst_started)
        print(f"  accepted (POST 202) at full speed: {accepted_rate:6.1f} notifications/s")
        report_latencies(f"steady {args.rate:g}/s", steady, receiver.received)
        report_latencies("full speed", burst, receiver.received)
        per_notification = sum(calls.values()) / total
        print(f"  AWS API calls per notification: {per_notification:.2f}")
        for operation, count in calls.most_common():
            print(f"    {operation:<42} {count / total:6.2f}")
        print(f"  stack start (command -> /health 200): {start_seconds:5.2f} s")
        print(f"  peak RSS of the stack (all processes): {peak_rss:6.0f} MB")
        report_channels(latencies)
    report_imports(args.imports_baseline)
    ceiling = moto_ceiling()
    print(
        f"  raw moto ceiling, SQS send+receive+delete in batches of 10: {ceiling:6.0f} messages/s"
    )


if __name__ == "__main__":
    main()
