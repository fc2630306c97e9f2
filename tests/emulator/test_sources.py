"""S3 notifications, EventBridge rules and Kinesis streams -> functions: wired as Chalice
deploys them, filtered as the service filters, with Lambda's event shapes."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest

from tests.emulator.backend import Backend, Deployment
from tests.harness import poll

pytestmark = pytest.mark.xdist_group("sources")


@pytest.fixture(scope="module")
def app(backend: Backend) -> Deployment:
    return backend.deploy("sources")


def keys(items: list[dict[str, Any]]) -> list[str]:
    return [item["key"] for item in items]


# --- S3 ------------------------------------------------------------------------------------------
def test_s3_bucket_is_configured_as_chalice_deploys_it(app: Deployment) -> None:
    def configured() -> list[dict[str, Any]]:
        config = app.aws("s3").get_bucket_notification_configuration(Bucket="cf-uploads")
        return list(config.get("LambdaFunctionConfigurations", []))

    (entry,) = poll(configured, timeout=30, what="the bucket's notification configuration")

    assert entry["LambdaFunctionArn"].endswith(":function:cf-sources-dev-uploaded")
    assert entry["Events"] == ["s3:ObjectCreated:*"]
    rules = {rule["Name"].lower(): rule["Value"] for rule in entry["Filter"]["Key"]["FilterRules"]}
    assert rules == {"prefix": "incoming/", "suffix": ".txt"}


def test_s3_prefix_and_suffix_filters(app: Deployment) -> None:
    # GIVEN the function wants incoming/*.txt
    run = uuid.uuid4().hex[:8]
    s3 = app.aws("s3")
    poll(
        lambda: s3.get_bucket_notification_configuration(Bucket="cf-uploads").get(
            "LambdaFunctionConfigurations"
        ),
        timeout=30,
        what="the bucket wired",
    )

    # WHEN objects that miss the prefix or the suffix are put, then one that matches
    s3.put_object(Bucket="cf-uploads", Key=f"incoming/{run}.csv", Body=b"csv")
    s3.put_object(Bucket="cf-uploads", Key=f"elsewhere/{run}.txt", Body=b"txt")
    s3.put_object(Bucket="cf-uploads", Key=f"incoming/{run}.txt", Body=b"hello")

    # THEN only the matching one reaches the function
    items = app.await_observed("uploaded", lambda items: f"incoming/{run}.txt" in keys(items))
    assert [key for key in keys(items) if run in key] == [f"incoming/{run}.txt"]


def test_s3_event_shape(app: Deployment) -> None:
    run = uuid.uuid4().hex[:8]
    body = f"shape-{run}".encode()
    key = f"incoming/shape-{run}.txt"
    s3 = app.aws("s3")
    poll(
        lambda: s3.get_bucket_notification_configuration(Bucket="cf-uploads").get(
            "LambdaFunctionConfigurations"
        ),
        timeout=30,
        what="the bucket wired",
    )

    s3.put_object(Bucket="cf-uploads", Key=key, Body=body)

    items = app.await_observed("uploaded", lambda items: key in keys(items))
    record = next(item for item in items if item["key"] == key)["record"]
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["eventVersion"].startswith("2.")
    assert record["awsRegion"] == "us-east-1"
    assert record["eventTime"].endswith("Z")
    assert record["userIdentity"]["principalId"]
    assert record["requestParameters"]["sourceIPAddress"]
    assert record["responseElements"]["x-amz-request-id"]
    bucket, obj = record["s3"]["bucket"], record["s3"]["object"]
    assert bucket["name"] == "cf-uploads"
    assert bucket["arn"] == "arn:aws:s3:::cf-uploads"
    assert bucket["ownerIdentity"]["principalId"]
    assert obj["key"] == key
    assert obj["size"] == len(body)
    assert obj["eTag"] == hashlib.md5(body).hexdigest()  # noqa: S324 (S3's ETag)
    assert obj["sequencer"]


def test_s3_object_removed(app: Deployment) -> None:
    run = uuid.uuid4().hex[:8]
    s3 = app.aws("s3")
    poll(
        lambda: s3.get_bucket_notification_configuration(Bucket="cf-archive").get(
            "LambdaFunctionConfigurations"
        ),
        timeout=30,
        what="the bucket wired",
    )
    s3.put_object(Bucket="cf-archive", Key=f"old-{run}", Body=b"x")

    s3.delete_object(Bucket="cf-archive", Key=f"old-{run}")

    items = app.await_observed("removed", lambda items: f"old-{run}" in keys(items))
    record = next(item for item in items if item["key"] == f"old-{run}")["record"]
    assert record["eventName"].startswith("ObjectRemoved:")
    assert "size" not in record["s3"]["object"]


# --- EventBridge ---------------------------------------------------------------------------------
def put_event(app: Deployment, source: str, detail_type: str, detail: dict[str, Any]) -> None:
    response = app.aws("events").put_events(
        Entries=[{"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}]
    )
    assert response["FailedEntryCount"] == 0, response


def test_eventbridge_rule_is_named_and_targeted_as_chalice_deploys_it(app: Deployment) -> None:
    events = app.aws("events")
    rule = poll(
        lambda: events.describe_rule(Name="cf-sources-dev-big_orders-event"),
        timeout=30,
        what="the rule",
    )

    assert json.loads(rule["EventPattern"]) == {
        "source": ["cf.orders"],
        "detail-type": ["OrderPlaced"],
        "detail": {"size": ["big"]},
    }
    targets = events.list_targets_by_rule(Rule="cf-sources-dev-big_orders-event")["Targets"]
    assert [target["Arn"].rsplit(":", 1)[-1] for target in targets] == ["cf-sources-dev-big_orders"]


def test_eventbridge_pattern_decides_what_is_delivered(app: Deployment) -> None:
    # GIVEN a rule for big OrderPlaced events from cf.orders
    run = uuid.uuid4().hex[:8]
    poll(
        lambda: app.aws("events").list_targets_by_rule(Rule="cf-sources-dev-big_orders-event")[
            "Targets"
        ],
        timeout=30,
        what="the rule's target",
    )

    # WHEN events that miss the pattern are put, then one that matches
    put_event(app, "cf.orders", "OrderPlaced", {"size": "small", "run": run})
    put_event(app, "cf.other", "OrderPlaced", {"size": "big", "run": run})
    put_event(app, "cf.orders", "OrderCancelled", {"size": "big", "run": run})
    put_event(app, "cf.orders", "OrderPlaced", {"size": "big", "run": run})

    # THEN only that one reaches the function, in EventBridge's envelope
    items = app.await_observed(
        "big_orders", lambda items: any(item["detail"].get("run") == run for item in items)
    )
    mine = [item for item in items if item["detail"].get("run") == run]
    assert [item["detail"] for item in mine] == [{"size": "big", "run": run}]
    event = mine[0]["event"]
    assert event["version"] == "0"
    assert event["source"] == "cf.orders"
    assert event["detail-type"] == "OrderPlaced"
    assert event["region"] == "us-east-1"
    assert len(event["account"]) == 12
    assert event["time"].endswith("Z")
    assert event["id"]
    assert event["resources"] == []


# --- Kinesis -------------------------------------------------------------------------------------
def put_records(app: Deployment, stream: str, *data: str) -> None:
    kinesis = app.aws("kinesis")
    for item in data:
        kinesis.put_record(StreamName=stream, Data=item.encode(), PartitionKey="one")


def received(items: list[dict[str, Any]], run: str) -> list[str]:
    return [value for item in items for value in item["data"] if run in value]


def test_kinesis_records_in_shard_order_in_batches(app: Deployment) -> None:
    run = uuid.uuid4().hex[:8]
    sent = [f"{run}-{index}" for index in range(12)]

    put_records(app, "cf-stream", *sent)

    items = app.await_observed("kinesis_reader", lambda items: len(received(items, run)) >= 12)
    assert received(items, run) == sent
    assert max(len(item["data"]) for item in items) <= 10
    record = next(item for item in items if run in item["data"][0])["records"][0]
    assert record["eventSource"] == "aws:kinesis"
    assert record["eventName"] == "aws:kinesis:record"
    assert record["eventSourceARN"].endswith(":stream/cf-stream")
    assert record["kinesis"]["partitionKey"] == "one"
    assert record["eventID"] == f"shardId-000000000000:{record['kinesis']['sequenceNumber']}"


def succeeded(item: dict[str, Any]) -> bool:
    """Whether the invocation that observed ``item`` succeeded (only a first attempt at a
    batch with a "fail" record raises)."""
    return item["attempt"] > 1 or not any(value.startswith("fail") for value in item["data"])


def test_kinesis_failed_batch_is_retried_before_later_records(app: Deployment) -> None:
    # GIVEN a function whose first attempt at a batch with a "fail" record raises
    run = uuid.uuid4().hex[:8]
    sent = [f"ok-{run}-1", f"fail-{run}-2", f"ok-{run}-3"]

    # WHEN records are put, one of them marked to fail
    put_records(app, "cf-flaky-stream", *sent)

    # THEN the failed batch comes again, whole, and the records are handled once, in order
    items = app.await_observed(
        "kinesis_retry",
        lambda items: received([item for item in items if succeeded(item)], run) == sent,
    )
    mine = [item for item in items if any(run in value for value in item["data"])]
    (failed,) = [item for item in mine if not succeeded(item)]
    assert [item["attempt"] for item in mine if item["data"] == failed["data"]] == [1, 2]
    assert received([item for item in mine if succeeded(item)], run) == sent
