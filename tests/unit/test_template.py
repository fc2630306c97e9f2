"""The deploy template: cfn-lint clean, every resource of the single definition, every event
source of the app, partial batch responses on, least-privilege roles."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint

from chalicelib.models.common import Channel
from chalicelib.settings import Stage
from infra.chalice_app import ChaliceApp, read_in_child
from infra.resources import PROJECT_DIR, Definition, definition, stage_settings
from infra.template import (
    build_template,
    lambda_runtime,
    main,
    render_template,
    sqs_event_source_mapping,
)
from tocsin_local.emulator.project import FunctionConfig

Json = dict[str, Any]
DEPLOYED_STAGES = [Stage.PROD, Stage.DEV]
ALL_GATEWAY_METHODS = {"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}


@dataclass(frozen=True)
class Deployment:
    stage: Stage
    spec: Definition
    app: ChaliceApp
    template: Json

    @property
    def resources(self) -> Json:
        resources: Json = self.template["Resources"]
        return resources

    def of_type(self, kind: str) -> dict[str, Json]:
        return {key: value for key, value in self.resources.items() if value["Type"] == kind}

    def named(self, kind: str, name_property: str, name: str) -> tuple[str, Json]:
        matches = [
            (key, value)
            for key, value in self.of_type(kind).items()
            if value["Properties"].get(name_property) == name
        ]
        assert len(matches) == 1, f"{kind} {name}: {len(matches)} resources"
        return matches[0]

    def target(self, reference: Json) -> Json:
        """The resource a ``Ref`` or ``Fn::GetAtt [id, Arn]`` points at."""
        key = reference["Ref"] if "Ref" in reference else reference["Fn::GetAtt"][0]
        resource: Json = self.resources[key]
        return resource

    def function_of(self, handler: str) -> tuple[str, Json]:
        return self.named("AWS::Lambda::Function", "Handler", handler)

    def statements(self, role_id: str) -> list[Json]:
        role = self.resources[role_id]["Properties"]
        return [
            statement
            for policy in role["Policies"]
            for statement in policy["PolicyDocument"]["Statement"]
        ]


@pytest.fixture(scope="module")
def deployments() -> dict[Stage, Deployment]:
    built = {}
    for stage in DEPLOYED_STAGES:
        app = read_in_child(PROJECT_DIR, stage.value)
        spec = definition(stage)
        template = render_template(spec, app, lambda_runtime(PROJECT_DIR))
        built[stage] = Deployment(stage, spec, app, template)
    return built


@pytest.fixture(params=DEPLOYED_STAGES, ids=lambda stage: stage.value)
def deployment(request: pytest.FixtureRequest, deployments: dict[Stage, Deployment]) -> Deployment:
    chosen: Deployment = deployments[request.param]
    return chosen


def policy_documents(node: Any) -> Iterator[Json]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("PolicyDocument", "AssumeRolePolicyDocument"):
                yield value
            else:
                yield from policy_documents(value)
    elif isinstance(node, list):
        for item in node:
            yield from policy_documents(item)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_template_passes_cfn_lint_with_informational_checks(deployment: Deployment) -> None:
    matches = lint(
        json.dumps(deployment.template),
        config=ManualArgs(regions=["us-east-1", "eu-west-1"], include_checks=["I"]),
    )

    assert [str(match) for match in matches] == []


def test_every_table_has_its_keys_indexes_and_ttl(deployment: Deployment) -> None:
    for table in deployment.spec.tables:
        _, resource = deployment.named("AWS::DynamoDB::Table", "TableName", table.name)
        properties = resource["Properties"]

        assert properties["KeySchema"] == [
            {"AttributeName": table.partition_key, "KeyType": "HASH"},
            {"AttributeName": table.sort_key, "KeyType": "RANGE"},
        ]
        indexes = {index["IndexName"]: index for index in properties["GlobalSecondaryIndexes"]}
        assert set(indexes) == {index.name for index in table.indexes}
        for index in table.indexes:
            assert indexes[index.name]["KeySchema"][0]["AttributeName"] == index.partition_key
            assert indexes[index.name]["KeySchema"][1]["AttributeName"] == index.sort_key
            assert indexes[index.name]["Projection"] == {"ProjectionType": index.projection}
        assert properties["TimeToLiveSpecification"] == {
            "AttributeName": table.ttl_attribute,
            "Enabled": True,
        }


def test_every_queue_is_there_with_its_dead_letter_queue(deployment: Deployment) -> None:
    for queue in deployment.spec.queues:
        _, resource = deployment.named("AWS::SQS::Queue", "QueueName", queue.name)
        properties = resource["Properties"]

        assert properties["VisibilityTimeout"] == queue.visibility_timeout
        if queue.dead_letter_queue is None:
            assert "RedrivePolicy" not in properties
            continue
        redrive = properties["RedrivePolicy"]
        dead_letters = deployment.target(redrive["deadLetterTargetArn"])
        assert dead_letters["Properties"]["QueueName"] == queue.dead_letter_queue
        assert redrive["maxReceiveCount"] == queue.max_receive_count


def test_every_subscription_feeds_its_queue_from_its_topic(deployment: Deployment) -> None:
    subscriptions = deployment.of_type("AWS::SNS::Subscription")

    assert len(subscriptions) == len(deployment.spec.subscriptions) > 0
    for expected in deployment.spec.subscriptions:
        found = [
            properties
            for properties in (resource["Properties"] for resource in subscriptions.values())
            if deployment.target(properties["TopicArn"])["Properties"]["TopicName"]
            == expected.topic
            and deployment.target(properties["Endpoint"])["Properties"]["QueueName"]
            == expected.queue
        ]
        assert len(found) == 1
        assert found[0]["Protocol"] == "sqs"
        assert found[0]["RawMessageDelivery"] is expected.raw_message_delivery
        assert found[0]["FilterPolicy"] == expected.filter_policy


def test_a_subscribed_queue_lets_only_its_topic_send(deployment: Deployment) -> None:
    for subscription in deployment.spec.subscriptions:
        queue_id, _ = deployment.named("AWS::SQS::Queue", "QueueName", subscription.queue)
        topic_id, _ = deployment.named("AWS::SNS::Topic", "TopicName", subscription.topic)
        policies = [
            resource["Properties"]
            for resource in deployment.of_type("AWS::SQS::QueuePolicy").values()
            if {"Ref": queue_id} in resource["Properties"]["Queues"]
        ]

        assert len(policies) == 1
        [statement] = policies[0]["PolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
        assert statement["Action"] == "sqs:SendMessage"
        assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == [{"Ref": topic_id}]


def test_the_sender_address_is_an_ses_identity(deployment: Deployment) -> None:
    identities = [
        resource["Properties"]["EmailIdentity"]
        for resource in deployment.of_type("AWS::SES::EmailIdentity").values()
    ]

    assert identities == list(deployment.spec.email_identities)


def test_every_sqs_handler_is_mapped_to_its_queue_with_batch_item_failures(
    deployment: Deployment,
) -> None:
    sources = [source for source in deployment.app.project.sources if source.kind == "sqs"]
    mappings = deployment.of_type("AWS::Lambda::EventSourceMapping")

    assert len(mappings) == len(sources) > 0
    for source in sources:
        function_id, _ = deployment.function_of(source.function.handler)
        [mapping] = [
            resource["Properties"]
            for resource in mappings.values()
            if resource["Properties"]["FunctionName"] == {"Ref": function_id}
        ]
        queue = deployment.target(mapping["EventSourceArn"])["Properties"]
        assert queue["QueueName"] == source.params["queue"]
        assert mapping["BatchSize"] == source.params["batch_size"]
    for resource in mappings.values():
        assert resource["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_a_mapped_queue_stays_invisible_longer_than_its_function_runs(
    deployment: Deployment,
) -> None:
    for resource in deployment.of_type("AWS::Lambda::EventSourceMapping").values():
        mapping = resource["Properties"]
        queue = deployment.target(mapping["EventSourceArn"])["Properties"]
        function = deployment.target(mapping["FunctionName"])["Properties"]

        assert queue["VisibilityTimeout"] >= function["Timeout"]


def test_a_function_can_turn_batch_item_failures_off_in_its_config() -> None:
    params = {"batch_size": 5, "maximum_batching_window_in_seconds": 0}
    switched_off = FunctionConfig(
        name="drain",
        handler="app.drain",
        timeout=30,
        environment={},
        report_batch_item_failures=False,
    )
    default = FunctionConfig(name="drain", handler="app.drain", timeout=30, environment={})

    assert (
        "FunctionResponseTypes"
        not in (sqs_event_source_mapping(switched_off, "jobs", params)["Properties"])
    )
    assert sqs_event_source_mapping(default, "jobs", params)["Properties"][
        "FunctionResponseTypes"
    ] == ["ReportBatchItemFailures"]


def test_every_schedule_is_an_eventbridge_rule_allowed_to_invoke_its_function(
    deployment: Deployment,
) -> None:
    schedules = [source for source in deployment.app.project.sources if source.kind == "schedule"]

    assert schedules
    for source in schedules:
        function_id, _ = deployment.function_of(source.function.handler)
        [(rule_id, rule)] = [
            (key, resource)
            for key, resource in deployment.of_type("AWS::Events::Rule").items()
            if resource["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
        ]
        assert rule["Properties"]["ScheduleExpression"] == source.params["expression"]
        assert rule["Properties"]["State"] == "ENABLED"
        permissions = [
            resource["Properties"]
            for resource in deployment.of_type("AWS::Lambda::Permission").values()
            if resource["Properties"].get("SourceArn") == {"Fn::GetAtt": [rule_id, "Arn"]}
        ]
        assert permissions == [
            {
                "Action": "lambda:InvokeFunction",
                "FunctionName": {"Ref": function_id},
                "Principal": "events.amazonaws.com",
                "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]},
            }
        ]


def test_functions_run_with_the_stage_configuration_and_the_topic_arn(
    deployment: Deployment,
) -> None:
    topic_name = stage_settings(deployment.stage).notifications_topic_name
    topic_id, _ = deployment.named("AWS::SNS::Topic", "TopicName", topic_name)
    project = deployment.app.project
    configs = [project.api, *(source.function for source in project.sources)]

    assert len(deployment.of_type("AWS::Lambda::Function")) == len(configs)
    for config in configs:
        _, function = deployment.function_of(config.handler)
        properties = function["Properties"]
        assert properties["MemorySize"] == config.memory_size
        assert properties["Timeout"] == config.timeout
        variables = properties["Environment"]["Variables"]
        assert variables["TOCSIN_STAGE"] == deployment.stage.value
        assert variables["TOCSIN_NOTIFICATIONS_TOPIC_ARN"] == {"Ref": topic_id}
        assert {key: variables[key] for key in config.environment} == config.environment


def test_prod_gives_deliver_its_own_memory_and_timeout(
    deployments: dict[Stage, Deployment],
) -> None:
    _, deliver = deployments[Stage.PROD].function_of("app.deliver_webhook")
    _, sweep = deployments[Stage.PROD].function_of("app.sweep")

    assert (deliver["Properties"]["MemorySize"], deliver["Properties"]["Timeout"]) == (1024, 60)
    assert (sweep["Properties"]["MemorySize"], sweep["Properties"]["Timeout"]) == (512, 120)


def test_no_iam_action_has_a_wildcard(deployment: Deployment) -> None:
    statements = [
        statement
        for document in policy_documents(deployment.resources)
        for statement in as_list(document["Statement"])
    ]
    actions = [action for statement in statements for action in as_list(statement["Action"])]

    assert len(actions) > 10
    assert [action for action in actions if "*" in action] == []
    assert [statement for statement in statements if "NotAction" in statement] == []


def test_each_function_has_its_own_role(deployment: Deployment) -> None:
    roles = [
        function["Properties"]["Role"]["Fn::GetAtt"][0]
        for function in deployment.of_type("AWS::Lambda::Function").values()
    ]

    assert len(set(roles)) == len(roles) == len(deployment.of_type("AWS::IAM::Role"))


def test_the_only_wildcard_resource_is_sms_and_topics_are_denied_beside_it(
    deployment: Deployment,
) -> None:
    for role_id in deployment.of_type("AWS::IAM::Role"):
        statements = deployment.statements(role_id)
        wildcards = [statement for statement in statements if statement["Resource"] == "*"]
        if not wildcards:
            continue

        assert wildcards == [
            {
                "Sid": "SendSmsToPhoneNumbers",
                "Effect": "Allow",
                "Action": "sns:Publish",
                "Resource": "*",
            }
        ]
        denies = [statement for statement in statements if statement["Effect"] == "Deny"]
        assert denies == [
            {
                "Sid": "NoTopicOrEndpointPublish",
                "Effect": "Deny",
                "Action": "sns:Publish",
                "Resource": {"Fn::Sub": "arn:${AWS::Partition}:sns:*:*:*"},
            }
        ]


def resource_key(resource: Any) -> str:
    return json.dumps(resource, sort_keys=True)


def granted(deployment: Deployment, handler: str) -> dict[str, set[str]]:
    """Actions allowed to a function's role, by the resource they are scoped to."""
    _, function = deployment.function_of(handler)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    by_resource: dict[str, set[str]] = {}
    for statement in deployment.statements(role_id):
        if statement["Effect"] != "Allow":
            continue
        for resource in as_list(statement["Resource"]):
            by_resource.setdefault(resource_key(resource), set()).update(
                as_list(statement["Action"])
            )
    return by_resource


