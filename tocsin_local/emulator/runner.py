"""The trigger runner: one process that invokes a Chalice app's functions.

It never imports the app itself: a child process describes it (event sources, configuration),
function instances run it. A change to app.py, chalicelib/ or .chalice/config.json is picked up
while everything keeps running: the project is described again, new instances run the new code,
and sources are added, changed or stopped to match. A source whose queue, topic, table, stream
or bucket does not exist yet starts once it does (looked for again every two seconds); one that
AWS would refuse (an SQS queue whose visibility timeout is shorter than the function's timeout)
is not started, and ``GET /status`` names it under ``refused``.

Its endpoint on loopback (``tocsin_local.emulator.endpoint``) answers ``GET /status``
(per-function counters), ``POST /functions/NAME/fire`` (fire a schedule now), Lambda's Invoke
API for every function of the project, and the API Gateway management API of its WebSocket API
(``tocsin_local.emulator.websocket``), which it serves when the app has WebSocket handlers.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Protocol

import boto3

from tocsin_local.emulator import endpoint
from tocsin_local.emulator.carriers import Carrier, carrier_url
from tocsin_local.emulator.cloud import Cloud
from tocsin_local.emulator.endpoint import Reply, error_reply
from tocsin_local.emulator.functions import FunctionPool, Invocation
from tocsin_local.emulator.lifecycle import die_with_parent, stop_on_signals
from tocsin_local.emulator.notifications import EventBridgeSource, S3Source
from tocsin_local.emulator.project import (
    DEFAULT_ASYNC_CONCURRENCY,
    EventSource,
    FunctionConfig,
    ProjectDescription,
    describe_in_child,
)
from tocsin_local.emulator.schedules import ScheduleSource
from tocsin_local.emulator.sns import SnsSource
from tocsin_local.emulator.sqs import SqsSource, concurrency_of
from tocsin_local.emulator.streams import DynamoDBStreamSource, KinesisStreamSource
from tocsin_local.emulator.watch import watched_files
from tocsin_local.emulator.websocket import WebSocketApi

log = logging.getLogger("tocsin.emulator")

WATCH_INTERVAL_SECONDS = 0.5
RETRY_MISSING_SECONDS = 2.0


class Source(Protocol):
    source: EventSource

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def reload(self, source: EventSource) -> None: ...


SOURCE_TYPES: dict[str, Any] = {
    "sqs": SqsSource,
    "sns": SnsSource,
    "schedule": ScheduleSource,
    "dynamodb": DynamoDBStreamSource,
    "kinesis": KinesisStreamSource,
    "s3": S3Source,
    "cloudwatch": EventBridgeSource,
}


class Runner:
    def __init__(
        self,
        project_dir: Path,
        stage: str,
        cloud: Cloud,
        *,
        warm: bool = True,
        endpoint_url: str = "",
        websocket_port: int = 0,
    ) -> None:
        self.project_dir = project_dir
        self.stage = stage
        self.cloud = cloud
        self._warm = warm
        self.endpoint_url = endpoint_url
        self._websocket_port = websocket_port
        self.pools: dict[str, FunctionPool] = {}
        self.sources: dict[str, Source] = {}
        # Sources whose queue, topic or table does not exist (yet).
        self._waiting: dict[str, EventSource] = {}
        # Sources AWS would refuse, with AWS's reason.
        self.refused: dict[str, str] = {}
        self._carriers: dict[str, Carrier] = {}
        self.websocket: WebSocketApi | None = None
        self.description: ProjectDescription | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.endpoint_url:
            # The Lambda API and the WebSocket management API are the runner's own.
            env["AWS_ENDPOINT_URL_LAMBDA"] = self.endpoint_url
            env["AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI"] = self.endpoint_url
        env["TOCSIN_LOCAL_ACCOUNT_ID"] = self.cloud.account
        return env

    def _pool(self, function: FunctionConfig, concurrency: int | None = None) -> FunctionPool:
        """The pool of ``function`` (created on first use; given new code on a reload)."""
        pool = self.pools.get(function.name)
        if pool is None:
            limit = concurrency or function.reserved_concurrency or DEFAULT_ASYNC_CONCURRENCY
            pool = FunctionPool(function, self.project_dir, self._env(), limit)
            self.pools[function.name] = pool
        elif pool.function != function:
            pool.reload(function)
        return pool

    def load(self) -> None:
        description = describe_in_child(self.project_dir, self.stage, self._env())
        with self._lock:
            self._apply(description)

    def _apply(self, description: ProjectDescription) -> None:
        wanted = {source.key: source for source in description.sources}
        for key in list(self.sources):
            if key not in wanted:
                log.info("stopping %s", key)
                self.sources.pop(key).stop()
        for function in description.functions:
            if function.name in self.pools:
                self.pools[function.name].reload(function)
        for key, source in wanted.items():
            concurrency = concurrency_of(source) if source.kind == "sqs" else None
            pool = self._pool(source.function, concurrency)
            if source.kind == "websocket":
                continue
            if source.kind not in SOURCE_TYPES:
                log.warning(
                    "%s: %s event sources are not emulated", source.function.name, source.kind
                )
                continue
            if key in self.sources:
                self.sources[key].reload(source)
                continue
            self._start(key, source, pool)
        self._waiting = {key: self._waiting[key] for key in self._waiting if key in wanted}
        self.refused = {key: self.refused[key] for key in self.refused if key in wanted}
        self.description = description
        if self.websocket is None and any(item.kind == "websocket" for item in wanted.values()):
            self.websocket = WebSocketApi(
                self._invoke_route, description.api_gateway_stage, self.cloud.region
            )
            self.websocket.start(self._websocket_port)
            log.info(
                "WebSocket API on ws://127.0.0.1:%d/%s",
                self.websocket.port,
                description.api_gateway_stage,
            )

    def _start(self, key: str, source: EventSource, pool: FunctionPool) -> None:
        try:
            runner_source: Source = SOURCE_TYPES[source.kind](source, pool, self.cloud)
        except LookupError as missing:
            # The queue, topic or table may be created after the emulator started (by the
            # project's own deploy script): look again until it exists.
            if key not in self._waiting:
                log.warning(
                    "%s: %s; looking again every %.0f s",
                    source.function.name,
                    missing,
                    RETRY_MISSING_SECONDS,
                )
            self._waiting[key] = source
            return
        except ValueError as problem:
            log.error("%s: %s", source.function.name, problem)
            self.refused[key] = str(problem)
            self._waiting.pop(key, None)
            return
        self._waiting.pop(key, None)
        self.refused.pop(key, None)
        runner_source.start()
        self.sources[key] = runner_source
        log.info("%s <- %s %s", source.function.name, source.kind, _describe(source))
        if self._warm:
            threading.Thread(target=pool.warm, daemon=True).start()

    def _retry_waiting(self) -> None:
        with self._lock:
            for key, source in list(self._waiting.items()):
                self._start(key, source, self.pools[source.function.name])

    def watch(self) -> None:
        stamps = watched_files(self.project_dir)
        retry_at = time.monotonic() + RETRY_MISSING_SECONDS
        while not self._stop.wait(WATCH_INTERVAL_SECONDS):
            if self._waiting and time.monotonic() >= retry_at:
                retry_at = time.monotonic() + RETRY_MISSING_SECONDS
                self._retry_waiting()
            current = watched_files(self.project_dir)
            if current == stamps:
                continue
            stamps = current
            log.info("code changed: reloading")
            try:
                self.load()
            except RuntimeError as problem:
                log.error("reload failed, keeping the running code: %s", problem)

    def fire(self, function_name: str) -> bool:
        with self._lock:
            source = self.sources.get(f"schedule:{function_name}")
        if not isinstance(source, ScheduleSource):
            return False
        source.fire()
        return True

    def status(self) -> dict[str, Any]:
        with self._lock:
            functions = {
                name: {"concurrency": pool.concurrency, "busy": pool.busy}
                for name, pool in self.pools.items()
            }
            sources = sorted(self.sources)
            refused = dict(self.refused)
        return {
            "functions": functions,
            "sources": sources,
            "refused": refused,
            "stats": dict(self.cloud.stats),
            "websocket_port": self.websocket.port if self.websocket else None,
        }

    def invoke(self, name: str, invocation_type: str, payload: bytes) -> Reply:
        """Lambda's Invoke API."""
        with self._lock:
            function = self.description.function(name) if self.description else None
            pool = self._pool(function) if function else None
        if function is None or pool is None:
            arn = name if name.startswith("arn:") else self.cloud.function_arn(name)
            return error_reply(404, "ResourceNotFoundException", f"Function not found: {arn}")
        try:
            event = json.loads(payload or b"{}")
        except ValueError:
            return error_reply(
                400, "InvalidRequestContentException", "Could not parse request body into json"
            )
        if invocation_type == "DryRun":
            return Reply(204)
        if invocation_type == "Event":
            if len(payload) > endpoint.MAX_ASYNC_PAYLOAD_BYTES:
                return error_reply(
                    413,
                    "RequestTooLargeException",
                    "Request must be smaller than 262144 bytes for the InvokeAsync operation",
                )
            url = self._carrier(function, pool)
            self.cloud.client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps(event))
            return Reply(202)
        if invocation_type != "RequestResponse":
            return error_reply(
                400,
                "InvalidParameterValueException",
                f"InvocationType {invocation_type!r} is not one of RequestResponse, Event, DryRun",
            )
        with pool.slot():
            result = pool.invoke(event)
        self.cloud.count(f"{function.name}.invocations")
        headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
        if not result.ok:
            self.cloud.count(f"{function.name}.errors")
            headers["X-Amz-Function-Error"] = "Unhandled"
            return Reply(200, json.dumps(result.error).encode(), headers)
        return Reply(200, json.dumps(result.result).encode(), headers)

    def _carrier(self, function: FunctionConfig, pool: FunctionPool) -> str:
        """The URL of the function's carrier of asynchronous invokes, handing events over."""
        with self._lock:
            carrier = self._carriers.get(function.name)
            if carrier is None:
                url = carrier_url(self.cloud, function.lambda_name, function.timeout + 30)
                carrier = Carrier(function.name, url, pool, self.cloud)
                carrier.start()
                self._carriers[function.name] = carrier
            return carrier.url

    def _invoke_route(self, route: str, event: dict[str, Any]) -> Invocation | None:
        """Invokes the WebSocket handler of ``route``; None when the app has none."""
        with self._lock:
            description = self.description
            sources = [
                s for s in (description.sources if description else []) if s.kind == "websocket"
            ]
            source = next((s for s in sources if s.params["route"] == route), None)
            pool = self._pool(source.function) if source else None
        if source is None or pool is None:
            return None
        with pool.slot():
            result = pool.invoke(event)
        self.cloud.count(f"{source.function.name}.invocations")
        if not result.ok:
            self.cloud.count(f"{source.function.name}.errors")
            log.warning(
                "%s failed: %s", source.function.name, (result.error or {}).get("errorMessage")
            )
        return result

    def connection(self, method: str, connection_id: str, data: bytes) -> Reply:
        if self.websocket is None:
            return error_reply(410, "GoneException", f"connection {connection_id} is gone")
        return self.websocket.connection(method, connection_id, data)

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            for source in self.sources.values():
                source.stop()
            for carrier in self._carriers.values():
                carrier.stop()
            for pool in self.pools.values():
                pool.close()
            if self.websocket is not None:
                self.websocket.stop()


