"""The fixture apps deployed to LocalStack as Lambda functions, triggered by LocalStack's own
event source mappings, SNS subscriptions and EventBridge rules.

What a deploy does is what a Chalice deploy plus the project's infrastructure would do: the
project is described (its functions, their configuration and event sources, read as the
emulator reads them), zipped as ``chalice package`` bundles it (app.py, chalicelib/, and
Chalice's runtime module ``chalice/app.py``), every function is created under the name Chalice
gives it, and every event source is wired with the settings Tocsin's deploy template uses
(``ReportBatchItemFailures`` unless the function turns it off in ``.chalice/config.json``, the
SNS filter policy and scope from there too); S3 buckets and EventBridge rules as Chalice wires
them. The REST API, when a row calls it, is the Swagger document Chalice generates, imported
into LocalStack's API Gateway and deployed to the app's ``api_gateway_stage``. WebSocket APIs
are not deployed: LocalStack's free edition has none.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import chalice
import chalice.app
from botocore.exceptions import ClientError

from tests.emulator.backend import (
    REGION,
    Clients,
    Deployment,
    api_stage_of,
    app_name_of,
    aws_env,
    create_observations_table,
    create_resources,
    materialize,
)
from tests.harness import poll
from tocsin_local.emulator.events import scheduled_event
from tocsin_local.emulator.project import (
    EventSource,
    FunctionConfig,
    describe_in_child,
    run_in_child,
)
from tocsin_local.emulator.streams import table_of

STAGE = "dev"
RUNTIME = "python3.12"
# LocalStack does not check IAM by default; a role ARN is still required.
ROLE = "arn:aws:iam::000000000000:role/conformance-lambda"


def bundle(project: Path) -> bytes:
    """The deployment package, as ``chalice package`` lays it out."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(Path(chalice.app.__file__), "chalice/app.py")
        archive.write(Path(chalice.__file__), "chalice/__init__.py")
        archive.write(project / "app.py", "app.py")
        for path in sorted((project / "chalicelib").rglob("*.py")):
            archive.write(path, str(path.relative_to(project)))
    return buffer.getvalue()