def services_of(grants: dict[str, set[str]]) -> set[str]:
    return {action.split(":")[0] for actions in grants.values() for action in actions}


def test_the_api_works_on_the_table_and_publishes_to_the_topic_only(
    deployment: Deployment,
) -> None:
    settings = stage_settings(deployment.stage)
    table_id, _ = deployment.named("AWS::DynamoDB::Table", "TableName", settings.table_name)
    topic_id, _ = deployment.named(
        "AWS::SNS::Topic", "TopicName", settings.notifications_topic_name
    )

    grants = granted(deployment, "app.app")

    assert services_of(grants) == {"logs", "dynamodb", "sns", "sqs"}
    assert grants[resource_key({"Fn::GetAtt": [table_id, "Arn"]})] == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
        "dynamodb:BatchGetItem",
    }
    assert grants[resource_key({"Ref": topic_id})] == {"sns:Publish"}
    queued = {
        action
        for resource, actions in grants.items()
        if "sqs:" in "".join(actions)
        for action in actions
    }
    assert queued == {"sqs:GetQueueUrl", "sqs:SendMessage"}


@pytest.mark.parametrize(
    ("channel", "sends"),
    [("webhook", set()), ("email", {"ses"}), ("sms", {"sns"})],
)
def test_each_channel_has_a_function_of_its_own_on_its_own_queue(
    deployment: Deployment, channel: str, sends: set[str]
) -> None:
    settings = stage_settings(deployment.stage)
    queue_id, _ = deployment.named(
        "AWS::SQS::Queue", "QueueName", settings.delivery_queue(Channel(channel))
    )
    dlq_id, _ = deployment.named(
        "AWS::SQS::Queue", "QueueName", settings.delivery_dlq(Channel(channel))
    )

    deliver = granted(deployment, f"app.deliver_{channel}")

    assert services_of(deliver) == {"logs", "dynamodb", "sqs", *sends}
    queues = {resource for resource, actions in deliver.items() if "sqs:GetQueueUrl" in actions}
    assert queues == {
        resource_key({"Fn::GetAtt": [queue_id, "Arn"]}),
        resource_key({"Fn::GetAtt": [dlq_id, "Arn"]}),
    }
    assert deliver[resource_key({"Fn::GetAtt": [queue_id, "Arn"]})] == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueUrl",
        "sqs:SendMessage",
    }
    assert deliver[resource_key({"Fn::GetAtt": [dlq_id, "Arn"]})] == {
        "sqs:GetQueueUrl",
        "sqs:SendMessage",
    }


