"""``make deploy`` and ``make destroy``: Tocsin into a cloud with CloudFormation.

    python -m infra.deploy deploy --stage prod [--endpoint-url URL] [--front-door http|rest|url]
    python -m infra.deploy destroy --stage prod [--endpoint-url URL]

A deploy builds the code zip (``chalice package``), writes the template of the stage
(``infra.template``, from ``infra.resources``' definition and the Chalice app), uploads both to
an artifacts bucket (the ``tocsin-deploy-artifacts`` stack's, created on first use, or
``--bucket``), refuses a change that would replace or orphan a table (``infra.upgrade``),
creates or updates the stack ``tocsin-STAGE`` and waits for it, waits for ``/health`` to answer,
mints a first API key with ``tocsin keys create`` against the deployed table, and writes what a
client needs to ``.tocsin/deployed-STAGE.json`` (``0600``). A later deploy of the same stack
keeps that key.

Without ``--endpoint-url`` every call goes to AWS through the usual credentials chain and
region. With it (LocalStack), every call goes there; the front door defaults to the REST API
(LocalStack's free edition has no HTTP APIs) and the API is reached through LocalStack's
path-style URL (``/restapis/ID/STAGE/_user_request_``), which needs no DNS.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.exceptions import ClientError, WaiterError

from chalicelib.settings import Stage
from infra.resources import PROJECT_DIR, chalice_config, definition, stage_settings
from infra.template import (
    API_HANDLER,
    API_HANDLER_ID,
    DEFAULT_FRONT_DOOR,
    EMAIL_IDENTITY_PARAMETER,
    FRONT_DOOR_PARAMETER,
    FRONT_DOORS,
    REST_API_ID,
    build_template,
)
from infra.upgrade import refusals
from tocsin_local.stack import tocsin_command, write_private

Json = dict[str, Any]

ARTIFACTS_STACK = "tocsin-deploy-artifacts"
WAIT_SECONDS = 3600
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
}
# What a failed creation leaves behind: such a stack is deleted before it is created again.
FAILED_CREATION = {"CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED"}
ARTIFACTS_TEMPLATE: Json = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Description": "Tocsin's deploy artifacts (code zips and templates), shared by its stages",
    "Resources": {
        "Bucket": {
            "Type": "AWS::S3::Bucket",
            # Kept when the stack goes: a stage's stack may still name a zip in it.
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "VersioningConfiguration": {"Status": "Enabled"},
            },
        }
    },
    "Outputs": {"BucketName": {"Value": {"Ref": "Bucket"}}},
}


def say(message: str) -> None:
    print(f"[deploy] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Cloud:
    """Where a deploy goes: AWS (endpoint ``None``) or an emulator such as LocalStack."""

    endpoint_url: str | None
    session: boto3.session.Session

    @classmethod
    def connect(cls, endpoint_url: str | None) -> Cloud:
        if endpoint_url is None:
            session = boto3.session.Session()
            if not session.region_name:
                raise SystemExit("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION)")
            return cls(None, session)
        environment = {**LOCAL_CREDENTIALS, **os.environ}
        return cls(
            endpoint_url.rstrip("/"),
            boto3.session.Session(
                aws_access_key_id=environment["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=environment["AWS_SECRET_ACCESS_KEY"],
                region_name=os.environ.get("AWS_REGION")
                or os.environ.get("AWS_DEFAULT_REGION")
                or "us-east-1",
            ),
        )

    @property
    def region(self) -> str:
        return str(self.session.region_name)

    def client(self, service: str) -> Any:
        if self.endpoint_url:
            return self.session.client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]
        return self.session.client(service)  # type: ignore[call-overload]

    def env(self) -> dict[str, str]:
        """The environment of a child process (``tocsin``, ``chalice``) that talks to it."""
        env = {**os.environ, "AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region}
        if self.endpoint_url:
            env = {**LOCAL_CREDENTIALS, **env, "AWS_ENDPOINT_URL": self.endpoint_url}
        else:
            env.pop("AWS_ENDPOINT_URL", None)
        return env

    def object_url(self, bucket: str, key: str) -> str:
        if self.endpoint_url:
            return f"{self.endpoint_url}/{bucket}/{key}"
        return f"https://{bucket}.s3.{self.region}.amazonaws.com/{key}"


def stack_name(stage: Stage) -> str:
    return f"tocsin-{stage.value}"


def state_file(stage: Stage, project_dir: Path) -> Path:
    return project_dir / ".tocsin" / f"deployed-{stage.value}.json"


# --- stacks -----------------------------------------------------------------------------------
def describe(cloudformation: Any, name: str) -> Json | None:
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    stack: Json = stacks[0]
    return None if stack["StackStatus"] == "DELETE_COMPLETE" else stack


def outputs_of(stack: Json) -> dict[str, str]:
    return {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}


def _failures(cloudformation: Any, name: str) -> str:
    events = cloudformation.describe_stack_events(StackName=name)["StackEvents"]
    failed = [
        f"  {event['LogicalResourceId']}: {event.get('ResourceStatusReason', '')}"
        for event in events
        if event["ResourceStatus"].endswith("FAILED")
    ]
    return "\n".join(reversed(failed[:20])) or "  (no failed resource reported)"


def _wait(cloudformation: Any, waiter: str, name: str) -> None:
    delay = 2
    try:
        cloudformation.get_waiter(waiter).wait(
            StackName=name,
            WaiterConfig={"Delay": delay, "MaxAttempts": WAIT_SECONDS // delay},
        )
    except WaiterError as error:
        raise SystemExit(
            f"stack {name}: {waiter} failed ({error}):\n{_failures(cloudformation, name)}"
        ) from None


def apply_stack(
    cloudformation: Any,
    name: str,
    *,
    template_url: str,
    parameters: dict[str, str],
    capabilities: list[str],
) -> tuple[Json, bool]:
    """Creates or updates the stack and waits; returns it and whether it was created now."""
    existing = describe(cloudformation, name)
    if existing is not None and existing["StackStatus"] in FAILED_CREATION:
        say(f"stack {name} is {existing['StackStatus']} (a failed creation): deleting it first")
        cloudformation.delete_stack(StackName=name)
        _wait(cloudformation, "stack_delete_complete", name)
        existing = None
    arguments = {
        "StackName": name,
        "TemplateURL": template_url,
        "Parameters": [
            {"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()
        ],
        "Capabilities": capabilities,
    }
    if existing is None:
        say(f"creating stack {name}")
        cloudformation.create_stack(**arguments, Tags=[{"Key": "app", "Value": "tocsin"}])
        _wait(cloudformation, "stack_create_complete", name)
        created = True
    else:
        say(f"updating stack {name}")
        try:
            cloudformation.update_stack(**arguments)
        except ClientError as error:
            if "No updates are to be performed" not in str(error):
                raise
            say("nothing to update")
        else:
            _wait(cloudformation, "stack_update_complete", name)
        created = False
    stack = describe(cloudformation, name)
    assert stack is not None
    return stack, created


def deployed_template(cloudformation: Any, name: str) -> Json:
    body = cloudformation.get_template(StackName=name, TemplateStage="Original")["TemplateBody"]
    return body if isinstance(body, dict) else dict(json.loads(body))


# --- artifacts --------------------------------------------------------------------------------
def artifacts_bucket(cloud: Cloud, given: str | None) -> str:
    if given:
        return given
    cloudformation = cloud.client("cloudformation")
    stack = describe(cloudformation, ARTIFACTS_STACK)
    if stack is None or stack["StackStatus"] in FAILED_CREATION:
        stack = _create_artifacts_stack(cloudformation, stack)
    return outputs_of(stack)["BucketName"]


def _create_artifacts_stack(cloudformation: Any, failed: Json | None) -> Json:
    if failed is not None:
        cloudformation.delete_stack(StackName=ARTIFACTS_STACK)
        _wait(cloudformation, "stack_delete_complete", ARTIFACTS_STACK)
    say(f"creating stack {ARTIFACTS_STACK} (the artifacts bucket, shared by every stage)")
    # Small enough to pass by body (CloudFormation takes up to 51,200 bytes that way).
    cloudformation.create_stack(
        StackName=ARTIFACTS_STACK,
        TemplateBody=json.dumps(ARTIFACTS_TEMPLATE),
        Tags=[{"Key": "app", "Value": "tocsin"}],
    )
    _wait(cloudformation, "stack_create_complete", ARTIFACTS_STACK)
    stack = describe(cloudformation, ARTIFACTS_STACK)
    assert stack is not None
    return stack


def upload(cloud: Cloud, bucket: str, key: str, body: bytes) -> str:
    s3 = cloud.client("s3")
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    return key


def package(stage: Stage, project_dir: Path, out: Path, cloud: Cloud) -> bytes:
    """The code zip ``chalice package`` builds (Linux wheels for requirements.txt)."""
    chalice = Path(sys.executable).parent / "chalice"
    say(f"chalice package --stage {stage.value} (code zip)")
    completed = subprocess.run(
        [str(chalice), "package", "--stage", stage.value, str(out)],
        cwd=project_dir,
        env=cloud.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"chalice package failed:\n{completed.stdout}\n{completed.stderr}")
    return (out / "deployment.zip").read_bytes()


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


# --- the REST API on an emulator -------------------------------------------------------------
# LocalStack's free edition cannot update a REST API, its deployment or its stage through
# CloudFormation (its resource providers raise NotImplementedError; a new deployment's stage
# update fails and its rollback deletes the stage). Against an ENDPOINT, a deploy over a stack
# keeps those resources as they are deployed and applies the new routes itself, as
# CloudFormation does on AWS: PutRestApi (overwrite) with the template's body, then a
# deployment of the stage.
def keep_rest_deployment(deployed: Json, template: Json) -> bool:
    """Gives ``template`` the deployed REST API deployment; True when there is one."""
    kind = "AWS::ApiGateway::Deployment"
    old = [key for key, item in deployed["Resources"].items() if item["Type"] == kind]
    new = [key for key, item in template["Resources"].items() if item["Type"] == kind]
    if len(old) != 1 or len(new) != 1:
        return False
    resources = template["Resources"]
    resources.pop(new[0])
    resources[old[0]] = deployed["Resources"][old[0]]
    for resource in resources.values():
        if resource["Type"] == "AWS::ApiGateway::Stage":
            resource["Properties"]["DeploymentId"] = {"Ref": old[0]}
    return True


def _resolved(node: Any, values: dict[str, str]) -> Any:
    """``Fn::Sub`` strings of the API body with the stack's values put in."""
    if isinstance(node, dict):
        if set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
            text = node["Fn::Sub"]
            for key, value in values.items():
                text = text.replace("${" + key + "}", value)
            if "${" in text:
                raise SystemExit(f"cannot resolve {node['Fn::Sub']} for the emulator")
            return text
        return {key: _resolved(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolved(item, values) for item in node]
    return node


def apply_routes(cloud: Cloud, stage: Stage, stack: Json, template: Json) -> None:
    resources = {
        item["LogicalResourceId"]: item["PhysicalResourceId"]
        for item in cloud.client("cloudformation").describe_stack_resources(
            StackName=stack["StackId"]
        )["StackResources"]
    }
    function = cloud.client("lambda").get_function(FunctionName=resources[API_HANDLER_ID])
    values = {
        "AWS::Partition": "aws",
        "AWS::Region": cloud.region,
        "AWS::AccountId": stack["StackId"].split(":")[4],
        f"{API_HANDLER_ID}.Arn": function["Configuration"]["FunctionArn"],
    }
    body = _resolved(template["Resources"][REST_API_ID]["Properties"]["Body"], values)
    apigateway = cloud.client("apigateway")
    rest_api = resources[REST_API_ID]
    say("applying the REST API's routes (LocalStack cannot update them through CloudFormation)")
    apigateway.put_rest_api(restApiId=rest_api, mode="overwrite", body=json.dumps(body).encode())
    apigateway.create_deployment(
        restApiId=rest_api, stageName=chalice_config(stage, API_HANDLER).api_gateway_stage
    )


# --- the API ----------------------------------------------------------------------------------
def api_url(cloud: Cloud, stage: Stage, stack: Json, front_door: str) -> str:
    outputs = outputs_of(stack)
    if cloud.endpoint_url and front_door == "rest":
        # LocalStack's path-style URL needs no DNS. (LocalStack may drop conditional outputs
        # on an update, so the API's id comes from the stack's resources.)
        resources = cloud.client("cloudformation").describe_stack_resources(
            StackName=stack["StackId"], LogicalResourceId=REST_API_ID
        )["StackResources"]
        rest_api = resources[0]["PhysicalResourceId"]
        api_stage = chalice_config(stage, API_HANDLER).api_gateway_stage
        return f"{cloud.endpoint_url}/restapis/{rest_api}/{api_stage}/_user_request_"
    return outputs["ApiUrl"].rstrip("/")


def wait_healthy(url: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = requests.get(f"{url}/health", timeout=30)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except requests.RequestException as error:
            last = str(error)
        time.sleep(1)
    raise SystemExit(f"{url}/health did not answer 200 within {timeout:.0f} s (last: {last})")


def mint_key(cloud: Cloud, stage: Stage, tenant: str, workdir: Path) -> Json:
    """``tocsin keys create`` against the deployed table."""
    settings = stage_settings(stage)
    env = {**cloud.env(), "TOCSIN_TABLE_NAME": settings.table_name, "TOCSIN_STAGE": stage.value}
    completed = subprocess.run(
        [*tocsin_command(), "keys", "create", "--tenant", tenant],
        # Not the project folder: there .tocsin/local.json would point the CLI at `make run`.
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"tocsin keys create failed:\n{completed.stdout}\n{completed.stderr}")
    issued: Json = json.loads(completed.stdout.strip().splitlines()[-1])
    return issued


# --- commands ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeployOptions:
    stage: Stage
    endpoint_url: str | None
    front_door: str | None
    bucket: str | None
    tenant: str
    project_dir: Path
    allow_replacement: bool
    manage_email_identities: bool | None


def deploy(options: DeployOptions) -> Json:
    cloud = Cloud.connect(options.endpoint_url)
    stage, project_dir = options.stage, options.project_dir
    front_door = options.front_door or ("rest" if cloud.endpoint_url else DEFAULT_FRONT_DOOR)
    if front_door != (options.front_door or DEFAULT_FRONT_DOOR):
        say("front door: rest (LocalStack's free edition serves REST APIs only)")
    build = project_dir / "build" / f"deploy-{stage.value}"
    build.mkdir(parents=True, exist_ok=True)
    code = package(stage, project_dir, build / "chalice", cloud)
    say(f"code zip {len(code) / 1e6:.2f} MB")
    template = build_template(stage, project_dir)
    cloudformation = cloud.client("cloudformation")
    name = stack_name(stage)
    existing = describe(cloudformation, name)
    if existing is not None and existing["StackStatus"] in FAILED_CREATION:
        say(f"stack {name} is {existing['StackStatus']} (a failed creation): deleting it first")
        cloudformation.delete_stack(StackName=name)
        _wait(cloudformation, "stack_delete_complete", name)
        existing = None
    routes_by_hand = False
    if existing is None:
        clear_empty_tables(cloud, stage, name)
    else:
        current = deployed_template(cloudformation, name)
        problems = refusals(current, template)
        if problems and not options.allow_replacement:
            raise SystemExit(
                "refusing to deploy: this change could lose or orphan data\n  "
                + "\n  ".join(problems)
                + "\n(ALLOW_REPLACEMENT=1 deploys it anyway)"
            )
        routes_by_hand = bool(cloud.endpoint_url) and keep_rest_deployment(current, template)
    template_text = json.dumps(template, indent=1, sort_keys=True)
    (build / "template.json").write_text(template_text)
    bucket = artifacts_bucket(cloud, options.bucket)
    prefix = f"tocsin/{stage.value}"
    code_key = upload(cloud, bucket, f"{prefix}/code-{digest(code)}.zip", code)
    template_key = upload(
        cloud,
        bucket,
        f"{prefix}/template-{digest(template_text.encode())}.json",
        template_text.encode(),
    )
    manage_email = options.manage_email_identities
    if manage_email is None:
        # LocalStack's free edition has no SES identity resource; verify by hand there.
        manage_email = cloud.endpoint_url is None
    stack, created = apply_stack(
        cloudformation,
        name,
        template_url=cloud.object_url(bucket, template_key),
        parameters={
            "CodeBucket": bucket,
            "CodeKey": code_key,
            FRONT_DOOR_PARAMETER: front_door,
            EMAIL_IDENTITY_PARAMETER: "true" if manage_email else "false",
        },
        capabilities=["CAPABILITY_IAM"],
    )
    if routes_by_hand and front_door == "rest":
        apply_routes(cloud, stage, stack, template)
    url = api_url(cloud, stage, stack, front_door)
    say(f"waiting for {url}/health")
    wait_healthy(url)
    path = state_file(stage, project_dir)
    previous: Json = {}
    with contextlib.suppress(FileNotFoundError, ValueError):
        previous = json.loads(path.read_text())
    if created or previous.get("stack_id") != stack["StackId"] or not previous.get("api_key"):
        issued = mint_key(cloud, stage, options.tenant, build)
        say(f"minted an API key for tenant {issued['tenant']}")
    else:
        issued = {key: previous[key] for key in ("tenant", "api_key", "webhook_secret")}
        say(f"kept the API key of {path}")
    deployed: Json = {
        "stage": stage.value,
        "stack": name,
        "stack_id": stack["StackId"],
        "region": cloud.region,
        "aws_endpoint_url": cloud.endpoint_url,
        "front_door": front_door,
        "api_url": url,
        "table": stage_settings(stage).table_name,
        "api_function": stack_function(stack),
        **issued,
    }
    write_private(path, json.dumps(deployed, indent=2) + "\n")
    print(
        f"\nTocsin {stage.value} is deployed (stack {name}, {front_door} front door).\n"
        f"  API:            {url}\n"
        f"  API key:        {issued['api_key']}\n"
        f"  Webhook secret: {issued['webhook_secret']}\n"
        f"  Written to:     {path}\n",
        flush=True,
    )
    return deployed


def clear_empty_tables(cloud: Cloud, stage: Stage, name: str) -> None:
    """Before a stack is created: the stage's tables must not exist. An empty one (a failed
    first deploy's, kept by its Retain policy) is deleted; one that holds data is refused."""
    dynamodb = cloud.client("dynamodb")
    for table in definition(stage).tables:
        try:
            dynamodb.describe_table(TableName=table.name)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            continue
        if dynamodb.scan(TableName=table.name, Limit=1, Select="COUNT")["ScannedCount"]:
            raise SystemExit(
                f"refusing to create stack {name}: table {table.name} already exists with data "
                "(kept by an earlier destroy?), and CloudFormation cannot create it again. "
                "Delete it once its data is no longer needed, or import it into a stack by hand."
            )
        say(f"deleting the empty table {table.name} that a failed deploy left behind")
        dynamodb.delete_table(TableName=table.name)
        dynamodb.get_waiter("table_not_exists").wait(
            TableName=table.name, WaiterConfig={"Delay": 1, "MaxAttempts": 300}
        )


def stack_function(stack: Json) -> str | None:
    outputs = outputs_of(stack)
    return outputs.get("APIHandlerName")


def destroy(stage: Stage, endpoint_url: str | None, project_dir: Path) -> list[str]:
    """Deletes the stack; returns what it leaves behind (retained resources)."""
    cloud = Cloud.connect(endpoint_url)
    cloudformation = cloud.client("cloudformation")
    name = stack_name(stage)
    if describe(cloudformation, name) is None:
        say(f"no stack {name}")
        return []
    resources = deployed_template(cloudformation, name)["Resources"]
    retained_or_not = {logical_id: resource["Type"] for logical_id, resource in resources.items()}
    retained = {
        logical_id: resource["Type"]
        for logical_id, resource in resources.items()
        if resource.get("DeletionPolicy") == "Retain"
    }
    physical = {
        item["LogicalResourceId"]: item.get("PhysicalResourceId", "")
        for item in cloudformation.describe_stack_resources(StackName=name)["StackResources"]
    }
    # Schedules first: a run that starts while its function and log group are being deleted
    # can leave them behind (LocalStack recreates the log group, and the next create fails).
    events = cloud.client("events")
    for logical_id, kind in retained_or_not.items():
        if kind == "AWS::Events::Rule" and physical.get(logical_id):
            with contextlib.suppress(ClientError):
                events.disable_rule(Name=physical[logical_id])
    say(f"deleting stack {name}")
    cloudformation.delete_stack(StackName=name)
    _wait(cloudformation, "stack_delete_complete", name)
    with contextlib.suppress(FileNotFoundError):
        state_file(stage, project_dir).unlink()
    kept = [
        f"{kind} {physical[logical_id]}"
        for logical_id, kind in sorted(retained.items())
        if physical.get(logical_id)
    ]
    print(f"\nStack {name} is deleted.", flush=True)
    if kept:
        print("Kept (DeletionPolicy Retain), with their data:")
        for item in kept:
            print(f"  {item}")
        print(
            "A new deploy of this stage cannot create a table under a kept name: delete it "
            "first (aws dynamodb delete-table --table-name NAME) once its data is no longer "
            "needed, or import it into the new stack."
        )
    print(
        f"The artifacts bucket (stack {ARTIFACTS_STACK}) stays for other stages; delete that "
        "stack and empty the bucket when no stage is left.",
        flush=True,
    )
    return kept


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m infra.deploy", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for command in ("deploy", "destroy"):
        sub = commands.add_parser(command)
        sub.add_argument("--stage", choices=[stage.value for stage in Stage], required=True)
        sub.add_argument("--endpoint-url", help="an emulator (LocalStack); default: AWS")
        sub.add_argument("--project-dir", type=Path, default=PROJECT_DIR)
        if command == "deploy":
            sub.add_argument("--front-door", choices=FRONT_DOORS)
            sub.add_argument("--bucket", help="artifacts bucket (default: a stack of its own)")
            sub.add_argument("--tenant", default="default", help="tenant of the first API key")
            sub.add_argument("--allow-replacement", action="store_true")
            sub.add_argument(
                "--manage-email-identities",
                choices=["true", "false"],
                help="create the SES sender identities (default: true on AWS, false elsewhere)",
            )
    args = parser.parse_args(argv)
    stage = Stage(args.stage)
    endpoint = args.endpoint_url or None
    if args.command == "destroy":
        destroy(stage, endpoint, args.project_dir.resolve())
        return
    deploy(
        DeployOptions(
            stage=stage,
            endpoint_url=endpoint,
            front_door=args.front_door,
            bucket=args.bucket,
            tenant=args.tenant,
            project_dir=args.project_dir.resolve(),
            allow_replacement=args.allow_replacement,
            manage_email_identities=None
            if args.manage_email_identities is None
            else args.manage_email_identities == "true",
        )
    )


if __name__ == "__main__":
    main()
