"""The local stack as one process tree: a stop leaves nothing behind; a crashed API comes back."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from urllib.parse import urlsplit

import requests

from tests.harness import Stack, poll
from tocsin_local.local_cloud import port_free
from tocsin_local.process_tree import descendants


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigint_stops_every_process_frees_the_ports_and_removes_local_json(tmp_path: Path) -> None:
    stack = Stack.start(tmp_path)

    def warm_tree() -> dict[int, str] | None:
        found = {pid: process.command for pid, process in descendants(stack.process.pid).items()}
        return found if any("emulator.worker" in command for command in found.values()) else None

    tree = poll(warm_tree, timeout=30, what="a warm function instance")
    commands = " ".join(tree.values())
    for part in ("moto_server", "emulator.runner", "emulator.gateway", "emulator.worker"):
        assert part in commands
    ports = [urlsplit(stack.api_url).port, urlsplit(stack.aws_endpoint_url).port]
    os.kill(stack.process.pid, signal.SIGINT)
    assert stack.process.wait(30) == 0
    poll(lambda: not any(alive(pid) for pid in tree), timeout=10, what="every process gone")
    assert all(port is not None and port_free(port) for port in ports)
    assert not (tmp_path / "local.json").exists()


def test_a_killed_api_process_is_restarted(tmp_path: Path) -> None:
    stack = Stack.start(tmp_path)
    try:
        [api_pid] = [
            pid
            for pid, process in descendants(stack.process.pid).items()
            if "emulator.gateway" in process.command
        ]
        os.kill(api_pid, signal.SIGKILL)

        def healthy_again() -> bool:
            try:
                return requests.get(stack.api_url + "/health", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        poll(healthy_again, timeout=30, what="the API back")
        assert stack.client().request("GET", "/v1/notifications").status_code == 200
    finally:
        stack.stop()