def test_only_the_email_and_sms_functions_send_email_and_sms(deployment: Deployment) -> None:
    others = [
        services_of(granted(deployment, name))
        for name in ("app.app", "app.sweep", "app.fanout", "app.deliver_webhook")
    ]
    assert all(found.isdisjoint({"ses"}) for found in others)


def test_email_is_sent_only_from_the_sender_address(deployment: Deployment) -> None:
    _, deliver = deployment.function_of("app.deliver_email")
    role_id = deliver["Properties"]["Role"]["Fn::GetAtt"][0]
    [statement] = [
        statement
        for statement in deployment.statements(role_id)
        if statement["Action"] == "ses:SendEmail"
    ]

    sender = stage_settings(deployment.stage).email_sender
    assert statement["Condition"] == {"StringEquals": {"ses:FromAddress": sender}}
    assert all(
        resource["Fn::Sub"].endswith((f":identity/{sender}", f":identity/{sender.split('@')[1]}"))
        for resource in statement["Resource"]
    )


def test_sweep_queries_only_the_sweep_index(deployment: Deployment) -> None:
    table_id, _ = deployment.named(
        "AWS::DynamoDB::Table", "TableName", stage_settings(deployment.stage).table_name
    )

    queries = [
        resource
        for resource, actions in granted(deployment, "app.sweep").items()
        if "dynamodb:Query" in actions
    ]

    assert queries == [resource_key({"Fn::Sub": f"${{{table_id}.Arn}}/index/sweep"})]


