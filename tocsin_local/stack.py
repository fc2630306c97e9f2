"""``make run``: Tocsin's own local stack on the local cloud.

An empty cloud each run: moto server, every resource of ``infra`` provisioned into it, a demo
tenant with an API key, then the API and the trigger runner. ``.tocsin/local.json`` is written
once /health answers 200, and removed when the stack stops.

With ``persist`` (``tocsin run --persist``, ``make run PERSIST=1``) the cloud's state (tables,
topics, queues, queued messages) is saved in ``.tocsin/cloud.pickle`` at the stop and loaded at
the next persistent start; provisioning then finds everything in place.

The start is parallel where it can be (2 cores: the imports are most of it): the moto server,
the API and the trigger runner start at once; this process imports what provisioning needs
meanwhile, provisions once moto serves, and then lets the runner start its event sources
(``--wait-for``). The topic ARN the API publishes to is known in advance (moto's account); with
an endpoint of one's own (``--endpoint-url``) the steps run one after the other.
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
from typing import TYPE_CHECKING, Any

from tocsin_local.local_cloud import MOTO_ACCOUNT_ID, LocalCloud, Options, free_port
from tocsin_local.ticker import Ticker

if TYPE_CHECKING:
    import boto3

    from chalicelib.domain.tenants import IssuedKey

DEMO_TENANT = "demo"
PERSIST_FILE = "cloud.pickle"
# Written once the cloud's resources exist: the trigger runner starts its sources then.
PROVISIONED_FILE = "provisioned"
PROJECT_DIR = Path(__file__).resolve().parent.parent
LOCAL_STAGE = "local"

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


def endpoint_session(endpoint_url: str, env: dict[str, str]) -> boto3.session.Session:
    """A session whose clients all go to one endpoint (boto3 is imported here, not at start)."""
    import boto3

    class EndpointSession(boto3.session.Session):
        def client(self, *args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("endpoint_url", endpoint_url)
            return super().client(*args, **kwargs)

    return EndpointSession(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
        region_name=env["AWS_DEFAULT_REGION"],
    )


def write_private(path: Path, text: str) -> None:
    """Writes a file only its owner can read (it holds an API key and a signing secret)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Written aside, then renamed: a reader never sees it empty or half written.
    partial = path.with_name(path.name + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    partial.replace(path)


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


def predicted_push_applications(region: str, account: str) -> dict[str, str]:
    """The ARNs ``local_push_applications`` makes in moto (announced before it runs)."""
    return {
        setting: f"arn:aws:sns:{region}:{account}:app/{platform}/{name}"
        for setting, platform, name in LOCAL_PUSH_APPLICATIONS
    }


def issue_demo_key(session: boto3.session.Session, table: str) -> IssuedKey:
    from chalicelib.adapters.dynamodb import DynamoStore
    from chalicelib.adapters.runtime import SystemClock
    from chalicelib.domain.tenants import TenantService

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


@dataclass(frozen=True)
class _Key:
    api_key: str
    webhook_secret: str


def _read_json_line(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(30)
        raise RuntimeError(f"provisioning failed (exit code {process.returncode})")
    found: dict[str, Any] = json.loads(line)
    return found


def run(
    *,
    project_dir: Path,
    port: int,
    moto_port: int,
    state_dir: Path,
    endpoint_url: str | None = None,
    reload: bool = True,
    persist: bool = False,
) -> int:
    cloud = LocalCloud(
        Options(
            project_dir=project_dir,
            stage=LOCAL_STAGE,
            port=port,
            moto_port=moto_port,
            endpoint_url=endpoint_url,
            state_dir=state_dir,
            reload=reload,
            persist_file=(state_dir / PERSIST_FILE) if persist else None,
        )
    )
    state_file = state_dir / "local.json"
    gate = state_dir / PROVISIONED_FILE
    for stale in (state_file, gate):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    ticker: Ticker | None = None
    try:
        # Where acknowledge links point (the address this stack serves).
        if "TOCSIN_PUBLIC_URL" not in os.environ:
            cloud.options.extra_env["TOCSIN_PUBLIC_URL"] = cloud.api_url
        # Embedded moto: start it, then the API and the runner, while a process of its own
        # provisions; an endpoint of one's own: provision first, as its account is unknown.
        parallel = endpoint_url is None
        endpoint = cloud.start_endpoint(wait=not parallel)
        command = [sys.executable, "-m", "tocsin_local.provisioning", "--endpoint", endpoint]
        if parallel:
            command += ["--account", MOTO_ACCOUNT_ID]
        provisioner = subprocess.Popen(
            command,
            cwd=PROJECT_DIR,
            env=cloud.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            if parallel:
                announced = _read_json_line(provisioner)
                cloud.env.update(announced["settings"])
                state_dir.mkdir(parents=True, exist_ok=True)
                cloud.start_functions(wait_for=gate)
            made = _read_json_line(provisioner)
            provisioner.wait(30)
        finally:
            if provisioner.poll() is None:
                provisioner.kill()
                provisioner.wait(10)
        if parallel and any(cloud.env.get(k) != v for k, v in made["settings"].items()):
            raise RuntimeError(f"resources other than announced: {made['settings']}")
        cloud.env.update(made["settings"])
        if parallel:
            cloud.wait_endpoint()
            gate.touch()
        else:
            cloud.start_functions()
        key = _Key(made["api_key"], made["webhook_secret"])
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
        for written in (state_file, gate):
            with contextlib.suppress(FileNotFoundError):
                written.unlink()


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
        persist: bool = False,
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
        if persist:
            command.append("--persist")
        with self.log_path.open("a") as log:
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
