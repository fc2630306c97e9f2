"""Tocsin's own stack with LocalStack as the cloud: ``tocsin run --endpoint-url`` (our API and
trigger runner, LocalStack's DynamoDB, SNS and SQS), one notification, one signed webhook."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.emulator.backend import stop_process_group
from tests.harness import ROOT, Api, poll, receiver, tocsin_command
from tocsin_local.local_cloud import free_port


@pytest.fixture(scope="module")
def stack_on_localstack(
    localstack: tuple[str, float], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Api, str]]:
    endpoint, _ = localstack
    state_dir = tmp_path_factory.mktemp("tocsin-on-localstack")
    log_path = state_dir / "stack.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *tocsin_command(),
                "run",
                "--endpoint-url",
                endpoint,
                "--port",
                str(free_port()),
                "--state-dir",
                str(state_dir),
            ],
            cwd=ROOT,
            env={key: value for key, value in os.environ.items() if not key.startswith("AWS_")},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    state_file = state_dir / "local.json"

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"tocsin run exited:\n{Path(log_path).read_text()}")
        return state_file.exists()

    try:
        poll(ready, timeout=120, interval=0.2, what="tocsin run on LocalStack")
        state = json.loads(state_file.read_text())
        assert state["aws_endpoint_url"] == endpoint
        yield Api(state["api_url"], state["api_key"]), state["webhook_secret"]
    finally:
        stop_process_group(process)


def test_notification_reaches_a_signed_webhook(stack_on_localstack: tuple[Api, str]) -> None:
    api, secret = stack_on_localstack
    with receiver(secret) as hook:
        recipient = f"r-{uuid.uuid4().hex[:10]}"
        assert api.put_recipient(recipient, webhook_url=hook.url).status_code in (200, 201)
        created = api.notify(recipient_id=recipient, channels=["webhook"])
        assert created.status_code == 202, created.text

        final = api.wait_final(created.json()["id"], timeout=60)

        assert final["status"] == "delivered"
        received = hook.for_notification(created.json()["id"])
        assert len(received) == 1
        assert hook.bad_signatures == 0