def test_every_app_route_reaches_the_api_handler(deployment: Deployment) -> None:
    api = deployment.of_type("AWS::ApiGateway::RestApi")
    [rest_api] = api.values()
    paths = rest_api["Properties"]["Body"]["paths"]

    assert set(paths) == set(deployment.app.project.routes)
    assert "/{proxy+}" in paths
    for path, methods in deployment.app.project.routes.items():
        assert set(methods) == ALL_GATEWAY_METHODS
        for method in methods:
            integration = paths[path][method.lower()]["x-amazon-apigateway-integration"]
            assert integration["type"] == "aws_proxy"
            assert "${APIHandler.Arn}" in integration["uri"]["Fn::Sub"]


def test_the_api_stage_and_its_url_are_the_configured_ones(deployment: Deployment) -> None:
    [stage] = deployment.of_type("AWS::ApiGateway::Stage").values()

    assert stage["Properties"]["StageName"] == "api"
    rest_url = deployment.template["Outputs"]["ApiUrl"]["Value"]["Fn::If"][1]
    assert rest_url["Fn::Sub"].endswith(".execute-api.${AWS::Region}.${AWS::URLSuffix}/api/")
    outputs = [output["Value"] for output in deployment.template["Outputs"].values()]
    for queue in deployment.spec.queues:
        assert {"Ref": deployment.named("AWS::SQS::Queue", "QueueName", queue.name)[0]} in outputs


