"""``make run``: Tocsin's own local stack on the local cloud.

An empty cloud each run: moto server, every resource of ``infra`` provisioned into it, a demo
tenant with an API key, then the API and the trigger runner. ``.tocsin/local.json`` is written
once /health answers 200, and removed when the stack stops.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import boto3

from chalicelib.adapters.dynamodb import DynamoStore
from chalicelib.adapters.runtime import SystemClock
from chalicelib.domain.tenants import IssuedKey, TenantService
from chalicelib.settings import Stage
from infra.provision import provision
from infra.resources import PROJECT_DIR, definition, stage_settings
from tocsin_local.local_cloud import LocalCloud, Options, free_port
from tocsin_local.ticker import Ticker

DEMO_TENANT = "demo"
# Scheduled functions the local stage runs every few seconds besides their schedule (see
# tocsin_local.ticker): alerts' escalation steps and silence ends come due within seconds.
# TOCSIN_LOCAL_TICK_SECONDS changes the period (0: only the schedule, once a minute).
LOCAL_TICKS = ("alert_timers",)


def local_ticks() -> dict[str, float]:
    seconds = float(os.environ.get("TOCSIN_LOCAL_TICK_SECONDS", "1"))
    return {name: seconds for name in LOCAL_TICKS} if seconds > 0 else {}


@dataclass(frozen=True)
class StackInfo:
    api_url: str
    api_key: str
    webhook_secret: str
    aws_endpoint_url: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "api_url": self.api_url,
                "api_key": self.api_key,
                "webhook_secret": self.webhook_secret,
                "aws_endpoint_url": self.aws_endpoint_url,
            }
        )


class EndpointSession(boto3.session.Session):
    """A session whose clients all go to one endpoint."""

    def __init__(self, endpoint_url: str, env: dict[str, str]) -> None:
        super().__init__(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=env["AWS_SESSION_TOKEN"],
            region_name=env["AWS_DEFAULT_REGION"],
        )
        self._endpoint_url = endpoint_url

    def client(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("endpoint_url", self._endpoint_url)
        return super().client(*args, **kwargs)


def write_private(path: Path, text: str) -> None:
    """Writes a file only its owner can read (it holds an API key and a signing secret)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


# The local cloud's own platform applications (moto takes any credential): what a stage's
# TOCSIN_PUSH_*_APPLICATION_ARN settings name on AWS.
LOCAL_PUSH_APPLICATIONS = (
    ("TOCSIN_PUSH_FCM_APPLICATION_ARN", "GCM", "tocsin-local-fcm"),
    ("TOCSIN_PUSH_APNS_APPLICATION_ARN", "APNS", "tocsin-local-apns"),
    ("TOCSIN_PUSH_APNS_SANDBOX_APPLICATION_ARN", "APNS_SANDBOX", "tocsin-local-apns-sandbox"),
)


def local_push_applications(session: boto3.session.Session) -> dict[str, str]:
    """Makes the push platform applications in the local cloud; their settings for the
    functions."""
    sns = session.client("sns")
    made = {}
    for setting, platform, name in LOCAL_PUSH_APPLICATIONS:
        # Placeholders (moto takes any); LocalStack wants a principal beside every credential.
        attributes = {
            "PlatformCredential": "local-cloud-placeholder",
            "PlatformPrincipal": "local-cloud-placeholder",
        }
        made[setting] = sns.create_platform_application(
            Name=name, Platform=platform, Attributes=attributes
        )["PlatformApplicationArn"]
    return made


def issue_demo_key(session: boto3.session.Session, table: str) -> IssuedKey:
    store = DynamoStore(session.client("dynamodb"), table)
    return TenantService(tenants=store, clock=SystemClock()).issue_key(DEMO_TENANT)