def _describe(source: EventSource) -> str:
    params = source.params
    return str(
        params.get("queue")
        or params.get("queue_arn")
        or params.get("topic")
        or params.get("expression")
        or params.get("stream_arn")
        or ""
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tocsin-runner")
    parser.add_argument("--project-dir", type=Path, required=True)
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--control-port", type=int, default=0, help="the runner's endpoint")
    parser.add_argument("--websocket-port", type=int, default=0)
    parser.add_argument("--state-file", type=Path)
    parser.add_argument("--create-missing", action="store_true")
    parser.add_argument("--no-warm", action="store_true")
    args = parser.parse_args(argv)
    die_with_parent()
    logging.basicConfig(level=logging.INFO, format="runner: %(message)s", stream=sys.stderr)
    logging.getLogger("botocore").setLevel(logging.WARNING)
    cloud = Cloud(boto3.session.Session(), create_missing=args.create_missing)
    runner = Runner(
        args.project_dir.resolve(),
        args.stage,
        cloud,
        warm=not args.no_warm,
        websocket_port=args.websocket_port,
    )
    stopped = stop_on_signals()
    # The endpoint first: the functions' environment names it.
    server = endpoint.serve(runner, args.control_port)
    runner.endpoint_url = f"http://127.0.0.1:{server.server_address[1]}"
    runner.load()
    if args.state_file:
        state = {
            "control_port": server.server_address[1],
            "pid": os.getpid(),
            "websocket_port": runner.websocket.port if runner.websocket else None,
        }
        args.state_file.write_text(json.dumps(state))
    threading.Thread(target=runner.watch, daemon=True, name="watch").start()
    stopped.wait()
    runner.stop()
    server.shutdown()


if __name__ == "__main__":
    main()
