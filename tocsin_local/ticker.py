"""Fires scheduled functions of the local cloud more often than their schedule.

An EventBridge rate is at least a minute, and Chalice's ``Rate`` says so; the local stage
compresses what a test or a demo must see to seconds (alerts' escalation delays among them). The
local stack therefore fires such functions every few seconds through the runner's control port,
besides their schedule: the same handler, the same event, only more often. A tick is skipped
while the function is still busy with the last one, so slow runs never pile up.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

log = logging.getLogger("tocsin.ticker")


class Ticker:
    def __init__(self, state_dir: Path, every: dict[str, float]) -> None:
        self._runner_state = state_dir / "runner.json"
        self._every = every
        self._next = {name: 0.0 for name in every}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="ticker")

    def start(self) -> None:
        if self._every:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _control(self, method: str, path: str) -> Any:
        # The runner may have been restarted on another port: read it each time.
        port = json.loads(self._runner_state.read_text())["control_port"]
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (loopback)
            return json.loads(response.read() or b"null")

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            due = [name for name, at in self._next.items() if at <= now]
            if due:
                self._tick(due, now)
            wake = min(self._next.values()) - time.monotonic()
            self._stop.wait(max(0.05, wake))

    def _tick(self, names: list[str], now: float) -> None:
        try:
            busy = self._control("GET", "/status")["functions"]
        except (OSError, ValueError, KeyError, urllib.error.URLError):
            busy = {}
        for name in names:
            self._next[name] = now + self._every[name]
            if busy.get(name, {}).get("busy"):
                continue
            try:
                self._control("POST", f"/functions/{name}/fire")
            except (OSError, ValueError, KeyError, urllib.error.URLError) as error:
                log.debug("could not fire %s: %s", name, error)