def banner(info: StackInfo, state_file: Path) -> str:
    example = (
        f"curl -s -X PUT {info.api_url}/v1/recipients/alice \\\n"
        f"    -H 'Authorization: Bearer {info.api_key}' -H 'Content-Type: application/json' \\\n"
        '    -d \'{"webhook_url": "http://127.0.0.1:9000/hook"}\'\n'
        f"  curl -s -X POST {info.api_url}/v1/notifications \\\n"
        f"    -H 'Authorization: Bearer {info.api_key}' -H 'Content-Type: application/json' \\\n"
        '    -d \'{"recipient_id": "alice", "title": "Disk almost full", "body": "db-1 at 93%"}\''
    )
    return (
        "\nTocsin local stack is up.\n"
        f"  API:            {info.api_url}\n"
        f"  API key:        {info.api_key}\n"
        f"  Webhook secret: {info.webhook_secret}\n"
        f"  AWS endpoint:   {info.aws_endpoint_url}\n"
        f"  Written to:     {state_file}\n\n"
        f"Try:\n  {example}\n\nCtrl-C stops everything.\n"
    )


def run(
    *,
    project_dir: Path,
    port: int,
    moto_port: int,
    state_dir: Path,
    endpoint_url: str | None = None,
    reload: bool = True,
) -> int:
    cloud = LocalCloud(
        Options(
            project_dir=project_dir,
            stage=Stage.LOCAL.value,
            port=port,
            moto_port=moto_port,
            endpoint_url=endpoint_url,
            state_dir=state_dir,
            reload=reload,
        )
    )
    state_file = state_dir / "local.json"
    with contextlib.suppress(FileNotFoundError):
        state_file.unlink()
    ticker: Ticker | None = None
    try:
        endpoint = cloud.start_endpoint()
        session = EndpointSession(endpoint, cloud.env)
        resources = definition(Stage.LOCAL)
        provisioned = provision(resources, session)
        settings = stage_settings(Stage.LOCAL)
        cloud.env["TOCSIN_NOTIFICATIONS_TOPIC_ARN"] = provisioned.topic_arns[
            settings.notifications_topic_name
        ]
        cloud.env.update(local_push_applications(session))
        key = issue_demo_key(session, settings.table_name)
        # Where acknowledge links point (the address this stack serves).
        cloud.env.setdefault("TOCSIN_PUBLIC_URL", cloud.api_url)
        cloud.start_functions()
        cloud.wait_ready("/health")
        ticker = Ticker(state_dir, local_ticks())
        ticker.start()
        info = StackInfo(cloud.api_url, key.api_key, key.webhook_secret, endpoint)
        write_private(state_file, info.to_json() + "\n")
        sys.stdout.write(banner(info, state_file))
        sys.stdout.flush()
        cloud.serve()
        return 0
    finally:
        if ticker is not None:
            ticker.stop()
        cloud.stop()
        with contextlib.suppress(FileNotFoundError):
            state_file.unlink()


class StackProcess:
    """The local stack started as `make run` starts it (``tocsin run``), in a process group of
    its own that follows its starter: what test harnesses, benchmarks and the fault campaign
    run against."""

    def __init__(
        self,
        state_dir: Path,
        *,
        env: dict[str, str] | None = None,
        reload: bool = True,
        endpoint_url: str | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.log_path = state_dir / "stack.log"
        state_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            (state_dir / "local.json").unlink()
        command = [
            *tocsin_command(),
            "run",
            "--port",
            str(free_port()),
            "--moto-port",
            str(free_port()),
            "--state-dir",
            str(state_dir),
            "--exit-with-parent",
        ]
        if not reload:
            command.append("--no-reload")
        if endpoint_url:
            command += ["--endpoint-url", endpoint_url]
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                command,
                cwd=PROJECT_DIR,
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started = time.monotonic()

    def wait_ready(self, timeout: float = 120.0) -> StackInfo:
        """The stack's local.json, once it is written (after /health answered 200)."""
        state_file = self.state_dir / "local.json"
        deadline = time.monotonic() + timeout
        while not state_file.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"the stack exited early:\n{self.log_path.read_text()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the stack did not start within {timeout:.0f} s")
            time.sleep(0.02)
        return StackInfo(**json.loads(state_file.read_text()))

    def stop(self) -> int:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        return self.process.returncode


def tocsin_command() -> list[str]:
    script = Path(sys.executable).parent / "tocsin"
    return [str(script)] if script.exists() else [sys.executable, "-m", "tocsin_local.cli"]
