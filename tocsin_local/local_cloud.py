"""The local cloud for any Chalice project: an AWS endpoint (embedded moto server, or one given,
such as LocalStack), the HTTP API, and the trigger runner, as one process tree.

The runner's own endpoint serves the Lambda API and the WebSocket API's management API; every
process of the tree gets it as ``AWS_ENDPOINT_URL_LAMBDA`` and
``AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI`` (other services stay on ``AWS_ENDPOINT_URL``)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tocsin_local.supervisor import Supervisor

DEFAULT_REGION = "us-east-1"
READY_TIMEOUT_SECONDS = 60.0


@dataclass
class Options:
    project_dir: Path
    stage: str = "dev"
    port: int = 8000
    endpoint_url: str | None = None
    moto_port: int = 4566
    create_missing: bool = False
    state_dir: Path = field(default_factory=lambda: Path.cwd() / ".tocsin")
    reload: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)


def free_port() -> int:
    """A port nothing listens on right now (the kernel's pick)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def aws_env(endpoint_url: str) -> dict[str, str]:
    """What every process of the local cloud needs to reach it (and nothing real)."""
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or DEFAULT_REGION
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "PYTHONUNBUFFERED": "1",
    }


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not become ready within {timeout:.0f} s")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class LocalCloud:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.supervisor = Supervisor()
        self.endpoint_url = options.endpoint_url or ""
        self.env: dict[str, str] = {}
        # The runner's endpoint (Lambda, API Gateway management) and its WebSocket API.
        self.functions_url = ""
        self.websocket_url = ""

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.options.port}"

    def start_endpoint(self) -> str:
        if self.options.endpoint_url:
            self.endpoint_url = self.options.endpoint_url
        else:
            port = self.options.moto_port
            if port and not port_free(port):
                raise OSError(f"port {port} is taken: set --moto-port (or TOCSIN_MOTO_PORT)")
            child = self.supervisor.start(
                "moto",
                [sys.executable, "-m", "tocsin_local.moto_server", "--port", str(port)],
                dict(os.environ),
                capture_stdout=True,
            )
            line = self.supervisor.read_line(child.proc.stdout)
            if not line:
                raise RuntimeError("the moto server did not start")
            self.endpoint_url = f"http://127.0.0.1:{json.loads(line)['port']}"
        self.env = {**os.environ, **aws_env(self.endpoint_url), **self.options.extra_env}
        return self.endpoint_url

    def start_functions(self) -> None:
        options = self.options
        if not port_free(options.port):
            raise OSError(f"port {options.port} is taken: set --port (or TOCSIN_PORT)")
        options.state_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            (options.state_dir / "runner.json").unlink()
        project = str(options.project_dir.resolve())
        control_port, websocket_port = free_port(), free_port()
        self.functions_url = f"http://127.0.0.1:{control_port}"
        self.websocket_url = f"ws://127.0.0.1:{websocket_port}"
        env = {
            **self.env,
            "AWS_ENDPOINT_URL_LAMBDA": self.functions_url,
            "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI": self.functions_url,
        }
        runner = [
            sys.executable,
            "-m",
            "tocsin_local.emulator.runner",
            "--project-dir",
            project,
            "--stage",
            options.stage,
            "--state-file",
            str(options.state_dir / "runner.json"),
            "--control-port",
            str(control_port),
            "--websocket-port",
            str(websocket_port),
        ]
        if options.create_missing:
            runner.append("--create-missing")
        self.supervisor.start("runner", runner, env, restart=True)
        gateway = [
            sys.executable,
            "-m",
            "tocsin_local.emulator.gateway",
            "--project-dir",
            project,
            "--stage",
            options.stage,
            "--port",
            str(options.port),
        ]
        if options.reload:
            gateway.append("--reload")
        self.supervisor.start("api", gateway, env, restart=True)

    def wait_ready(self, health_path: str | None) -> None:
        if health_path is not None:
            wait_until(
                lambda: http_ok(self.api_url + health_path), READY_TIMEOUT_SECONDS, "the API"
            )
        else:
            wait_until(lambda: not port_free(self.options.port), READY_TIMEOUT_SECONDS, "the API")
        wait_until(
            lambda: (self.options.state_dir / "runner.json").exists(),
            READY_TIMEOUT_SECONDS,
            "the trigger runner",
        )

    def serve(self) -> None:
        self.supervisor.wait_for_signal()

    def stop(self) -> None:
        self.supervisor.stop()
        with contextlib.suppress(FileNotFoundError):
            (self.options.state_dir / "runner.json").unlink()
