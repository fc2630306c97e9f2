"""One process tree: children started in order, stopped together, none left behind.

Each child runs in a session of its own (so a stop reaches everything it started), watches
its parent (so it ends if this process is killed outright), and is stopped with SIGTERM, then
SIGKILL of its whole group if it lingers. A child started with ``restart=True`` (the API, the
trigger runner: they keep no state of their own) is started again when it dies; any other
child's death stops the whole tree.

A stop is one or two waves: every child at once, except those started with ``stop_last=True``
(the moto server when it saves its state), which are stopped once the others are gone, so
that nothing writes to them while they save. Each wave gives its children
``STOP_GRACE_SECONDS`` to end (the trigger runner finishes the invocations under way), then
kills what is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import IO, Any

from tocsin_local.emulator.lifecycle import SIGNAL_CHECK_SECONDS

STOP_GRACE_SECONDS = 1.5


RESTART_DELAY_SECONDS = 0.5


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[str]
    argv: list[str]
    env: dict[str, str]
    restart: bool
    stop_last: bool = False
    restarts: int = 0


class Supervisor:
    def __init__(self) -> None:
        self.children: list[Child] = []
        self._stopping = threading.Event()
        self.exited = threading.Event()

    def start(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        *,
        capture_stdout: bool = False,
        restart: bool = False,
        stop_last: bool = False,
    ) -> Child:
        child = Child(name, self._spawn(argv, env, capture_stdout), argv, env, restart, stop_last)
        self.children.append(child)
        threading.Thread(
            target=self._watch, args=(child,), daemon=True, name=f"watch-{name}"
        ).start()
        return child

    @staticmethod
    def _spawn(
        argv: list[str], env: dict[str, str], capture_stdout: bool = False
    ) -> subprocess.Popen[str]:
        return subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture_stdout else sys.stderr,
            stderr=sys.stderr,
            text=True,
            start_new_session=True,
        )

    def _watch(self, child: Child) -> None:
        while True:
            code = child.proc.wait()
            if self._stopping.is_set():
                return
            sys.stderr.write(f"tocsin: {child.name} exited unexpectedly (code {code})\n")
            if not child.restart:
                self.exited.set()
                return
            if self._stopping.wait(RESTART_DELAY_SECONDS):
                return
            child.restarts += 1
            sys.stderr.write(f"tocsin: restarting {child.name}\n")
            child.proc = self._spawn(child.argv, child.env)

    @staticmethod
    def read_line(stream: IO[str] | None) -> str:
        assert stream is not None
        return stream.readline()

    def stop(self) -> None:
        self._stopping.set()
        first = [child for child in self.children if not child.stop_last]
        last = [child for child in self.children if child.stop_last]
        for wave in (first, last):
            self._stop_wave(wave)

    @staticmethod
    def _stop_wave(children: list[Child]) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(max(0.0, deadline - time.monotonic()))
        for child in children:
            # The group too: whatever the child started in it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.proc.pid, signal.SIGKILL)
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(STOP_GRACE_SECONDS)

    def wait_for_signal(self) -> None:
        """Blocks until SIGINT/SIGTERM or a child's death, then stops everything."""
        stop_requested = threading.Event()

        def on_signal(*_: Any) -> None:
            stop_requested.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not stop_requested.is_set() and not self.exited.is_set():
                stop_requested.wait(SIGNAL_CHECK_SECONDS)
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
