"""The deploy template of a stage: plain CloudFormation (no transform), written from the single
definition (``infra.resources``), the grants of ``infra.access`` and the Chalice app itself.

    python -m infra.template --stage prod --out build/template.json

- Tables, topics, queues with their DLQs, SNS -> SQS subscriptions (with the queue policy that
  lets the topic send) and SES email identities come from ``definition(stage)``.
- Functions come from the app: the API handler and one function per event source, with memory,
  timeout and environment from .chalice/config.json, plus ``TOCSIN_NOTIFICATIONS_TOPIC_ARN``
  (so that no function needs ``sts:GetCallerIdentity``). Names follow Chalice's
  (``tocsin-prod``, ``tocsin-prod-deliver``), each with its own log group and its own role.
- Every SQS event source mapping reports batch item failures (Chalice cannot set it:
  aws/chalice#2029), unless the function turns it off with ``report_batch_item_failures``
  in .chalice/config.json, the switch the local emulator honours too.
- The front door is a parameter (``FrontDoor``): ``http``, an HTTP API with payload format 1.0
  (the default: $1.00 per million requests), ``rest``, the REST API (``$3.50``; the one
  LocalStack's free edition serves), or ``url``, a Lambda function URL (no gateway charge).
  The REST API is the swagger ``chalice package`` would deploy, one resource per route: Chalice
  dispatches on API Gateway's ``resourcePath``, so a lone ``/{proxy+}`` would send every request
  to the catch-all 404. The HTTP API has one ``ANY`` route per path of the app (Chalice answers
  405 itself for a method a path does not serve). The app's own catch-alls (``/`` and
  ``/{proxy+}``, per-route 405s) are routes like any other; ``chalicelib.api.front_door`` gives
  the app the route of an HTTP API or function URL event.
- Tables are kept when the stack is deleted or a change would replace them (``Retain``), in
  every stage; their names are fixed, so a change that needs a replacement fails instead of
  creating an empty table (``infra.upgrade`` refuses such a change before CloudFormation sees it).
- The code is one zip (``chalice package`` builds it, with Linux wheels) in S3, named by the
  ``CodeBucket``/``CodeKey`` parameters; writing the template needs neither the network nor AWS.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from chalice.constants import DEFAULT_LAMBDA_MEMORY_SIZE

from chalicelib.settings import Stage
from infra.access import (
    QUEUE_CONSUMER_ACTIONS,
    EmailGrant,
    Grant,
    PushGrant,
    QueueGrant,
    SmsGrant,
    TableGrant,
    TopicGrant,
    function_grants,
)
from infra.chalice_app import ChaliceApp, read_in_child
from infra.resources import (
    PROJECT_DIR,
    Definition,
    Queue,
    Subscription,
    Table,
    chalice_config,
    definition,
    stage_settings,
)
from tocsin_local.emulator.project import EventSource, FunctionConfig

Json = dict[str, Any]

API_HANDLER = "api_handler"
# Chalice's swagger generator points every integration at ``${APIHandler.Arn}``.
API_HANDLER_ID = "APIHandler"
REST_API_ID = "RestAPI"
LOG_RETENTION_DAYS = 30
POLICY_VERSION = "2012-10-17"
CODE_PARAMETERS = {
    "CodeBucket": "S3 bucket holding the deployment zip that `chalice package` builds",
    "CodeKey": "S3 key of that zip (change it with every build so that Lambda takes the new code)",
}
EMAIL_IDENTITY_PARAMETER = "ManageEmailIdentities"
# Not the parameter's own name: LocalStack resolves a Ref to a condition of the same name first
# (and recurses without end), where AWS resolves it to the parameter.
EMAIL_IDENTITY_CONDITION = "CreateEmailIdentities"
FRONT_DOOR_PARAMETER = "FrontDoor"
# Per million requests at list prices (bench/prices.py): HTTP API $1.00, REST API $3.50, a
# function URL nothing beyond the function's own invocation.
FRONT_DOORS = ("http", "rest", "url")
DEFAULT_FRONT_DOOR = "http"
HTTP_API_ID = "HttpApi"
FUNCTION_URL_ID = f"{API_HANDLER_ID}Url"
SUPPORTED_SOURCES = ("sqs", "schedule")


def logical_id(*parts: str) -> str:
    """CamelCase of the alphanumeric words of ``parts``: ``tocsin-deliveries`` -> ``TocsinDeliveries``."""
    words = [word for part in parts for word in re.split(r"[^A-Za-z0-9]+", part) if word]
    return "".join(word[0].upper() + word[1:] for word in words)


def _ref(target: str) -> Json:
    return {"Ref": target}


def _arn(target: str) -> Json:
    return {"Fn::GetAtt": [target, "Arn"]}


def _sub(text: str) -> Json:
    return {"Fn::Sub": text}


def _policy(statements: Sequence[Json]) -> Json:
    return {"Version": POLICY_VERSION, "Statement": list(statements)}


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def function_id(name: str) -> str:
    return API_HANDLER_ID if name == API_HANDLER else logical_id(name)


def table_id(name: str) -> str:
    return logical_id(name, "table")


def queue_id(name: str) -> str:
    return logical_id(name, "queue")


def topic_id(name: str) -> str:
    return logical_id(name, "topic")


def sqs_event_source_mapping(function: FunctionConfig, queue: str, params: Json) -> Json:
    """The mapping of one ``on_sqs_message`` handler onto its queue's resource."""
    properties: Json = {
        "EventSourceArn": _arn(queue_id(queue)),
        "FunctionName": _ref(function_id(function.name)),
        "BatchSize": params["batch_size"],
        "Enabled": True,
    }
    if function.report_batch_item_failures:
        properties["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
    if params.get("maximum_batching_window_in_seconds"):
        properties["MaximumBatchingWindowInSeconds"] = params["maximum_batching_window_in_seconds"]
    if params.get("maximum_concurrency"):
        properties["ScalingConfig"] = {"MaximumConcurrency": params["maximum_concurrency"]}
    return {"Type": "AWS::Lambda::EventSourceMapping", "Properties": properties}


class _TemplateBuilder:
    def __init__(self, spec: Definition, app: ChaliceApp, runtime: str) -> None:
        self._spec = spec
        self._app = app
        self._runtime = runtime
        self._stage = spec.stage
        self._settings = stage_settings(spec.stage)
        # Data outlives the stack in every stage; production logs and queues too.
        self._keep = "Retain" if spec.stage is Stage.PROD else "Delete"
        self.parameters: Json = {
            name: {"Type": "String", "MinLength": 1, "Description": description}
            for name, description in CODE_PARAMETERS.items()
        }
        self.conditions: Json = {}
        self.resources: Json = {}
        self.outputs: Json = {}

    def build(self) -> Json:
        for table in self._spec.tables:
            self._table(table)
        for topic in self._spec.topics:
            self._add(topic_id(topic.name), "AWS::SNS::Topic", {"TopicName": topic.name})
            self._output(f"{topic_id(topic.name)}Arn", _ref(topic_id(topic.name)), topic.name)
        for queue in self._spec.queues:
            self._queue(queue)
        for subscription in self._spec.subscriptions:
            self._subscription(subscription)
        self._queue_policies()
        self._email_identities()
        self._functions()
        self._front_doors()
        template: Json = {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": f"Tocsin notification service, stage {self._stage.value}",
            "Parameters": self.parameters,
        }
        if self.conditions:
            template["Conditions"] = self.conditions
        return {**template, "Resources": self.resources, "Outputs": self.outputs}

    # --- plumbing -----------------------------------------------------------------------------
    def _add(self, resource_id: str, kind: str, properties: Json, **attributes: Any) -> None:
        self._put(resource_id, {"Type": kind, **attributes, "Properties": properties})

    def _put(self, resource_id: str, resource: Json) -> None:
        if resource_id in self.resources:
            raise ValueError(f"two resources would be named {resource_id}")
        self.resources[resource_id] = resource

    def _output(self, name: str, value: Any, description: str) -> None:
        self.outputs[name] = {"Description": description, "Value": value}

    def _stateful(self) -> Json:
        return {"DeletionPolicy": self._keep, "UpdateReplacePolicy": self._keep}

    def _queue_named(self, name: str) -> Queue:
        for queue in self._spec.queues:
            if queue.name == name:
                return queue
        raise ValueError(f"queue {name} is not in infra.resources' definition")

    def _require(self, resource_id: str, what: str) -> str:
        if resource_id not in self.resources:
            raise ValueError(f"{what} is not in infra.resources' definition")
        return resource_id

    # --- data and messaging -------------------------------------------------------------------
    def _table(self, table: Table) -> None:
        properties: Json = {
            "TableName": table.name,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": table.attribute_definitions(),
            "KeySchema": table.key_schema(),
            "PointInTimeRecoverySpecification": {
                "PointInTimeRecoveryEnabled": self._stage is Stage.PROD
            },
        }
        if table.indexes:
            properties["GlobalSecondaryIndexes"] = table.global_secondary_indexes()
        if table.ttl_attribute:
            properties["TimeToLiveSpecification"] = {
                "AttributeName": table.ttl_attribute,
                "Enabled": True,
            }
        self._add(
            table_id(table.name),
            "AWS::DynamoDB::Table",
            properties,
            DeletionPolicy="Retain",
            UpdateReplacePolicy="Retain",
        )
        self._output(f"{table_id(table.name)}Name", _ref(table_id(table.name)), table.name)

    def _queue(self, queue: Queue) -> None:
        properties: Json = {
            "QueueName": queue.name,
            "VisibilityTimeout": queue.visibility_timeout,
            "MessageRetentionPeriod": queue.retention_seconds,
            "SqsManagedSseEnabled": True,
        }
        if queue.fifo:
            properties["FifoQueue"] = True
        if queue.dead_letter_queue is not None:
            if queue.max_receive_count is None:
                raise ValueError(f"queue {queue.name} has a DLQ but no max_receive_count")
            dead_letters = self._queue_named(queue.dead_letter_queue)
            properties["RedrivePolicy"] = {
                "deadLetterTargetArn": _arn(queue_id(dead_letters.name)),
                "maxReceiveCount": queue.max_receive_count,
            }
        self._add(queue_id(queue.name), "AWS::SQS::Queue", properties, **self._stateful())
        self._output(f"{queue_id(queue.name)}Url", _ref(queue_id(queue.name)), queue.name)

    def _subscription(self, subscription: Subscription) -> None:
        topic = self._require(topic_id(subscription.topic), f"topic {subscription.topic}")
        queue = queue_id(self._queue_named(subscription.queue).name)
        properties: Json = {
            "TopicArn": _ref(topic),
            "Protocol": "sqs",
            "Endpoint": _arn(queue),
            "RawMessageDelivery": subscription.raw_message_delivery,
        }
        if subscription.filter_policy is not None:
            properties["FilterPolicyScope"] = "MessageAttributes"
            properties["FilterPolicy"] = subscription.filter_policy
        self._add(
            logical_id(f"{topic}To{queue}", "subscription"), "AWS::SNS::Subscription", properties
        )

    def _queue_policies(self) -> None:
        """Lets each topic send to the queues subscribed to it, and nothing else in."""
        topics_by_queue: dict[str, list[str]] = {}
        for subscription in self._spec.subscriptions:
            topics = topics_by_queue.setdefault(queue_id(subscription.queue), [])
            topics.append(topic_id(subscription.topic))
        for queue, topics in topics_by_queue.items():
            statement = {
                "Sid": "TopicsSendToQueue",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": _arn(queue),
                "Condition": {"ArnEquals": {"aws:SourceArn": [_ref(topic) for topic in topics]}},
            }
            self._add(
                f"{queue}Policy",
                "AWS::SQS::QueuePolicy",
                {"Queues": [_ref(queue)], "PolicyDocument": _policy([statement])},
            )

    def _email_identities(self) -> None:
        """Each sender address as an SES identity (SES mails a verification link on creation).
        An account whose domain or address is verified already deploys with the parameter set
        to ``false``."""
        if not self._spec.email_identities:
            return
        self.parameters[EMAIL_IDENTITY_PARAMETER] = {
            "Type": "String",
            "AllowedValues": ["true", "false"],
            "Default": "true",
            "Description": "Create the SES email identities of the senders in this stack",
        }
        self.conditions[EMAIL_IDENTITY_CONDITION] = {
            "Fn::Equals": [_ref(EMAIL_IDENTITY_PARAMETER), "true"]
        }
        for address in self._spec.email_identities:
            self._add(
                logical_id(address, "email identity"),
                "AWS::SES::EmailIdentity",
                {"EmailIdentity": address},
                Condition=EMAIL_IDENTITY_CONDITION,
            )

    # --- functions ----------------------------------------------------------------------------
    def _functions(self) -> None:
        project = self._app.project
        functions = [project.api, *(source.function for source in project.sources)]
        grants = function_grants(self._spec)
        names = {function.name for function in functions}
        if names != set(grants):
            raise ValueError(
                f"the app's functions {sorted(names)} and infra.access' grants "
                f"{sorted(grants)} differ: give every function its grants"
            )
        consumed: dict[str, list[str]] = {}
        for source in project.sources:
            if source.kind not in SUPPORTED_SOURCES:
                raise ValueError(
                    f"{source.function.name}: the deploy template does not deploy "
                    f"{source.kind} handlers yet"
                )
            if source.kind == "sqs":
                consumed.setdefault(source.function.name, []).append(self._sqs_source(source))
        for function in functions:
            self._function(function, grants[function.name], consumed.get(function.name, []))
        for source in project.sources:
            if source.kind == "schedule":
                self._schedule(source)

    def _sqs_source(self, source: EventSource) -> str:
        """Adds the mapping; returns the queue's name."""
        function, params = source.function, source.params
        if params.get("queue_arn") or not params.get("queue"):
            raise ValueError(f"{function.name}: name a queue of infra.resources, not an ARN")
        queue = self._queue_named(params["queue"])
        if queue.visibility_timeout < function.timeout:
            raise ValueError(
                f"queue {queue.name}'s visibility ({queue.visibility_timeout} s) is shorter "
                f"than {function.name}'s timeout ({function.timeout:g} s): Lambda refuses it"
            )
        self._put(
            logical_id(function.name, queue.name, "event source"),
            sqs_event_source_mapping(function, queue.name, params),
        )
        return queue.name

    def _schedule(self, source: EventSource) -> None:
        function = function_id(source.function.name)
        rule = f"{function}Schedule"
        self._add(
            rule,
            "AWS::Events::Rule",
            {
                "Description": f"Invokes {source.function.name} on schedule",
                "ScheduleExpression": source.params["expression"],
                "State": "ENABLED",
                "Targets": [{"Id": function, "Arn": _arn(function)}],
            },
        )
        self._add(
            f"{rule}InvokePermission",
            "AWS::Lambda::Permission",
            {
                "Action": "lambda:InvokeFunction",
                "FunctionName": _ref(function),
                "Principal": "events.amazonaws.com",
                "SourceArn": _arn(rule),
            },
        )

    def _function_name(self, name: str) -> str:
        base = f"{self._app.project.app_name}-{self._stage.value}"
        return base if name == API_HANDLER else f"{base}-{name}"

    def _function(
        self, function: FunctionConfig, grants: Sequence[Grant], consumed_queues: Sequence[str]
    ) -> None:
        resource = function_id(function.name)
        name = self._function_name(function.name)
        log_group = f"{resource}LogGroup"
        role = f"{resource}Role"
        self._add(
            log_group,
            "AWS::Logs::LogGroup",
            {"LogGroupName": f"/aws/lambda/{name}", "RetentionInDays": LOG_RETENTION_DAYS},
            **self._stateful(),
        )
        consumer = [QueueGrant(queue, QUEUE_CONSUMER_ACTIONS) for queue in consumed_queues]
        statements = [
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": _arn(log_group),
            },
            *self._statements(function.name, [*grants, *consumer]),
        ]
        self._add(
            role,
            "AWS::IAM::Role",
            {
                "Description": f"What {name} may do",
                "AssumeRolePolicyDocument": _policy(
                    [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ]
                ),
                "Policies": [
                    {"PolicyName": "least-privilege", "PolicyDocument": _policy(statements)}
                ],
            },
        )
        topic = self._require(
            topic_id(self._settings.notifications_topic_name), "the notifications topic"
        )
        properties: Json = {
            "FunctionName": name,
            "Description": f"Tocsin {function.name} ({self._stage.value})",
            "Handler": function.handler,
            "Runtime": self._runtime,
            "Code": {"S3Bucket": _ref("CodeBucket"), "S3Key": _ref("CodeKey")},
            "Role": _arn(role),
            "MemorySize": function.memory_size or DEFAULT_LAMBDA_MEMORY_SIZE,
            "Timeout": int(function.timeout),
            "Environment": {
                "Variables": {**function.environment, "TOCSIN_NOTIFICATIONS_TOPIC_ARN": _ref(topic)}
            },
        }
        if function.reserved_concurrency is not None:
            properties["ReservedConcurrentExecutions"] = function.reserved_concurrency
        self._add(resource, "AWS::Lambda::Function", properties)
        self._output(f"{resource}Name", _ref(resource), f"the {function.name} function")

    # --- IAM ------------------------------------------------------------------------------------
    def _statements(self, function: str, grants: Sequence[Grant]) -> list[Json]:
        """One statement per resource (grants on one resource merge), in a stable order."""
        table_actions: dict[tuple[str, str | None], list[str]] = {}
        queue_actions: dict[str, list[str]] = {}
        topics: list[str] = []
        senders: list[str] = []
        sms = False
        push = False
        for grant in grants:
            match grant:
                case TableGrant(table=table, actions=actions, index=index):
                    table_actions.setdefault((table, index), []).extend(actions)
                case QueueGrant(queue=queue, actions=actions):
                    queue_actions.setdefault(queue, []).extend(actions)
                case TopicGrant(topic=topic):
                    topics.append(topic)
                case EmailGrant(sender=sender):
                    senders.append(sender)
                case SmsGrant():
                    sms = True
                case PushGrant():
                    push = True
        statements = [
            *(self._table_statement(key, actions) for key, actions in table_actions.items()),
            *(self._queue_statement(queue, actions) for queue, actions in queue_actions.items()),
            *(self._topic_statement(topic) for topic in _unique(topics)),
            *(self._email_statement(sender) for sender in _unique(senders)),
        ]
        if sms:
            if topics:
                raise ValueError(
                    f"{function} sends SMS and publishes to topics: the SMS grant denies "
                    "every topic, so give these to two functions"
                )
            statements += self._sms_statements()
        if push:
            statements += self._push_statements()
        return statements

    def _table_statement(self, key: tuple[str, str | None], actions: Sequence[str]) -> Json:
        table, index = key
        resource = self._require(table_id(table), f"table {table}")
        if index is None:
            target: Any = _arn(resource)
            sid = logical_id("table", table)
        else:
            spec = next(spec for spec in self._spec.tables if spec.name == table)
            if index not in {item.name for item in spec.indexes}:
                raise ValueError(f"index {index} of table {table} is not in the definition")
            target = _sub(f"${{{resource}.Arn}}/index/{index}")
            sid = logical_id("index", table, index)
        return {
            "Sid": sid,
            "Effect": "Allow",
            "Action": [f"dynamodb:{action}" for action in _unique(actions)],
            "Resource": target,
        }

    def _queue_statement(self, queue: str, actions: Sequence[str]) -> Json:
        resource = queue_id(self._queue_named(queue).name)
        return {
            "Sid": logical_id("queue", queue),
            "Effect": "Allow",
            "Action": [f"sqs:{action}" for action in _unique(actions)],
            "Resource": _arn(resource),
        }

    def _topic_statement(self, topic: str) -> Json:
        return {
            "Sid": logical_id("publish", topic),
            "Effect": "Allow",
            "Action": "sns:Publish",
            "Resource": _ref(self._require(topic_id(topic), f"topic {topic}")),
        }

    def _email_statement(self, sender: str) -> Json:
        """The sender's address identity, or its domain's when the domain is what SES verified;
        either way only with this From address."""
        domain = sender.rpartition("@")[2]
        identity = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/"
        return {
            "Sid": logical_id("send email as", sender),
            "Effect": "Allow",
            "Action": "ses:SendEmail",
            "Resource": [_sub(identity + sender), _sub(identity + domain)],
            "Condition": {"StringEquals": {"ses:FromAddress": sender}},
        }

    @staticmethod
    def _sms_statements() -> list[Json]:
        """A publish to a phone number has no ARN, so IAM can only allow it on ``*``; the deny
        takes every topic and mobile endpoint (all of them have ``arn:...:sns:`` ARNs) back out,
        leaving phone numbers only."""
        return [
            {
                "Sid": "SendSmsToPhoneNumbers",
                "Effect": "Allow",
                "Action": "sns:Publish",
                "Resource": "*",
            },
            {
                "Sid": "NoTopicOrEndpointPublish",
                "Effect": "Deny",
                "Action": "sns:Publish",
                "Resource": _sub("arn:${AWS::Partition}:sns:*:*:*"),
            },
        ]

    @staticmethod
    def _push_statements() -> list[Json]:
        """The platform applications are made outside the stack (they hold the platforms'
        credentials, and CloudFormation has no resource for them): any of the account's, and
        the endpoints made in them."""
        sns = "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:"
        return [
            {
                "Sid": "MakePushEndpoints",
                "Effect": "Allow",
                "Action": "sns:CreatePlatformEndpoint",
                "Resource": _sub(sns + "app/*"),
            },
            {
                "Sid": "PushToEndpoints",
                "Effect": "Allow",
                "Action": ["sns:Publish", "sns:DeleteEndpoint"],
                "Resource": _sub(sns + "endpoint/*"),
            },
        ]

    # --- HTTP -----------------------------------------------------------------------------------
    def _front_doors(self) -> None:
        self.parameters[FRONT_DOOR_PARAMETER] = {
            "Type": "String",
            "AllowedValues": list(FRONT_DOORS),
            "Default": DEFAULT_FRONT_DOOR,
            "Description": "How requests reach the API function: http (HTTP API, payload 1.0), "
            "rest (REST API) or url (Lambda function URL)",
        }
        for door in FRONT_DOORS:
            self.conditions[front_door_condition(door)] = {
                "Fn::Equals": [_ref(FRONT_DOOR_PARAMETER), door]
            }
        config = chalice_config(self._stage, API_HANDLER)
        rest_url = self._rest_api(config.api_gateway_endpoint_type, config.api_gateway_stage)
        http_url = self._http_api()
        self._function_url()
        self._output(
            "ApiUrl",
            {
                "Fn::If": [
                    front_door_condition("rest"),
                    rest_url,
                    {
                        "Fn::If": [
                            front_door_condition("http"),
                            http_url,
                            {"Fn::GetAtt": [FUNCTION_URL_ID, "FunctionUrl"]},
                        ]
                    },
                ]
            },
            "base URL of the HTTP API",
        )
        self._output("FrontDoor", _ref(FRONT_DOOR_PARAMETER), "how requests reach the API")

    def _rest_api(self, endpoint_type: str, stage_name: str) -> Json:
        condition = {"Condition": front_door_condition("rest")}
        swagger = self._app.swagger
        digest = hashlib.sha256(json.dumps(swagger, sort_keys=True).encode()).hexdigest()[:12]
        deployment = f"{REST_API_ID}Deployment{digest}"
        self._add(
            REST_API_ID,
            "AWS::ApiGateway::RestApi",
            {
                "Name": self._function_name(API_HANDLER),
                "Body": swagger,
                "EndpointConfiguration": {"Types": [endpoint_type]},
                "Parameters": {"endpointConfigurationTypes": endpoint_type},
            },
            **condition,
        )
        # A deployment is a snapshot: a new logical id per API shape makes CloudFormation take
        # a new one whenever the routes change.
        self._add(
            deployment,
            "AWS::ApiGateway::Deployment",
            {"RestApiId": _ref(REST_API_ID), "Description": f"routes {digest}"},
            **condition,
        )
        self._add(
            f"{REST_API_ID}Stage",
            "AWS::ApiGateway::Stage",
            {
                "RestApiId": _ref(REST_API_ID),
                "DeploymentId": _ref(deployment),
                "StageName": stage_name,
            },
            **condition,
        )
        self._invoke_permission(f"{API_HANDLER_ID}InvokePermission", REST_API_ID, condition)
        self.outputs["RestApiId"] = {
            "Description": "the REST API (LocalStack serves it under /restapis/ID/STAGE)",
            "Value": _ref(REST_API_ID),
            **condition,
        }
        self.outputs["RestApiStage"] = {
            "Description": "the REST API's stage",
            "Value": stage_name,
            **condition,
        }
        return _sub(
            f"https://${{{REST_API_ID}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}"
            f"/{stage_name}/"
        )

    def _http_api(self) -> Json:
        condition = {"Condition": front_door_condition("http")}
        integration = f"{HTTP_API_ID}Integration"
        self._add(
            HTTP_API_ID,
            "AWS::ApiGatewayV2::Api",
            {"Name": self._function_name(API_HANDLER), "ProtocolType": "HTTP"},
            **condition,
        )
        self._add(
            integration,
            "AWS::ApiGatewayV2::Integration",
            {
                "ApiId": _ref(HTTP_API_ID),
                "IntegrationType": "AWS_PROXY",
                "IntegrationUri": _arn(API_HANDLER_ID),
                # The REST API's event shape, which Chalice reads.
                "PayloadFormatVersion": "1.0",
            },
            **condition,
        )
        for path in sorted(self._app.swagger["paths"]):
            self._add(
                logical_id(HTTP_API_ID, "route", path_words(path)),
                "AWS::ApiGatewayV2::Route",
                {
                    "ApiId": _ref(HTTP_API_ID),
                    "RouteKey": f"ANY {path}",
                    "Target": _sub(f"integrations/${{{integration}}}"),
                },
                **condition,
            )
        self._add(
            f"{HTTP_API_ID}Stage",
            "AWS::ApiGatewayV2::Stage",
            {"ApiId": _ref(HTTP_API_ID), "StageName": "$default", "AutoDeploy": True},
            **condition,
        )
        self._invoke_permission(f"{HTTP_API_ID}InvokePermission", HTTP_API_ID, condition)
        return _sub(f"https://${{{HTTP_API_ID}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/")

    def _function_url(self) -> None:
        condition = {"Condition": front_door_condition("url")}
        self._add(
            FUNCTION_URL_ID,
            "AWS::Lambda::Url",
            # Tocsin authenticates every /v1 request itself (API keys).
            {"AuthType": "NONE", "TargetFunctionArn": _arn(API_HANDLER_ID)},
            **condition,
        )
        # Since October 2025 a public function URL needs both permissions; the second is only
        # for invocations through the URL.
        self._add(
            f"{FUNCTION_URL_ID}Permission",
            "AWS::Lambda::Permission",
            {
                "Action": "lambda:InvokeFunctionUrl",
                "FunctionName": _ref(API_HANDLER_ID),
                "Principal": "*",
                "FunctionUrlAuthType": "NONE",
            },
            **condition,
        )
        self._add(
            f"{FUNCTION_URL_ID}InvokePermission",
            "AWS::Lambda::Permission",
            {
                "Action": "lambda:InvokeFunction",
                "FunctionName": _ref(API_HANDLER_ID),
                "Principal": "*",
                "InvokedViaFunctionUrl": True,
            },
            **condition,
        )

    def _invoke_permission(self, resource_id: str, api_id: str, condition: Json) -> None:
        self._add(
            resource_id,
            "AWS::Lambda::Permission",
            {
                "Action": "lambda:InvokeFunction",
                "FunctionName": _ref(API_HANDLER_ID),
                "Principal": "apigateway.amazonaws.com",
                "SourceArn": _sub(
                    "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:"
                    f"${{{api_id}}}/*"
                ),
            },
            **condition,
        )