class LocalStackBackend:
    name = "localstack"

    def __init__(self, endpoint: str, workdir: Path, *, async_retry_seconds: float) -> None:
        self.endpoint = endpoint
        self.workdir = workdir
        self.async_retry_seconds = async_retry_seconds
        self.aws = Clients(endpoint)
        self._deployed: dict[str, Deployment] = {}
        create_observations_table(self.aws)

    def deploy(self, app: str) -> Deployment:
        if app not in self._deployed:
            self._deployed[app] = self.deploy_project(materialize(app, self.workdir))
        return self._deployed[app]

    def deploy_project(self, project: Path) -> Deployment:
        """Deploys the Chalice project in ``project`` (with its ``resources.json``)."""
        create_resources(self.aws, project)
        description = describe_in_child(project, STAGE, {**os.environ, **aws_env(self.endpoint)})
        code = bundle(project)
        arns: dict[str, str] = {}
        for function in description.functions:
            arns[function.name] = self._create_function(function, code)
        refused: dict[str, str] = {}
        mappings = []
        for source in description.sources:
            try:
                mapping = self._connect(source, arns[source.function.name])
            except ClientError as refusal:
                refused[source.function.name] = f"{refusal.response['Error']['Code']}: {refusal}"
                continue
            if mapping:
                mappings.append(mapping)
        for uuid in mappings:
            poll(
                lambda uuid=uuid: self._mapping_state(uuid) == "Enabled",  # type: ignore[misc]
                timeout=60,
                interval=0.2,
                what=f"event source mapping {uuid} enabled",
            )
        rest_api: dict[str, str] = {}
        return Deployment(
            app=project.name,
            project=project,
            aws=self.aws,
            fire=lambda function: self._fire(arns[function], function),
            async_retry_seconds=self.async_retry_seconds,
            start_api=lambda: self._deploy_api(project, arns, rest_api),
            refusals=lambda: refused,
            make_api_key=lambda: self._api_key(rest_api),
            websocket_url=None,
            app_name=app_name_of(project),
        )

    def close(self) -> None:
        self._deployed.clear()

    def _create_function(self, function: FunctionConfig, code: bytes) -> str:
        lam = self.aws("lambda")
        name = function.lambda_name
        with contextlib.suppress(lam.exceptions.ResourceNotFoundException):
            for mapping in lam.list_event_source_mappings(FunctionName=name).get(
                "EventSourceMappings", []
            ):
                lam.delete_event_source_mapping(UUID=mapping["UUID"])
            lam.delete_function(FunctionName=name)
        arn = str(
            lam.create_function(
                FunctionName=name,
                Runtime=RUNTIME,
                Role=ROLE,
                Handler=function.handler,
                Code={"ZipFile": code},
                Timeout=max(1, round(function.timeout)),
                MemorySize=function.memory_size or 128,
                Environment={"Variables": function.environment},
            )["FunctionArn"]
        )
        lam.get_waiter("function_active_v2").wait(FunctionName=name)
        return arn

    def _connect(self, source: EventSource, function_arn: str) -> str | None:
        """Wires ``source`` to the function; returns the event source mapping's id, if any."""
        if source.kind == "websocket":
            # LocalStack's free edition has no WebSocket APIs: the functions exist, unwired.
            return None
        connect: Callable[[EventSource, str], str | None] = {
            "sqs": self._connect_queue,
            "sns": self._connect_topic,
            "schedule": self._connect_schedule,
            "dynamodb": self._connect_stream,
            "kinesis": self._connect_kinesis,
            "s3": self._connect_bucket,
            "cloudwatch": self._connect_rule,
        }[source.kind]
        return connect(source, function_arn)

    def _connect_kinesis(self, source: EventSource, function_arn: str) -> str:
        params = source.params
        stream_arn = self.aws("kinesis").describe_stream_summary(StreamName=params["stream"])[
            "StreamDescriptionSummary"
        ]["StreamARN"]
        mapping: dict[str, Any] = {
            "FunctionName": function_arn,
            "EventSourceArn": stream_arn,
            "StartingPosition": params.get("starting_position") or "LATEST",
            "BatchSize": params["batch_size"],
        }
        if params.get("maximum_batching_window_in_seconds"):
            mapping["MaximumBatchingWindowInSeconds"] = params["maximum_batching_window_in_seconds"]
        return str(self.aws("lambda").create_event_source_mapping(**mapping)["UUID"])

    def _connect_bucket(self, source: EventSource, function_arn: str) -> None:
        """As ``chalice deploy`` does: permission for S3, then the bucket's configuration."""
        params = source.params
        self._allow(function_arn, "s3.amazonaws.com", f"arn:aws:s3:::{params['bucket']}")
        s3 = self.aws("s3")
        config = s3.get_bucket_notification_configuration(Bucket=params["bucket"])
        config.pop("ResponseMetadata", None)
        entry: dict[str, Any] = {"LambdaFunctionArn": function_arn, "Events": params["events"]}
        rules = [
            {"Name": name, "Value": params[name.lower()]}
            for name in ("Prefix", "Suffix")
            if params.get(name.lower())
        ]
        if rules:
            entry["Filter"] = {"Key": {"FilterRules": rules}}
        others = [
            item
            for item in config.get("LambdaFunctionConfigurations", [])
            if item["LambdaFunctionArn"] != function_arn
        ]
        config["LambdaFunctionConfigurations"] = [*others, entry]
        s3.put_bucket_notification_configuration(
            Bucket=params["bucket"], NotificationConfiguration=config
        )

    def _connect_rule(self, source: EventSource, function_arn: str) -> None:
        events = self.aws("events")
        rule = f"{function_arn.rsplit(':', 1)[-1]}-event"
        rule_arn = events.put_rule(
            Name=rule, EventPattern=json.dumps(source.params["event_pattern"])
        )["RuleArn"]
        self._allow(function_arn, "events.amazonaws.com", rule_arn)
        events.put_targets(Rule=rule, Targets=[{"Id": "1", "Arn": function_arn}])

    def _deploy_api(self, project: Path, arns: dict[str, str], rest_api: dict[str, str]) -> str:
        """The app's REST API as Chalice deploys it: its Swagger imported and deployed."""
        swagger = swagger_of(project, arns)
        apigateway = self.aws("apigateway")
        api_id = apigateway.import_rest_api(body=json.dumps(swagger).encode())["id"]
        for arn in arns.values():
            self._allow(
                arn, "apigateway.amazonaws.com", f"arn:aws:execute-api:{REGION}:*:{api_id}/*"
            )
        stage = api_stage_of(project)
        apigateway.create_deployment(restApiId=api_id, stageName=stage)
        rest_api.update({"id": api_id, "stage": stage})
        return f"{self.endpoint}/_aws/execute-api/{api_id}/{stage}"

    def _api_key(self, rest_api: dict[str, str]) -> str:
        """A key in a usage plan of the API's stage (API Gateway checks both)."""
        apigateway = self.aws("apigateway")
        value = f"key-{uuid4().hex}"
        key = apigateway.create_api_key(name=value, value=value, enabled=True)
        plan = apigateway.create_usage_plan(
            name=value, apiStages=[{"apiId": rest_api["id"], "stage": rest_api["stage"]}]
        )
        apigateway.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
        return value

    def _connect_queue(self, source: EventSource, function_arn: str) -> str:
        params = source.params
        url = self.aws("sqs").get_queue_url(QueueName=params["queue"])["QueueUrl"]
        attributes = self.aws("sqs").get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn", "FifoQueue"]
        )["Attributes"]
        mapping: dict[str, Any] = {
            "FunctionName": function_arn,
            "EventSourceArn": attributes["QueueArn"],
            "BatchSize": params["batch_size"],
        }
        if params.get("maximum_batching_window_in_seconds"):
            mapping["MaximumBatchingWindowInSeconds"] = params["maximum_batching_window_in_seconds"]
        if params.get("maximum_concurrency"):
            mapping["ScalingConfig"] = {"MaximumConcurrency": params["maximum_concurrency"]}
        if source.function.report_batch_item_failures:
            mapping["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
        return str(self.aws("lambda").create_event_source_mapping(**mapping)["UUID"])

    def _connect_topic(self, source: EventSource, function_arn: str) -> None:
        sns = self.aws("sns")
        topic = sns.create_topic(Name=source.params["topic"])["TopicArn"]
        attributes: dict[str, str] = {}
        if source.function.sns_filter_policy:
            attributes["FilterPolicy"] = json.dumps(source.function.sns_filter_policy)
            attributes["FilterPolicyScope"] = source.function.sns_filter_policy_scope
        self._allow(function_arn, "sns.amazonaws.com", topic)
        sns.subscribe(
            TopicArn=topic,
            Protocol="lambda",
            Endpoint=function_arn,
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )

    def _connect_schedule(self, source: EventSource, function_arn: str) -> None:
        events = self.aws("events")
        rule = rule_name(function_arn)
        with contextlib.suppress(events.exceptions.ResourceNotFoundException):
            events.remove_targets(Rule=rule, Ids=["function"])
            events.delete_rule(Name=rule)
        rule_arn = events.put_rule(Name=rule, ScheduleExpression=source.params["expression"])[
            "RuleArn"
        ]
        self._allow(function_arn, "events.amazonaws.com", rule_arn)
        events.put_targets(Rule=rule, Targets=[{"Id": "function", "Arn": function_arn}])

    def _connect_stream(self, source: EventSource, function_arn: str) -> str:
        table = table_of(source.params["stream_arn"])
        stream_arn = self.aws("dynamodb").describe_table(TableName=table)["Table"][
            "LatestStreamArn"
        ]
        # Writes made while the stream is still being enabled are lost (local-cloud.md).
        poll(
            lambda: (
                self.aws("dynamodbstreams").describe_stream(StreamArn=stream_arn)[
                    "StreamDescription"
                ]["StreamStatus"]
                == "ENABLED"
            ),
            timeout=30,
            what=f"the stream of {table} enabled",
        )
        mapping: dict[str, Any] = {
            "FunctionName": function_arn,
            "EventSourceArn": stream_arn,
            "StartingPosition": source.params.get("starting_position") or "LATEST",
            "BatchSize": source.params["batch_size"],
        }
        if source.params.get("maximum_batching_window_in_seconds"):
            mapping["MaximumBatchingWindowInSeconds"] = source.params[
                "maximum_batching_window_in_seconds"
            ]
        return str(self.aws("lambda").create_event_source_mapping(**mapping)["UUID"])

    def _allow(self, function_arn: str, principal: str, source_arn: str) -> None:
        self.aws("lambda").add_permission(
            FunctionName=function_arn,
            StatementId=f"{principal.split('.')[0]}-{abs(hash(source_arn))}",
            Action="lambda:InvokeFunction",
            Principal=principal,
            SourceArn=source_arn,
        )

    def _mapping_state(self, uuid: str) -> str:
        return str(self.aws("lambda").get_event_source_mapping(UUID=uuid)["State"])

    def _fire(self, function_arn: str, function: str) -> None:
        """What EventBridge does when the rule fires: an asynchronous invoke with the
        scheduled event (there is no 'fire now' API for a schedule rule)."""
        event = scheduled_event(rule_name(function_arn), REGION, "000000000000", datetime.now(UTC))
        self.aws("lambda").invoke(
            FunctionName=function_arn, InvocationType="Event", Payload=json.dumps(event).encode()
        )


def swagger_of(project: Path, arns: dict[str, str]) -> dict[str, Any]:
    """The Swagger document ``chalice deploy`` would import for ``project``, in a child
    interpreter (it imports the app), with LocalStack's function ARNs."""
    text = run_in_child("tests.localstack.swagger", project, STAGE, {**os.environ, **aws_env("")})
    swagger: dict[str, Any] = json.loads(text)
    # Authorizers written by hand name functions by ARN; point them at LocalStack's.
    by_name = {arn.rsplit(":", 1)[-1]: arn for arn in arns.values()}
    raw = json.dumps(swagger)
    for name, arn in by_name.items():
        raw = re.sub(rf"arn:aws:lambda:[^:\"]+:\d+:function:{re.escape(name)}(?=[/\"])", arn, raw)
    result: dict[str, Any] = json.loads(raw)
    return result


def rule_name(function_arn: str) -> str:
    return f"{function_arn.rsplit(':', 1)[-1]}-schedule"[:64]
