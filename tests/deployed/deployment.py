"""A stack deployed with ``make deploy``, seen as the e2e rows see the local stack: its API URL,
first key and webhook secret (``.tocsin/deployed-STAGE.json``), the ``tocsin`` CLI against its
table, and the commands that deploy and destroy it."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from chalicelib.settings import Stage
from infra.deploy import FAILED_CREATION
from infra.resources import definition
from tests.harness import Api
from tocsin_local.stack import tocsin_command

ROOT = Path(__file__).resolve().parents[2]
STAGE = "local"
FAILED_OR_GONE = {"DELETE_COMPLETE", *FAILED_CREATION}
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


def make(
    target: str, endpoint: str, *variables: str, timeout: float = 1200
) -> subprocess.CompletedProcess[str]:
    """``make TARGET STAGE=local ENDPOINT=...`` in the repository, as a user runs it."""
    return subprocess.run(
        [
            "make",
            "--no-print-directory",
            target,
            f"STAGE={STAGE}",
            f"ENDPOINT={endpoint}",
            *variables,
        ],
        cwd=ROOT,
        env={key: value for key, value in os.environ.items() if not key.startswith("TOCSIN_")},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def forget_kept_tables(endpoint: str) -> None:
    """Deletes the tables an earlier run's destroy kept in this LocalStack (when no stack of the
    stage is there), so that the tier can deploy afresh."""
    session = boto3.session.Session(
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    cloudformation = session.client("cloudformation", endpoint_url=endpoint)
    summaries = cloudformation.list_stacks()["StackSummaries"]
    if any(
        item["StackName"] == f"tocsin-{STAGE}" and item["StackStatus"] not in FAILED_OR_GONE
        for item in summaries
    ):
        return
    dynamodb = session.client("dynamodb", endpoint_url=endpoint)
    for table in definition(Stage(STAGE)).tables:
        with contextlib.suppress(dynamodb.exceptions.ResourceNotFoundException):
            dynamodb.delete_table(TableName=table.name)
            dynamodb.get_waiter("table_not_exists").wait(TableName=table.name)


def state_file(project_dir: Path = ROOT) -> Path:
    return project_dir / ".tocsin" / f"deployed-{STAGE}.json"


@dataclass
class DeployedStack:
    info: dict[str, Any]
    workdir: Path

    @classmethod
    def read(cls, workdir: Path, project_dir: Path = ROOT) -> DeployedStack:
        return cls(json.loads(state_file(project_dir).read_text()), workdir)

    @property
    def api_url(self) -> str:
        return str(self.info["api_url"])

    @property
    def api_key(self) -> str:
        return str(self.info["api_key"])

    @property
    def webhook_secret(self) -> str:
        return str(self.info["webhook_secret"])

    @property
    def aws_endpoint_url(self) -> str:
        return str(self.info["aws_endpoint_url"])

    @property
    def stack_name(self) -> str:
        return str(self.info["stack"])

    @property
    def table(self) -> str:
        return str(self.info["table"])

    def aws(self, service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.aws_endpoint_url,
            region_name=self.info["region"],
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The ``tocsin`` CLI against the deployed table."""
        env = {
            **{key: value for key, value in os.environ.items() if not key.startswith("TOCSIN_")},
            **CREDENTIALS,
            "AWS_ENDPOINT_URL": self.aws_endpoint_url,
            "AWS_DEFAULT_REGION": self.info["region"],
            "TOCSIN_STAGE": STAGE,
            "TOCSIN_TABLE_NAME": self.table,
        }
        return subprocess.run(
            [*tocsin_command(), *args],
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    def new_tenant(self, name: str) -> tuple[str, str]:
        issued = json.loads(self.cli("keys", "create", "--tenant", name).stdout)
        return issued["api_key"], issued["webhook_secret"]

    def client(self, api_key: str | None = None) -> Api:
        return Api(self.api_url, api_key if api_key is not None else self.api_key)

    def resources(self, kind: str) -> list[str]:
        """Physical ids of the stack's resources of ``kind``."""
        listed = self.aws("cloudformation").describe_stack_resources(StackName=self.stack_name)
        return [
            item["PhysicalResourceId"]
            for item in listed["StackResources"]
            if item["ResourceType"] == kind
        ]
