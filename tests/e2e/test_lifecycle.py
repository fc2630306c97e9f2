"""The local stack as one process tree: a stop leaves nothing behind; a crashed API comes back."""

from __future__ import annotations

import json
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


def test_web_pages_of_other_origins_get_nothing_from_the_local_cloud(stack: Stack) -> None:
    # GIVEN the running stack's AWS endpoint and the runner's control port
    endpoint = stack.aws_endpoint_url
    control_port = json.loads((stack.state_dir / "runner.json").read_text())["control_port"]
    scan = {
        "X-Amz-Target": "DynamoDB_20120810.Scan",
        "Content-Type": "application/x-amz-json-1.0",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261124/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
    }
    # WHEN a page on another origin reads the table, resets the cloud or fires a function
    page = {"Origin": "https://evil.example"}
    read = requests.post(
        endpoint, headers={**scan, **page}, data='{"TableName": "tocsin"}', timeout=10
    )
    reset = requests.post(endpoint + "/moto-api/reset", timeout=10)
    fire = requests.post(
        f"http://127.0.0.1:{control_port}/functions/sweep/fire", headers=page, timeout=10
    )
    rebound = requests.get(
        f"http://127.0.0.1:{control_port}/status", headers={"Host": "evil.example"}, timeout=10
    )
    # THEN each is refused, with no CORS header to let a page read an answer
    for response in (read, reset, fire, rebound):
        assert response.status_code == 403
        assert "Access-Control-Allow-Origin" not in response.headers
    # while the tooling's own calls still work
    assert requests.get(endpoint + "/moto-api/data.json", timeout=10).status_code == 200
    assert stack.client().request("GET", "/v1/notifications").status_code == 200


def test_local_json_is_readable_by_its_owner_only(stack: Stack) -> None:
    assert (stack.state_dir / "local.json").stat().st_mode & 0o777 == 0o600
