"""Benchmark of the managed-queue emulator (``make bench-emulator``). Prints figures, asserts
nothing.

On one moto server (the local cloud's own, a process of its own), in one run:

- send -> handler latency at low load (one message at a time, the next once the previous one
  was handled): the time from just before ``SendMessage`` to the handler's first line,
  p50/p99/max; the same for the other event sources (S3 ``PutObject``, EventBridge
  ``PutEvents``, Kinesis ``PutRecord``, Lambda ``Invoke`` with ``InvocationType=Event``, a
  WebSocket message), each from just before the call to the handler's first line;
- sustained records/s through a no-op handler (batch size 10, the default five pollers),
  against the raw moto transport ceiling measured in the same run: SQS send / receive /
  delete in batches of 10 by plain boto3 threads, no Tocsin code. Both keep the queue shallow
  (producers pause above ``--backlog`` messages; moto's receive cost grows with depth) and
  print the depth they saw;
- emulator start time (runner process spawned -> event sources polling) and resident memory
  (runner and its function instances).

The same figures for LocalStack when ``tools/localstack-offline.sh`` has installed it (its
own event source mapping, the app deployed as Lambda functions), unless ``--no-localstack``.

    python bench/emulator.py [--seconds 10] [--samples 200] [--source-samples 50]
                             [--backlog 200] [--no-localstack]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.emulator.backend import aws_env, stop_process_group  # noqa: E402
from tocsin_local.local_cloud import free_port  # noqa: E402
from tocsin_local.metering import percentile  # noqa: E402
from tocsin_local.process_tree import tree_rss_mb  # noqa: E402

LAUNCHER = ROOT / "tools" / "localstack-offline.sh"
LOCALSTACK_HOME = Path(
    os.environ.get("LOCALSTACK_HOME", Path.home() / ".cache" / "tocsin-localstack")
)
TABLE = "bench-observations"

BENCH_APP = """
import base64
import time

import boto3
from botocore.config import Config
from chalice.app import Chalice

app = Chalice(app_name="bench")
app.experimental_feature_flags.update(["WEBSOCKETS"])
app.websocket_api.session = boto3.session.Session()
_table = None


def _seen(seen, *ids):
    global _table
    if _table is None:
        _table = boto3.client("dynamodb")
    for item in ids:
        _table.put_item(
            TableName="bench-observations", Item={"id": {"S": item}, "seen": {"S": seen}}
        )


@app.on_sqs_message(queue="bench-latency", batch_size=1, name="latency")
def latency(event):
    _seen(repr(time.time()), *[record.body for record in event])


@app.on_s3_event(bucket="bench-uploads", events=["s3:ObjectCreated:*"], name="s3_latency")
def s3_latency(event):
    _seen(repr(time.time()), event.key)


@app.on_cw_event({"source": ["bench"]}, name="events_latency")
def events_latency(event):
    _seen(repr(time.time()), event.detail["id"])


@app.on_kinesis_record(stream="bench-stream", batch_size=1, name="kinesis_latency")
def kinesis_latency(event):
    _seen(repr(time.time()), *[record.data.decode() for record in event])


@app.lambda_function(name="invoke_latency")
def invoke_latency(event, context):
    _seen(repr(time.time()), event["id"])


@app.on_ws_message()
def websocket_latency(event):
    _seen(repr(time.time()), event.body)


@app.on_sqs_message(queue="bench-throughput", batch_size=10, name="noop")
def noop(event):
    return None
