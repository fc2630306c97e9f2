"""Function instances (one process each) and the pool that runs a function's invocations.

A pool holds at most ``concurrency`` instances, started when needed and reused warm. An
invocation that outlives the function timeout has its instance killed (the process, not a
thread), as Lambda does; the next invocation starts a fresh one. After a code reload, idle
instances are replaced at once and busy ones when their invocation ends.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tocsin_local.emulator.project import FunctionConfig

log = logging.getLogger("tocsin.emulator")

INIT_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class Invocation:
    """The outcome of one invoke."""

    ok: bool
    result: Any = None
    error: dict[str, Any] | None = None
    timed_out: bool = False
    duration_ms: float = 0.0

    @property
    def error_type(self) -> str | None:
        return None if self.error is None else str(self.error.get("errorType"))


class FunctionInstance:
    def __init__(
        self, function: FunctionConfig, project_dir: Path, env: dict[str, str], generation: int
    ) -> None:
        self.function = function
        self.generation = generation
        self._project_dir = project_dir
        self._env = env
        self._proc: subprocess.Popen[bytes] | None = None
        self._requests: IO[str] | None = None
        self._responses: IO[str] | None = None
        self.init_error: dict[str, Any] | None = None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        env = {
            **self._env,
            **self.function.environment,
            "_HANDLER": self.function.handler,
            "_TOCSIN_PROJECT_DIR": str(self._project_dir),
            "_TOCSIN_REQ_FD": str(req_r),
            "_TOCSIN_RESP_FD": str(resp_w),
            "AWS_LAMBDA_FUNCTION_NAME": self.function.lambda_name or self.function.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function.lambda_name or self.function.name}",
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(self.function.timeout),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.function.memory_size or 128),
            "PYTHONUNBUFFERED": "1",
        }
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tocsin_local.emulator.worker"],
            cwd=self._project_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(req_r, resp_w),
            start_new_session=True,
        )
        os.close(req_r)
        os.close(resp_w)
        self._requests = os.fdopen(req_w, "w", encoding="utf-8")
        self._responses = os.fdopen(resp_r, "r", encoding="utf-8")
        threading.Thread(
            target=self._pump_logs, daemon=True, name=f"log-{self.function.name}"
        ).start()
        line = self._read_line(INIT_TIMEOUT_SECONDS)
        if not line:
            self.kill()
            raise RuntimeError(f"function {self.function.name} did not start")
        self.init_error = json.loads(line).get("init_error")

    def _pump_logs(self) -> None:
        proc = self._proc
        if proc is None or proc.stdout is None:
            return
        for raw in iter(proc.stdout.readline, b""):
            sys.stderr.write(f"[{self.function.name}] {raw.decode('utf-8', 'replace')}")

    def _read_line(self, timeout: float) -> str | None:
        """A response line, or None when none came within ``timeout`` or the process died."""
        assert self._responses is not None
        ready, _, _ = select.select([self._responses], [], [], max(0.0, timeout))
        if not ready:
            return None
        line = self._responses.readline()
        return line or None

    def invoke(self, event: Any) -> Invocation:
        assert self._requests is not None
        request_id = str(uuid.uuid4())
        started = time.time()
        deadline = started + self.function.timeout
        try:
            self._requests.write(
                json.dumps({"id": request_id, "event": event, "deadline_ms": deadline * 1000})
                + "\n"
            )
            self._requests.flush()
        except (BrokenPipeError, ValueError, OSError):
            self.kill()
            return Invocation(
                ok=False, error={"errorType": "Runtime.ExitError", "errorMessage": "instance died"}
            )
        line = self._read_line(deadline - time.time())
        duration = (time.time() - started) * 1000
        if line is None:
            timed_out = self.alive
            self.kill()
            if timed_out:
                message = f"Task timed out after {self.function.timeout:.2f} seconds"
                return Invocation(
                    ok=False,
                    timed_out=True,
                    error={"errorType": "Sandbox.Timedout", "errorMessage": message},
                    duration_ms=duration,
                )
            return Invocation(
                ok=False,
                error={
                    "errorType": "Runtime.ExitError",
                    "errorMessage": "the function process exited",
                },
                duration_ms=duration,
            )
        reply = json.loads(line)
        if "error" in reply:
            return Invocation(ok=False, error=reply["error"], duration_ms=duration)
        return Invocation(ok=True, result=reply.get("result"), duration_ms=duration)

    def kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                proc.wait(5)
        for stream in (self._requests, self._responses):
            with contextlib.suppress(Exception):
                if stream is not None:
                    stream.close()
        self._requests = self._responses = None


class FunctionPool:
    """Runs one function's invocations on up to ``concurrency`` warm instances."""

    def __init__(
        self, function: FunctionConfig, project_dir: Path, env: dict[str, str], concurrency: int
    ) -> None:
        self.function = function
        self.concurrency = max(1, concurrency)
        self._project_dir = project_dir
        self._env = env
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._idle: list[FunctionInstance] = []
        self._lock = threading.Lock()
        self._generation = 0
        self._closed = False
        self.busy = 0

    @contextlib.contextmanager
    def slot(self, timeout: float | None = None) -> Iterator[bool]:
        """Reserves capacity for one invocation; yields False when none freed up in time."""
        acquired = (
            self._slots.acquire(timeout=timeout) if timeout is not None else self._slots.acquire()
        )
        try:
            yield acquired
        finally:
            if acquired:
                self._slots.release()

    def invoke(self, event: Any) -> Invocation:
        """Runs one invocation; the caller holds a slot."""
        instance = self._checkout()
        with self._lock:
            self.busy += 1
        try:
            return instance.invoke(event)
        finally:
            with self._lock:
                self.busy -= 1
            self._checkin(instance)

    def warm(self) -> None:
        """Starts one instance ahead of the first event, so that it does not pay the cold start."""
        with self.slot(timeout=0) as acquired:
            if acquired:
                self._checkin(self._checkout())

    def reload(self, function: FunctionConfig) -> None:
        """New code or configuration: later invocations run on fresh instances."""
        with self._lock:
            self.function = function
            self._generation += 1
            stale, self._idle = self._idle, []
        for instance in stale:
            instance.kill()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for instance in idle:
            instance.kill()

    def _checkout(self) -> FunctionInstance:
        with self._lock:
            while self._idle:
                instance = self._idle.pop()
                if instance.alive and instance.generation == self._generation:
                    return instance
                instance.kill()
            function, generation = self.function, self._generation
        instance = FunctionInstance(function, self._project_dir, self._env, generation)
        instance.start()
        return instance

    def _checkin(self, instance: FunctionInstance) -> None:
        with self._lock:
            if not self._closed and instance.alive and instance.generation == self._generation:
                self._idle.append(instance)
                return
        instance.kill()