def front_door_condition(door: str) -> str:
    return logical_id("front door", door)


def path_words(path: str) -> str:
    """``/v1/recipients/{recipient_id}`` -> ``v1 recipients recipient_id``; ``/`` -> ``root``;
    a greedy ``{proxy+}`` -> ``proxy greedy``."""
    words = path.replace("+}", " greedy}").strip("/")
    return words or "root"


def lambda_runtime(project_dir: Path) -> str:
    """The project's Python (``.python-version``), which ``chalice package`` also builds for."""
    version = (project_dir / ".python-version").read_text().strip()
    return f"python{version}"


def render_template(spec: Definition, app: ChaliceApp, runtime: str) -> Json:
    return _TemplateBuilder(spec, app, runtime).build()


def build_template(stage: Stage, project_dir: Path = PROJECT_DIR) -> Json:
    """The template of ``stage``. The ``local`` stage is deployed only into LocalStack (loopback
    webhooks, the compressed retry schedule; fault injection stays off: it is never set)."""
    app = read_in_child(project_dir, stage.value)
    return render_template(definition(stage), app, lambda_runtime(project_dir))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m infra.template", description="Writes Tocsin's CloudFormation template."
    )
    parser.add_argument(
        "--stage", choices=[stage.value for stage in Stage], default=Stage.DEV.value
    )
    parser.add_argument("--out", type=Path, help="file to write (default: standard output)")
    args = parser.parse_args(argv)
    text = json.dumps(build_template(Stage(args.stage)), indent=2) + "\n"
    if args.out is None:
        sys.stdout.write(text)
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
