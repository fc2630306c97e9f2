"""Where the conformance rows run: a fixture app deployed on a backend.

A row is one test body written against :class:`Deployment`; the emulator tier (this folder,
``make test``) deploys the fixture apps to the emulator on a moto server, the LocalStack tier
(``make test-localstack``) deploys the same apps to LocalStack as Lambda functions with
LocalStack's own event source mappings. Fixture apps live in ``apps/<name>`` with the resources
they expect in ``resources.json`` (on AWS, infrastructure code would create those).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import boto3

from tests.harness import poll
from tocsin_local.local_cloud import free_port, port_free

APPS = Path(__file__).resolve().parent / "apps"
OBSERVATIONS_TABLE = "cf-observations"
REGION = "us-east-1"
# The emulator retries a failed asynchronous invoke after 1 s, then 2 s (compressed from AWS's
# minutes): a retry is due within this long.
ASYNC_RETRY_SECONDS = 3.0


def aws_env(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "OBSERVATIONS_TABLE": OBSERVATIONS_TABLE,
    }


def materialize(app: str, into: Path) -> Path:
    """A copy of fixture app ``app`` under ``into``, with the shared observations module as
    ``chalicelib/observations.py``: the project directory that gets deployed."""
    project = into / app
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(APPS / app, project, ignore=shutil.ignore_patterns("__pycache__"))
    (project / "chalicelib").mkdir(exist_ok=True)
    (project / "chalicelib" / "__init__.py").touch()
    shutil.copy(APPS / "observations.py", project / "chalicelib" / "observations.py")
    return project


class Clients:
    """boto3 clients on one endpoint (``services`` may name another one per service)."""

    def __init__(self, endpoint: str, services: dict[str, str] | None = None) -> None:
        self.endpoint = endpoint
        self.services = services or {}
        self._session = boto3.session.Session(
            aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION
        )
        self._clients: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        if service not in self._clients:
            endpoint = self.services.get(service, self.endpoint)
            self._clients[service] = self._session.client(service, endpoint_url=endpoint)  # type: ignore[call-overload]
        return self._clients[service]


def create_observations_table(aws: Clients) -> None:
    dynamodb = aws("dynamodb")
    with contextlib.suppress(dynamodb.exceptions.ResourceInUseException):
        dynamodb.create_table(
            TableName=OBSERVATIONS_TABLE,
            KeySchema=[
                {"AttributeName": "function", "KeyType": "HASH"},
                {"AttributeName": "at", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "function", "AttributeType": "S"},
                {"AttributeName": "at", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
    dynamodb.get_waiter("table_exists").wait(TableName=OBSERVATIONS_TABLE)


def create_resources(aws: Clients, project: Path) -> None:
    """Creates what ``resources.json`` lists, replacing leftovers of an earlier run (a
    LocalStack that outlives a test session keeps its state)."""
    path = project / "resources.json"
    wanted: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    sqs, sns, dynamodb = aws("sqs"), aws("sns"), aws("dynamodb")
    for bucket in wanted.get("buckets", []):
        _recreate_bucket(aws("s3"), bucket)
    for stream in wanted.get("streams", []):
        _recreate_stream(aws("kinesis"), stream["name"], stream.get("shards", 1))
    for queue in wanted.get("queues", []):
        with contextlib.suppress(sqs.exceptions.QueueDoesNotExist):
            sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=queue["name"])["QueueUrl"])
    for queue in wanted.get("queues", []):
        attributes = dict(queue.get("attributes", {}))
        dead_letter = queue.get("dead_letter")
        if dead_letter:
            dlq_url = sqs.get_queue_url(QueueName=dead_letter["queue"])["QueueUrl"]
            dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            attributes["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": dlq_arn,
                    "maxReceiveCount": dead_letter["max_receive_count"],
                }
            )
        # SQS refuses to re-create a name within 60 s of deleting it.
        poll(
            functools.partial(_create_queue, sqs, queue["name"], attributes),
            timeout=90,
            interval=1,
            what=f"queue {queue['name']} created",
        )
    for topic in wanted.get("topics", []):
        # Deleting the topic drops an earlier run's subscriptions.
        sns.delete_topic(TopicArn=sns.create_topic(Name=topic)["TopicArn"])
        sns.create_topic(Name=topic)
    for table in wanted.get("tables", []):
        with contextlib.suppress(dynamodb.exceptions.ResourceNotFoundException):
            dynamodb.delete_table(TableName=table["name"])
            dynamodb.get_waiter("table_not_exists").wait(TableName=table["name"])
        dynamodb.create_table(
            TableName=table["name"],
            KeySchema=[{"AttributeName": table["key"], "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": table["key"], "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": table["stream"]},
        )
        dynamodb.get_waiter("table_exists").wait(TableName=table["name"])


def _recreate_bucket(s3: Any, bucket: str) -> None:
    with contextlib.suppress(s3.exceptions.NoSuchBucket):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                s3.delete_object(Bucket=bucket, Key=item["Key"])
        s3.delete_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=bucket)


def _recreate_stream(kinesis: Any, name: str, shards: int) -> None:
    # Deleting only a stream that exists: LocalStack's kinesis-mock, asked to delete a missing
    # stream, deletes the stream of that name created in the next half second.
    if _stream_status(kinesis, name) is not None:
        kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
    poll(
        lambda: _stream_status(kinesis, name) is None,
        timeout=60,
        interval=0.2,
        what=f"stream {name} deleted",
    )
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    # Creating is asynchronous (LocalStack's stream is not even listed at first).
    poll(
        lambda: _stream_status(kinesis, name) == "ACTIVE",
        timeout=60,
        interval=0.2,
        what=f"stream {name} active",
    )


def _stream_status(kinesis: Any, name: str) -> str | None:
    try:
        summary = kinesis.describe_stream_summary(StreamName=name)
    except kinesis.exceptions.ResourceNotFoundException:
        return None
    return str(summary["StreamDescriptionSummary"]["StreamStatus"])


def _create_queue(sqs: Any, name: str, attributes: dict[str, str]) -> bool:
    try:
        sqs.create_queue(QueueName=name, Attributes=attributes)
    except sqs.exceptions.QueueDeletedRecently:
        return False
    return True


@dataclass
class Deployment:
    """A fixture app running on a backend, seen through the AWS APIs."""

    app: str
    project: Path
    aws: Clients
    fire: Callable[[str], None]
    # How long an asynchronous retry (SNS -> function, schedule) may take on this backend.
    async_retry_seconds: float = 10.0
    # The app's REST API, deployed on first use: its base URL (with the stage where the
    # backend's URLs carry it).
    start_api: Callable[[], str] | None = None
    # Why the backend refused a function's event source mapping (function name -> reason).
    refusals: Callable[[], dict[str, str]] = dict
    # An API key that the app's REST API accepts.
    make_api_key: Callable[[], str] | None = None
    # The app's WebSocket API URL, or None where the backend has no WebSocket APIs.
    websocket_url: str | None = None
    app_name: str = ""
    stage: str = "dev"
    _urls: dict[str, str] = field(default_factory=dict)
    _api_url: str | None = None

    @property
    def api_url(self) -> str:
        if self._api_url is None:
            assert self.start_api is not None, f"{self.app} has no REST API here"
            self._api_url = self.start_api()
        return self._api_url

    def function_name(self, name: str) -> str:
        """The deployed name of the app's function ``name``, as Chalice names it."""
        return f"{self.app_name}-{self.stage}-{name}"

    def api_key(self) -> str:
        assert self.make_api_key is not None
        return self.make_api_key()

    def queue_url(self, name: str) -> str:
        if name not in self._urls:
            self._urls[name] = self.aws("sqs").get_queue_url(QueueName=name)["QueueUrl"]
        return self._urls[name]

    def send(self, queue: str, *bodies: str, **extra: Any) -> list[str]:
        """Sends ``bodies`` (batches of ten); returns their message ids in order."""
        ids: list[str] = []
        for start in range(0, len(bodies), 10):
            chunk = bodies[start : start + 10]
            entries = [
                {"Id": str(index), "MessageBody": body, **_entry_extra(extra, body)}
                for index, body in enumerate(chunk)
            ]
            response = self.aws("sqs").send_message_batch(
                QueueUrl=self.queue_url(queue), Entries=entries
            )
            assert not response.get("Failed"), response["Failed"]
            by_index = {int(item["Id"]): item["MessageId"] for item in response["Successful"]}
            ids += [by_index[index] for index in range(len(chunk))]
        return ids

    def depth(self, queue: str) -> int:
        """Messages still in ``queue``: visible, in flight or delayed."""
        attributes = self.aws("sqs").get_queue_attributes(
            QueueUrl=self.queue_url(queue),
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    def drain(self, queue: str) -> list[dict[str, Any]]:
        """Receives (and deletes) every visible message of ``queue``."""
        messages: list[dict[str, Any]] = []
        sqs = self.aws("sqs")
        while True:
            batch = sqs.receive_message(
                QueueUrl=self.queue_url(queue),
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                return messages
            messages += batch
            sqs.delete_message_batch(
                QueueUrl=self.queue_url(queue),
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(batch)
                ],
            )

    def observed(self, function: str) -> list[dict[str, Any]]:
        """What ``function`` recorded so far, oldest first."""
        items: list[dict[str, Any]] = []
        query: dict[str, Any] = {
            "TableName": OBSERVATIONS_TABLE,
            "KeyConditionExpression": "#f = :f",
            "ExpressionAttributeNames": {"#f": "function"},
            "ExpressionAttributeValues": {":f": {"S": function}},
            "ConsistentRead": True,
        }
        while True:
            page = self.aws("dynamodb").query(**query)
            items += [json.loads(item["facts"]["S"]) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return items
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def await_observed(
        self,
        function: str,
        done: Callable[[list[dict[str, Any]]], bool],
        *,
        timeout: float = 30.0,
        what: str | None = None,
    ) -> list[dict[str, Any]]:
        """Polls ``function``'s observations until ``done`` holds for them; returns them."""

        def check() -> list[dict[str, Any]] | None:
            items = self.observed(function)
            return items if done(items) else None

        return poll(check, timeout=timeout, interval=0.1, what=what or f"{function} observations")


def _entry_extra(extra: dict[str, Any], body: str) -> dict[str, Any]:
    """Per-entry SendMessageBatch fields: a callable value is called with the body."""
    return {key: value(body) if callable(value) else value for key, value in extra.items()}


class Backend(Protocol):
    name: str

    def deploy(self, app: str) -> Deployment: ...

    def close(self) -> None: ...


def app_name_of(project: Path) -> str:
    config = project / ".chalice" / "config.json"
    return str(json.loads(config.read_text())["app_name"]) if config.exists() else project.name


def api_stage_of(project: Path, stage: str = "dev") -> str:
    """The API Gateway stage of ``stage`` in the project's config (Chalice's default: api)."""
    config = project / ".chalice" / "config.json"
    raw = json.loads(config.read_text()) if config.exists() else {}
    return str(
        raw.get("stages", {}).get(stage, {}).get("api_gateway_stage")
        or raw.get("api_gateway_stage")
        or "api"
    )


class EmulatorBackend:
    """The fixture apps on Tocsin's emulator (one trigger runner per app, and its gateway when
    a row calls the app's REST API) and a moto server."""

    name = "emulator"

    def __init__(self, endpoint: str, workdir: Path) -> None:
        self.endpoint = endpoint
        self.workdir = workdir
        self.aws = Clients(endpoint)
        self._runners: dict[str, tuple[subprocess.Popen[bytes], Deployment]] = {}
        self._processes: list[subprocess.Popen[bytes]] = []
        create_observations_table(self.aws)

    def deploy(self, app: str) -> Deployment:
        if app in self._runners:
            return self._runners[app][1]
        project = materialize(app, self.workdir)
        create_resources(self.aws, project)
        control_port, websocket_port = free_port(), free_port()
        functions = f"http://127.0.0.1:{control_port}"
        env = {
            **os.environ,
            **aws_env(self.endpoint),
            "AWS_ENDPOINT_URL_LAMBDA": functions,
            "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI": functions,
        }
        process = self._start_runner(project, env, control_port, websocket_port)
        stage = api_stage_of(project)
        deployment = Deployment(
            app=app,
            project=project,
            aws=Clients(
                self.endpoint,
                {"lambda": functions, "apigatewaymanagementapi": f"{functions}/{stage}"},
            ),
            fire=lambda function: _fire(control_port, function),
            async_retry_seconds=ASYNC_RETRY_SECONDS,
            start_api=lambda: self._start_gateway(project, env),
            refusals=lambda: _refusals(control_port),
            make_api_key=lambda: _moto_api_key(self.aws),
            websocket_url=f"ws://127.0.0.1:{websocket_port}/{stage}",
            app_name=app_name_of(project),
        )
        self._runners[app] = (process, deployment)
        return deployment

    def _start_gateway(self, project: Path, env: dict[str, str]) -> str:
        port = free_port()
        log = (project.parent / f"{project.name}.gateway.log").open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tocsin_local.emulator.gateway",
                "--project-dir",
                str(project),
                "--stage",
                "dev",
                "--port",
                str(port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._processes.append(process)
        url = f"http://127.0.0.1:{port}"

        def listening() -> bool:
            if process.poll() is not None:
                raise AssertionError(
                    f"the gateway exited:\n{(project.parent / f'{project.name}.gateway.log').read_text()}"
                )
            return not port_free(port)

        poll(listening, timeout=60, what=f"the gateway of {project.name}")
        return url

    def _start_runner(
        self, project: Path, env: dict[str, str], control_port: int, websocket_port: int
    ) -> subprocess.Popen[bytes]:
        state = project.parent / f"{project.name}.runner.json"
        state.unlink(missing_ok=True)
        log = (project.parent / f"{project.name}.runner.log").open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tocsin_local.emulator.runner",
                "--project-dir",
                str(project),
                "--stage",
                "dev",
                "--state-file",
                str(state),
                "--control-port",
                str(control_port),
                "--websocket-port",
                str(websocket_port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(
                    f"the runner exited:\n{(project.parent / f'{project.name}.runner.log').read_text()}"
                )
            return state.exists()

        poll(ready, timeout=60, what=f"the runner of {project.name}")
        return process

    def close(self) -> None:
        for process in self._processes:
            stop_process_group(process)
        for process, _ in self._runners.values():
            stop_process_group(process)
        self._runners.clear()


def _refusals(control_port: int) -> dict[str, str]:
    """The runner's refused event sources, by function name."""
    with urllib.request.urlopen(f"http://127.0.0.1:{control_port}/status", timeout=10) as reply:
        refused: dict[str, str] = json.loads(reply.read())["refused"]
    return {key.split(":", 1)[1]: reason for key, reason in refused.items()}


def _moto_api_key(aws: Clients) -> str:
    value = f"key-{uuid.uuid4().hex}"
    aws("apigateway").create_api_key(name=value, value=value, enabled=True)
    return value


def _fire(control_port: int, function: str) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{control_port}/functions/{function}/fire", method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202


def stop_process_group(process: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """SIGTERM to the process, SIGKILL to its whole group if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)