def test_the_front_door_is_a_parameter_with_the_http_api_by_default(
    deployment: Deployment,
) -> None:
    parameter = deployment.template["Parameters"]["FrontDoor"]

    assert parameter["Default"] == "http"
    assert set(parameter["AllowedValues"]) == {"http", "rest", "url"}
    by_door = {
        "rest": "AWS::ApiGateway::RestApi",
        "http": "AWS::ApiGatewayV2::Api",
        "url": "AWS::Lambda::Url",
    }
    for door, kind in by_door.items():
        [resource] = deployment.of_type(kind).values()
        condition = resource["Condition"]
        assert deployment.template["Conditions"][condition] == {
            "Fn::Equals": [{"Ref": "FrontDoor"}, door]
        }


def test_the_http_api_routes_every_app_path_to_the_handler_in_the_rest_shape(
    deployment: Deployment,
) -> None:
    [(api_id, _)] = deployment.of_type("AWS::ApiGatewayV2::Api").items()
    [(integration_id, integration)] = deployment.of_type("AWS::ApiGatewayV2::Integration").items()
    routes = [
        resource["Properties"]
        for resource in deployment.of_type("AWS::ApiGatewayV2::Route").values()
    ]

    assert integration["Properties"]["PayloadFormatVersion"] == "1.0"
    assert integration["Properties"]["IntegrationUri"] == {"Fn::GetAtt": ["APIHandler", "Arn"]}
    assert sorted(route["RouteKey"] for route in routes) == sorted(
        f"ANY {path}" for path in deployment.app.project.routes
    )
    assert all(route["ApiId"] == {"Ref": api_id} for route in routes)
    assert all(
        route["Target"] == {"Fn::Sub": f"integrations/${{{integration_id}}}"} for route in routes
    )
    [stage] = deployment.of_type("AWS::ApiGatewayV2::Stage").values()
    assert stage["Properties"]["StageName"] == "$default"
    assert stage["Properties"]["AutoDeploy"] is True


