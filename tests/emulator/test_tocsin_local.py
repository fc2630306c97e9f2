"""``tocsin local --project-dir DIR --create-missing`` runs a Chalice project that knows nothing
of Tocsin: its HTTP route, SQS, SNS, DynamoDB-stream and scheduled handlers, on an embedded
moto server. The project's table is created after the emulator started, as a deploy script
of the project's own would."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.emulator.backend import Clients, aws_env, materialize, stop_process_group
from tests.harness import poll
from tocsin_local.local_cloud import free_port
from tocsin_local.stack import tocsin_command

pytestmark = pytest.mark.xdist_group("tocsin_local")


class LocalProject:
    def __init__(self, project: Path, process: subprocess.Popen[bytes], port: int, moto: int):
        self.project = project
        self.process = process
        self.api = f"http://127.0.0.1:{port}"
        self.aws = Clients(f"http://127.0.0.1:{moto}")
        self.log = project.parent / "tocsin-local.log"

    def stored_keys(self) -> set[str]:
        items = self.aws("dynamodb").scan(TableName="orders").get("Items", [])
        return {item["id"]["S"] for item in items}


@pytest.fixture(scope="module")
def orders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalProject]:
    workdir = tmp_path_factory.mktemp("tocsin-local")
    project = materialize("orders", workdir)
    port, moto = free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_") and key != "OBSERVATIONS_TABLE"
    }
    # Only credentials and a region, as on a developer's machine: the endpoint is the CLI's.
    env.update(
        {key: value for key, value in aws_env("").items() if key.startswith("AWS_")},
    )
    env.pop("AWS_ENDPOINT_URL")
    with (workdir / "tocsin-local.log").open("wb") as log:
        process = subprocess.Popen(
            [
                *tocsin_command(),
                "local",
                "--project-dir",
                str(project),
                "--port",
                str(port),
                "--moto-port",
                str(moto),
                "--create-missing",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = LocalProject(project, process, port, moto)

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"tocsin local exited:\n{running.log.read_text()}")
        return (project / ".tocsin" / "runner.json").exists()

    poll(ready, timeout=60, what="tocsin local")
    yield running
    stop_process_group(process)


def test_unknown_project_runs_with_all_its_handlers(orders: LocalProject) -> None:
    dynamodb = orders.aws("dynamodb")
    dynamodb.create_table(
        TableName="orders",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    # The stream handler starts once the table exists; until then its changes are not read.
    poll(
        lambda: (
            "dynamodb:audit" in requests.get(orders_status(orders), timeout=5).json()["sources"]
        ),
        timeout=30,
        what="the stream handler started",
    )
    queues = orders.aws("sqs").list_queues().get("QueueUrls", [])
    assert any(url.endswith("/incoming-orders") for url in queues)

    response = requests.post(f"{orders.api}/orders", json={"id": "o1"}, timeout=10)
    assert response.status_code == 200
    assert response.json() == {"accepted": "o1"}

    expected = {"order#o1", "notified#o1", "audit#order#o1", "audit#notified#o1"}
    poll(lambda: expected <= orders.stored_keys(), timeout=30, what=f"{expected} written")

    fired = subprocess.run(
        [*tocsin_command(), "fire", "tick", "--state-dir", str(orders.project / ".tocsin")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert fired.returncode == 0, fired.stderr
    poll(
        lambda: any(key.startswith("tick#") for key in orders.stored_keys()),
        timeout=30,
        what="the scheduled tick",
    )


def orders_status(orders: LocalProject) -> str:
    port = json.loads((orders.project / ".tocsin" / "runner.json").read_text())["control_port"]
    return f"http://127.0.0.1:{port}/status"
