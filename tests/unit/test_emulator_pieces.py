"""Pure pieces of the emulator: route matching, event shapes, partial batch responses, cron."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from chalice.app import DynamoDBEvent, SNSEvent, SQSEvent

from tocsin_local.emulator.events import (
    batch_item_failures,
    dynamodb_record,
    sns_record,
    sqs_record,
)
from tocsin_local.emulator.gateway import RouteTable, first_media_type, media_matches
from tocsin_local.emulator.project import FunctionConfig, ProjectDescription
from tocsin_local.emulator.runtime import local_management_endpoint
from tocsin_local.emulator.schedules import next_fire

ROUTES = RouteTable(
    [
        "/",
        "/health",
        "/v1/recipients/{recipient_id}",
        "/v1/recipients/{recipient_id}/inbox",
        "/v1/recipients/me",
        "/{proxy+}",
    ]
)


@pytest.mark.parametrize(
    ("path", "resource", "params"),
    [
        ("/", "/", {}),
        ("/health", "/health", {}),
        ("/v1/recipients/alice", "/v1/recipients/{recipient_id}", {"recipient_id": "alice"}),
        ("/v1/recipients/me", "/v1/recipients/me", {}),
        (
            "/v1/recipients/a%20b/inbox",
            "/v1/recipients/{recipient_id}/inbox",
            {"recipient_id": "a b"},
        ),
        ("/v1/recipients/alice/unknown", "/{proxy+}", {"proxy": "v1/recipients/alice/unknown"}),
        ("/v1/recipients/", "/{proxy+}", {"proxy": "v1/recipients/"}),
    ],
)
def test_routes_match_like_api_gateway(path: str, resource: str, params: dict[str, str]) -> None:
    assert ROUTES.match(path) == (resource, params)


def test_no_greedy_route_means_no_match() -> None:
    assert RouteTable(["/a"]).match("/b") is None


def test_sqs_records_parse_with_chalice() -> None:
    message = {
        "MessageId": "m1",
        "ReceiptHandle": "rh",
        "Body": "hello",
        "MD5OfBody": "x",
        "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1700000000000"},
        "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "n"}},
    }
    record = sqs_record(message, "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1")
    parsed = next(iter(SQSEvent({"Records": [record]}, None)))
    assert (parsed.body, parsed.receipt_handle, parsed.to_dict()["messageId"]) == (
        "hello",
        "rh",
        "m1",
    )
    assert record["messageAttributes"]["kind"]["stringValue"] == "n"
    assert record["attributes"]["ApproximateReceiveCount"] == "2"


def test_sns_records_parse_with_chalice() -> None:
    envelope = {
        "Type": "Notification",
        "MessageId": "m",
        "TopicArn": "arn:aws:sns:us-east-1:1:t",
        "Subject": "s",
        "Message": "body",
        "Timestamp": "2026-01-01T00:00:00.000Z",
        "MessageAttributes": {"k": {"Type": "String", "Value": "v"}},
    }
    parsed = SNSEvent({"Records": [sns_record(envelope, "arn:sub")]}, None)
    assert (parsed.message, parsed.subject) == ("body", "s")


def test_dynamodb_records_parse_with_chalice() -> None:
    record = {
        "eventID": "1",
        "eventName": "INSERT",
        "dynamodb": {
            "Keys": {"pk": {"S": "a"}},
            "NewImage": {"pk": {"S": "a"}},
            "SequenceNumber": "1",
            "StreamViewType": "NEW_AND_OLD_IMAGES",
            "ApproximateCreationDateTime": datetime(2026, 1, 1, tzinfo=UTC),
        },
    }
    parsed = next(
        iter(DynamoDBEvent({"Records": [dynamodb_record(record, "arn:stream", "us-east-1")]}, None))
    )
    assert parsed.event_name == "INSERT"
    assert parsed.new_image == {"pk": {"S": "a"}}


@pytest.mark.parametrize(
    ("result", "failed"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "a"}]}, {"a"}),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, None),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, None),
        ({"batchItemFailures": [{"id": "a"}]}, None),
        ("not a response", None),
    ],
)
def test_partial_batch_responses_as_lambda_reads_them(
    result: object, failed: set[str] | None
) -> None:
    assert batch_item_failures(result, {"a", "b"}) == failed


START = datetime(2026, 11, 24, 10, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("rate(1 minute)", datetime(2026, 11, 24, 10, 8, 30, tzinfo=UTC)),
        ("rate(2 hours)", datetime(2026, 11, 24, 12, 7, 30, tzinfo=UTC)),
        ("cron(0/15 * * * ? *)", datetime(2026, 11, 24, 10, 15, tzinfo=UTC)),
        ("cron(0 12 * * ? *)", datetime(2026, 11, 24, 12, 0, tzinfo=UTC)),
        ("cron(0 9 ? * MON-FRI *)", datetime(2026, 11, 25, 9, 0, tzinfo=UTC)),
        ("cron(30 8 1 * ? *)", datetime(2026, 12, 1, 8, 30, tzinfo=UTC)),
        ("cron(0 0 L * ? *)", datetime(2026, 11, 30, 0, 0, tzinfo=UTC)),
        ("cron(0 10 ? * 2#1 *)", datetime(2026, 12, 7, 10, 0, tzinfo=UTC)),
        # A step of 1 from a start: every minute from there (issue 12).
        ("cron(0/1 * * * ? *)", datetime(2026, 11, 24, 10, 8, tzinfo=UTC)),
        ("cron(5/1 * * * ? *)", datetime(2026, 11, 24, 10, 8, tzinfo=UTC)),
        ("cron(10-20/5 * * * ? *)", datetime(2026, 11, 24, 10, 10, tzinfo=UTC)),
        ("cron(0 12 15W * ? *)", datetime(2026, 12, 15, 12, 0, tzinfo=UTC)),
        ("cron(0 12 LW * ? *)", datetime(2026, 11, 30, 12, 0, tzinfo=UTC)),
        ("cron(0 12 LW 1 ? 2027)", datetime(2027, 1, 29, 12, 0, tzinfo=UTC)),
        ("cron(0 12 ? * 6L *)", datetime(2026, 11, 27, 12, 0, tzinfo=UTC)),
        ("cron(0 12 ? * FRI#3 *)", datetime(2026, 12, 18, 12, 0, tzinfo=UTC)),
        ("cron(0 12 ? * 1 *)", datetime(2026, 11, 29, 12, 0, tzinfo=UTC)),
        ("cron(0 12 ? * 2#1 2027)", datetime(2027, 1, 4, 12, 0, tzinfo=UTC)),
        ("cron(0 8 1 JAN,JUL ? *)", datetime(2027, 1, 1, 8, 0, tzinfo=UTC)),
        ("cron(0/1 * * * ? 2025)", None),
    ],
)
def test_schedule_expressions(expression: str, expected: datetime | None) -> None:
    assert next_fire(expression, START) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "rate(5 fortnights)",
        "rate(1 minutes)",
        "rate(0 minutes)",
        "cron(* * * * *)",
        "cron(0 0 * * * *)",
        "cron(0 0 ? * 8 *)",
        "cron(0 0 L-2 * ? *)",
        "every minute",
    ],
)
def test_bad_schedule_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        next_fire(expression, START)


PLAIN = FunctionConfig(
    name="plain", handler="app.plain", timeout=3, environment={}, lambda_name="shop-dev-plain"
)
PROJECT = ProjectDescription(
    app_name="shop",
    stage="dev",
    api=PLAIN,
    routes={},
    sources=[],
    functions=[PLAIN],
)


@pytest.mark.parametrize(
    "name",
    [
        "shop-dev-plain",
        "shop-dev-plain:$LATEST",
        "123456789012:function:shop-dev-plain",
        "arn:aws:lambda:us-east-1:123456789012:function:shop-dev-plain",
        "arn:aws:lambda:us-east-1:123456789012:function:shop-dev-plain:$LATEST",
    ],
)
def test_a_function_is_found_by_name_or_arn_as_lambda_finds_it(name: str) -> None:
    assert PROJECT.function(name) == PLAIN


def test_a_function_of_another_name_is_not_found() -> None:
    assert PROJECT.function("shop-dev-plainer") is None
    assert PROJECT.function("plain") is None


@pytest.mark.parametrize(
    ("accept", "binary_types", "binary"),
    [
        ("image/png", ["image/png"], True),
        ("image/png; q=0.9", ["image/*"], True),
        ("*/*", ["image/png"], False),
        ("application/json, image/png", ["image/png"], False),
        ("text/plain", ["*/*"], True),
        ("", ["*/*"], False),
    ],
)
def test_binary_media_is_decided_by_the_first_accept_type(
    accept: str, binary_types: list[str], binary: bool
) -> None:
    assert media_matches(first_media_type(accept), binary_types) is binary


def test_execute_api_endpoints_go_to_the_local_management_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI", "http://127.0.0.1:9/")

    assert (
        local_management_endpoint("https://abc123.execute-api.eu-west-1.amazonaws.com/api")
        == "http://127.0.0.1:9/api"
    )
    assert local_management_endpoint("https://example.com/api") is None
