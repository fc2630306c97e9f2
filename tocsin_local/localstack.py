"""A LocalStack for a test tier or a benchmark: the one at ``LOCALSTACK_ENDPOINT`` when that is set (for
instance one a user runs in Docker), else one the tier starts (and stops) with
``tools/localstack-offline.sh`` on ``LOCALSTACK_PORT`` (default 4599), or one already running
there, left running."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = ROOT / "tools" / "localstack-offline.sh"
DEFAULT_PORT = "4599"
# The LocalStack a tier starts retries a failed asynchronous invoke after 1 s, then 2 s
# (LAMBDA_RETRY_BASE_DELAY=1); one started elsewhere has LocalStack's default
# (60 s, then 120 s).
OWN_ASYNC_RETRY_SECONDS = 5.0
DEFAULT_ASYNC_RETRY_SECONDS = 130.0


@dataclass(frozen=True)
class LocalStack:
    endpoint: str
    # How long an asynchronous retry may take there.
    async_retry_seconds: float


def launcher(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(LAUNCHER), command],
        env=env,
        text=True,
        capture_output=True,
        timeout=900,
        check=False,
    )


@contextlib.contextmanager
def running_localstack() -> Iterator[LocalStack]:
    given = os.environ.get("LOCALSTACK_ENDPOINT")
    if given:
        yield LocalStack(given.rstrip("/"), DEFAULT_ASYNC_RETRY_SECONDS)
        return
    port = os.environ.get("LOCALSTACK_PORT", DEFAULT_PORT)
    env = {**os.environ, "LOCALSTACK_PORT": port, "LAMBDA_RETRY_BASE_DELAY": "1"}
    endpoint = f"http://127.0.0.1:{port}"
    if launcher("status", env).returncode == 0:
        # Someone else's LocalStack on that port: use it, leave it running.
        yield LocalStack(endpoint, DEFAULT_ASYNC_RETRY_SECONDS)
        return
    started = launcher("start", env)
    assert started.returncode == 0, f"LocalStack did not start:\n{started.stderr}"
    try:
        yield LocalStack(endpoint, OWN_ASYNC_RETRY_SECONDS)
    finally:
        launcher("stop", env)