def test_a_function_url_is_public_only_through_the_url(deployment: Deployment) -> None:
    [url] = deployment.of_type("AWS::Lambda::Url").values()
    permissions = [
        resource["Properties"]
        for resource in deployment.of_type("AWS::Lambda::Permission").values()
        if resource["Properties"]["Principal"] == "*"
    ]

    assert url["Properties"]["AuthType"] == "NONE"
    assert sorted(permissions, key=lambda item: str(item["Action"])) == [
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Ref": "APIHandler"},
            "Principal": "*",
            "InvokedViaFunctionUrl": True,
        },
        {
            "Action": "lambda:InvokeFunctionUrl",
            "FunctionName": {"Ref": "APIHandler"},
            "Principal": "*",
            "FunctionUrlAuthType": "NONE",
        },
    ]


def test_tables_are_kept_on_deletion_and_never_replaced_under_a_new_name(
    deployment: Deployment,
) -> None:
    for table in deployment.spec.tables:
        _, resource = deployment.named("AWS::DynamoDB::Table", "TableName", table.name)

        assert resource["DeletionPolicy"] == "Retain"
        assert resource["UpdateReplacePolicy"] == "Retain"


def test_the_local_stage_deploys_with_its_own_settings() -> None:
    template = build_template(Stage.LOCAL)

    functions = [
        resource["Properties"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
    ]
    assert {function["Environment"]["Variables"]["TOCSIN_STAGE"] for function in functions} == {
        "local"
    }
    assert not any(
        key.startswith("TOCSIN_FAULT")
        for function in functions
        for key in function["Environment"]["Variables"]
    )


def test_the_command_writes_the_template_of_the_stage(tmp_path: Path) -> None:
    out = tmp_path / "build" / "template.json"

    main(["--stage", "prod", "--out", str(out)])

    written = json.loads(out.read_text())
    functions = [
        resource["Properties"]["FunctionName"]
        for resource in written["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
    ]
    assert sorted(functions) == [
        "tocsin-prod",
        "tocsin-prod-alert_timers",
        "tocsin-prod-deliver_apprise",
        "tocsin-prod-deliver_discord",
        "tocsin-prod-deliver_email",
        "tocsin-prod-deliver_push",
        "tocsin-prod-deliver_slack",
        "tocsin-prod-deliver_sms",
        "tocsin-prod-deliver_teams",
        "tocsin-prod-deliver_webhook",
        "tocsin-prod-fanout",
        "tocsin-prod-find_timers",
        "tocsin-prod-sweep",
        "tocsin-prod-timers",
    ]