"""

CONFIG = {"version": "2.0", "app_name": "bench", "lambda_timeout": 10, "stages": {"dev": {}}}


class Cloud:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        session = boto3.session.Session(
            aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
        )
        self._session = session
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._session.client(  # type: ignore[call-overload]
                    service, endpoint_url=self.endpoint, config=Config(max_pool_connections=32)
                )
            return self._clients[service]

    def queue(self, name: str, visibility_timeout: int = 30) -> str:
        sqs = self.client("sqs")
        url = str(sqs.create_queue(QueueName=name)["QueueUrl"])
        sqs.purge_queue(QueueUrl=url)
        sqs.set_queue_attributes(
            QueueUrl=url, Attributes={"VisibilityTimeout": str(visibility_timeout)}
        )
        return url

    def depth(self, url: str) -> int:
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    def observations_table(self) -> None:
        dynamodb = self.client("dynamodb")
        if TABLE in dynamodb.list_tables()["TableNames"]:
            return
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.get_waiter("table_exists").wait(TableName=TABLE)


@dataclass
class Throughput:
    records_per_second: float
    max_depth: int
    mean_depth: float


@dataclass
class Figures:
    name: str
    start_seconds: float = float("nan")
    first_event_seconds: float = float("nan")
    rss_mb: float = float("nan")
    processes: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    sources_ms: dict[str, list[float]] = field(default_factory=dict)
    throughput: Throughput | None = None
    raw: Throughput | None = None


def sustained(
    cloud: Cloud, url: str, seconds: float, backlog: int, producers: int = 2
) -> Throughput:
    """Feeds ``url`` with batches of 10 for ``seconds`` (pausing above ``backlog``) while
    something else consumes it; records/s consumed after a one-second warm-up."""
    sent = [0]
    lock = threading.Lock()
    stop = threading.Event()
    throttle = threading.Event()
    depths: list[int] = []

    def produce() -> None:
        sqs = cloud.client("sqs")
        entries = [{"Id": str(index), "MessageBody": "x" * 64} for index in range(10)]
        while not stop.is_set():
            if throttle.is_set():
                time.sleep(0.005)
                continue
            sqs.send_message_batch(QueueUrl=url, Entries=entries)
            with lock:
                sent[0] += 10

    def processed() -> int:
        depth = cloud.depth(url)
        depths.append(depth)
        throttle.set() if depth > backlog else throttle.clear()
        with lock:
            return sent[0] - depth

    threads = [threading.Thread(target=produce, daemon=True) for _ in range(producers)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    depths.clear()
    first, started = processed(), time.monotonic()
    while time.monotonic() - started < seconds:
        time.sleep(0.1)
        last = processed()
    elapsed = time.monotonic() - started
    stop.set()
    for thread in threads:
        thread.join()
    return Throughput((last - first) / elapsed, max(depths), sum(depths) / len(depths))


@contextmanager
def raw_consumers(cloud: Cloud, url: str, consumers: int = 5) -> Iterator[None]:
    """Plain boto3 consumers: receive 10, delete 10, as fast as moto answers."""
    stop = threading.Event()

    def consume() -> None:
        sqs = cloud.client("sqs")
        while not stop.is_set():
            messages = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            if messages:
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                        for index, message in enumerate(messages)
                    ],
                )

    threads = [threading.Thread(target=consume, daemon=True) for _ in range(consumers)]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def handled_at(cloud: Cloud, url: str, samples: int, pause: float) -> dict[float, float]:
    """Sends ``samples`` messages one at a time, each once the previous one was handled (and
    ``pause`` later): {sent at: the handler's first line at}."""
    sqs = cloud.client("sqs")
    return handled_after(
        cloud, lambda body: sqs.send_message(QueueUrl=url, MessageBody=body), samples, pause
    )


def handled_after(
    cloud: Cloud, send: Callable[[str], Any], samples: int, pause: float
) -> dict[float, float]:
    """``send(id)`` one at a time, each once the previous one was handled (and ``pause``
    later): {sent at: the handler's first line at}."""
    dynamodb = cloud.client("dynamodb")
    handled: dict[float, float] = {}
    for index in range(samples):
        body = f"{os.getpid()}-{time.time_ns()}-{index}"
        sent = time.time()
        send(body)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            item = dynamodb.get_item(TableName=TABLE, Key={"id": {"S": body}}).get("Item")
            if item:
                handled[sent] = float(item["seen"]["S"])
                break
            time.sleep(0.002)
        time.sleep(pause)
    return handled


def latencies(cloud: Cloud, url: str, samples: int, pause: float) -> list[float]:
    """Milliseconds from just before SendMessage to the handler's first line."""
    return [(seen - at) * 1000 for at, seen in handled_at(cloud, url, samples, pause).items()]


@contextmanager
def source_senders(
    cloud: Cloud, lambda_client: Any, websocket_url: str | None
) -> Iterator[dict[str, Callable[[str], Any]]]:
    """How to trigger each of the other event sources of the bench app with an id (the
    WebSocket connection stays open meanwhile)."""
    s3, events, kinesis = cloud.client("s3"), cloud.client("events"), cloud.client("kinesis")
    function = "bench-dev-invoke_latency"
    senders: dict[str, Callable[[str], Any]] = {
        "S3 PutObject": lambda item: s3.put_object(Bucket="bench-uploads", Key=item, Body=b"x"),
        "EventBridge PutEvents": lambda item: events.put_events(
            Entries=[{"Source": "bench", "DetailType": "t", "Detail": json.dumps({"id": item})}]
        ),
        "Kinesis PutRecord": lambda item: kinesis.put_record(
            StreamName="bench-stream", Data=item.encode(), PartitionKey="p"
        ),
        "Lambda Invoke (Event)": lambda item: lambda_client.invoke(
            FunctionName=function, InvocationType="Event", Payload=json.dumps({"id": item})
        ),
    }
    if websocket_url is None:
        yield senders
        return
    from websockets.sync.client import connect

    with connect(websocket_url) as socket:
        senders["WebSocket message"] = socket.send
        yield senders


def source_latencies(
    cloud: Cloud, senders: dict[str, Callable[[str], Any]], samples: int, pause: float
) -> dict[str, list[float]]:
    """Per source, milliseconds from just before the call to the handler's first line (after
    three unmeasured events that start its function instance)."""
    figures: dict[str, list[float]] = {}
    for name, send in senders.items():
        handled_after(cloud, send, 3, pause)
        measured = handled_after(cloud, send, samples, pause)
        figures[name] = [(seen - at) * 1000 for at, seen in measured.items()]
    return figures


def source_resources(cloud: Cloud) -> None:
    """The bucket and the stream of the bench app."""
    cloud.client("s3").create_bucket(Bucket="bench-uploads")
    kinesis = cloud.client("kinesis")
    kinesis.create_stream(StreamName="bench-stream", ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(
        StreamName="bench-stream", WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )


def warm_up(cloud: Cloud, latency_url: str, throughput_url: str) -> None:
    """Steady state, not cold starts: every function instance the measurements will use is
    started (a burst for the no-op function's five pollers) and the queues are empty again."""
    handled_at(cloud, latency_url, 5, 0.05)
    sqs = cloud.client("sqs")
    for _ in range(10):
        sqs.send_message_batch(
            QueueUrl=throughput_url,
            Entries=[{"Id": str(index), "MessageBody": "warm"} for index in range(10)],
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and cloud.depth(throughput_url) > 0:
        time.sleep(0.1)


def bench_project(workdir: Path) -> Path:
    project = workdir / "bench"
    (project / ".chalice").mkdir(parents=True, exist_ok=True)
    (project / "app.py").write_text(BENCH_APP)
    (project / ".chalice" / "config.json").write_text(json.dumps(CONFIG))
    return project


@contextmanager
def moto_server() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tocsin_local.moto_server", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    port = json.loads(process.stdout.readline())["port"]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process_group(process)


def run_emulator(args: argparse.Namespace, workdir: Path) -> Figures:
    figures = Figures("emulator (moto)")
    with moto_server() as endpoint:
        cloud = Cloud(endpoint)
        cloud.observations_table()
        latency_url = cloud.queue("bench-latency")
        throughput_url = cloud.queue("bench-throughput")
        raw_url = cloud.queue("bench-raw")
        with raw_consumers(cloud, raw_url):
            figures.raw = sustained(cloud, raw_url, args.seconds, args.backlog)

        source_resources(cloud)
        project = bench_project(workdir)
        state = workdir / "runner.json"
        control_port, websocket_port = free_port(), free_port()
        functions = f"http://127.0.0.1:{control_port}"
        started, spawned = time.monotonic(), time.time()
        runner = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tocsin_local.emulator.runner",
                "--project-dir",
                str(project),
                "--state-file",
                str(state),
                "--control-port",
                str(control_port),
                "--websocket-port",
                str(websocket_port),
            ],
            env={**os.environ, **aws_env(endpoint), "AWS_ENDPOINT_URL_LAMBDA": functions},
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            while not state.exists():
                time.sleep(0.01)
            figures.start_seconds = time.monotonic() - started
            first = handled_at(cloud, latency_url, 1, 0)
            figures.first_event_seconds = min(first.values()) - spawned
            warm_up(cloud, latency_url, throughput_url)
            figures.latencies_ms = latencies(cloud, latency_url, args.samples, args.pause)
            lambda_client = Cloud(functions).client("lambda")
            websocket_url = f"ws://127.0.0.1:{websocket_port}/api"
            with source_senders(cloud, lambda_client, websocket_url) as senders:
                figures.sources_ms = source_latencies(
                    cloud, senders, args.source_samples, args.pause
                )
            figures.throughput = sustained(cloud, throughput_url, args.seconds, args.backlog)
            figures.rss_mb, figures.processes = tree_rss_mb(runner.pid)
        finally:
            stop_process_group(runner)
    return figures


def run_localstack(args: argparse.Namespace, workdir: Path) -> Figures | None:
    if not (LOCALSTACK_HOME / "venv" / "bin" / "python").exists():
        print("LocalStack is not installed (tools/localstack-offline.sh install): skipped")
        return None
    from tests.localstack.backend import LocalStackBackend

    figures = Figures("LocalStack (its ESM)")
    port = str(free_port())
    env = {**os.environ, "LOCALSTACK_PORT": port, "LOCALSTACK_HOME": str(LOCALSTACK_HOME)}
    started, spawned = time.monotonic(), time.time()
    launched = subprocess.run(
        ["bash", str(LAUNCHER), "start"], env=env, capture_output=True, text=True, check=False
    )
    if launched.returncode != 0:
        print(f"LocalStack did not start:\n{launched.stderr}")
        return None
    figures.start_seconds = time.monotonic() - started
    try:
        cloud = Cloud(f"http://127.0.0.1:{port}")
        cloud.observations_table()
        raw_url = cloud.queue("bench-raw")
        with raw_consumers(cloud, raw_url):
            figures.raw = sustained(cloud, raw_url, args.seconds, args.backlog)
        backend = LocalStackBackend(cloud.endpoint, workdir, async_retry_seconds=0)
        backend.deploy_project(localstack_project(workdir / "localstack"))
        first = handled_at(cloud, latency_url_of(cloud), 1, 0)
        figures.first_event_seconds = min(first.values()) - spawned
        latency_url = latency_url_of(cloud)
        throughput_url = cloud.client("sqs").get_queue_url(QueueName="bench-throughput")["QueueUrl"]
        warm_up(cloud, latency_url, throughput_url)
        figures.latencies_ms = latencies(cloud, latency_url, args.samples, args.pause)
        # LocalStack's free edition has no WebSocket APIs.
        with source_senders(cloud, cloud.client("lambda"), None) as senders:
            figures.sources_ms = source_latencies(cloud, senders, args.source_samples, args.pause)
        figures.throughput = sustained(cloud, throughput_url, args.seconds, args.backlog)
        pid = int((LOCALSTACK_HOME / "localstack.pid").read_text())
        figures.rss_mb, figures.processes = tree_rss_mb(pid)
    finally:
        subprocess.run(["bash", str(LAUNCHER), "stop"], env=env, capture_output=True, check=False)
    return figures


def latency_url_of(cloud: Cloud) -> str:
    return str(cloud.client("sqs").get_queue_url(QueueName="bench-latency")["QueueUrl"])


def localstack_project(workdir: Path) -> Path:
    project = bench_project(workdir)
    queues = [
        {"name": name, "attributes": {"VisibilityTimeout": "30"}}
        for name in ("bench-latency", "bench-throughput")
    ]
    resources = {
        "queues": queues,
        "buckets": ["bench-uploads"],
        "streams": [{"name": "bench-stream", "shards": 1}],
    }
    (project / "resources.json").write_text(json.dumps(resources))
    return project


def report(all_figures: list[Figures], backlog: int) -> None:
    print()
    for figures in all_figures:
        print(f"== {figures.name}")
        values = figures.latencies_ms
        if values:
            print(
                f"  send -> handler latency: p50 {percentile(values, 0.5):.1f} ms, "
                f"p99 {percentile(values, 0.99):.1f} ms, max {max(values):.1f} ms "
                f"({len(values)} samples)"
            )
        for source, values in figures.sources_ms.items():
            if values:
                print(
                    f"  {source} -> handler: p50 {percentile(values, 0.5):.1f} ms, "
                    f"p99 {percentile(values, 0.99):.1f} ms, max {max(values):.1f} ms "
                    f"({len(values)} samples)"
                )
        if figures.throughput and figures.raw:
            share = 100 * figures.throughput.records_per_second / figures.raw.records_per_second
            print(
                f"  no-op handler: {figures.throughput.records_per_second:.0f} records/s "
                f"(queue depth max {figures.throughput.max_depth}, "
                f"mean {figures.throughput.mean_depth:.0f})"
            )
            print(
                f"  raw SQS ceiling (send/receive/delete x10, no Tocsin code): "
                f"{figures.raw.records_per_second:.0f} records/s "
                f"(depth max {figures.raw.max_depth}, mean {figures.raw.mean_depth:.0f})"
            )
            print(f"  throughput / ceiling: {share:.0f} %  (backlog cap {backlog})")
        print(
            f"  start: ready (polling) after {figures.start_seconds:.2f} s; first event handled "
            f"{figures.first_event_seconds:.2f} s after start (incl. deploy on LocalStack)"
        )
        print(f"  resident memory: {figures.rss_mb:.0f} MB in {figures.processes} processes")
    print("\nGoals: p50 <= 20 ms, p99 <= 100 ms, throughput >= 60 % of the raw ceiling.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0, help="per throughput run")
    parser.add_argument("--samples", type=int, default=200, help="SQS latency samples")
    parser.add_argument(
        "--source-samples", type=int, default=50, help="latency samples per other source"
    )
    parser.add_argument("--pause", type=float, default=0.02, help="between latency samples")
    parser.add_argument("--backlog", type=int, default=200, help="producers pause above it")
    parser.add_argument("--no-localstack", action="store_true")
    args = parser.parse_args()
    results: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="bench-emulator-") as tmp:
        results.append(run_emulator(args, Path(tmp)))
        if not args.no_localstack:
            localstack = run_localstack(args, Path(tmp))
            if localstack is not None:
                results.append(localstack)
    report(results, args.backlog)


if __name__ == "__main__":
    main()
