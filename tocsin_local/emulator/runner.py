"""The trigger runner: one process that invokes a Chalice app's event handlers.

It never imports the app itself: a child process describes it (event sources, configuration),
function instances run it. A change to app.py, chalicelib/ or .chalice/config.json is picked up
while everything keeps running: the project is described again, new instances run the new code,
and sources are added, changed or stopped to match. A source whose queue, topic or table does
not exist yet starts once it does (looked for again every two seconds).

A small control server on loopback answers ``GET /status`` (per-function counters) and
``POST /functions/NAME/fire`` (fire a schedule now).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

import boto3

from tocsin_local.emulator.cloud import Cloud
from tocsin_local.emulator.functions import FunctionPool
from tocsin_local.emulator.lifecycle import die_with_parent, stop_on_signals
from tocsin_local.emulator.project import (
    DEFAULT_ASYNC_CONCURRENCY,
    EventSource,
    ProjectDescription,
    describe_in_child,
)
from tocsin_local.emulator.schedules import ScheduleSource
from tocsin_local.emulator.sns import SnsSource
from tocsin_local.emulator.sqs import SqsSource, concurrency_of
from tocsin_local.emulator.streams import DynamoDBStreamSource
from tocsin_local.emulator.watch import watched_files
from tocsin_local.loopback import refusal

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
}


class Runner:
    def __init__(self, project_dir: Path, stage: str, cloud: Cloud, *, warm: bool = True) -> None:
        self.project_dir = project_dir
        self.stage = stage
        self.cloud = cloud
        self._warm = warm
        self.pools: dict[str, FunctionPool] = {}
        self.sources: dict[str, Source] = {}
        # Sources whose queue, topic or table does not exist (yet).
        self._waiting: dict[str, EventSource] = {}
        self.description: ProjectDescription | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def _env(self) -> dict[str, str]:
        return dict(os.environ)

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
        for key, source in wanted.items():
            if source.kind not in SOURCE_TYPES:
                log.warning(
                    "%s: %s event sources are not emulated", source.function.name, source.kind
                )
                continue
            pool = self.pools.get(source.function.name)
            if pool is None:
                concurrency = (
                    concurrency_of(source)
                    if source.kind == "sqs"
                    else (source.function.reserved_concurrency or DEFAULT_ASYNC_CONCURRENCY)
                )
                pool = FunctionPool(source.function, self.project_dir, self._env(), concurrency)
                self.pools[source.function.name] = pool
            else:
                pool.reload(source.function)
            if key in self.sources:
                self.sources[key].reload(source)
                continue
            self._start(key, source, pool)
        self._waiting = {key: self._waiting[key] for key in self._waiting if key in wanted}
        self.description = description

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
            return
        self._waiting.pop(key, None)
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
        return {"functions": functions, "sources": sources, "stats": dict(self.cloud.stats)}

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            for source in self.sources.values():
                source.stop()
            for pool in self.pools.values():
                pool.close()


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


def control_server(runner: Runner, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _refused(self) -> bool:
            # Only local tools call this port: never a web page (see tocsin_local.loopback).
            reason = refusal(self.headers.get("Host"), self.headers.get("Origin"), ())
            if reason is not None:
                self._send(403, {"error": f"forbidden: {reason}"})
            return reason is not None

        def do_GET(self) -> None:
            if self._refused():
                return
            if self.path == "/status":
                self._send(200, runner.status())
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            if self._refused():
                return
            parts = self.path.strip("/").split("/")
            if len(parts) == 3 and parts[0] == "functions" and parts[2] == "fire":
                fired = runner.fire(parts[1])
                self._send(202 if fired else 404, {"fired": fired})
            else:
                self._send(404, {"error": "not found"})

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="control").start()
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tocsin-runner")
    parser.add_argument("--project-dir", type=Path, required=True)
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--control-port", type=int, default=0)
    parser.add_argument("--state-file", type=Path)
    parser.add_argument("--create-missing", action="store_true")
    parser.add_argument("--no-warm", action="store_true")
    args = parser.parse_args(argv)
    die_with_parent()
    logging.basicConfig(level=logging.INFO, format="runner: %(message)s", stream=sys.stderr)
    logging.getLogger("botocore").setLevel(logging.WARNING)
    cloud = Cloud(boto3.session.Session(), create_missing=args.create_missing)
    runner = Runner(args.project_dir.resolve(), args.stage, cloud, warm=not args.no_warm)
    stopped = stop_on_signals()
    runner.load()
    server = control_server(runner, args.control_port)
    if args.state_file:
        args.state_file.write_text(
            json.dumps({"control_port": server.server_address[1], "pid": os.getpid()})
        )
    threading.Thread(target=runner.watch, daemon=True, name="watch").start()
    stopped.wait()
    runner.stop()
    server.shutdown()


if __name__ == "__main__":
    main()
