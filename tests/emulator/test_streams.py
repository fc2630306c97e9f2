"""DynamoDB stream -> function: changes in order, in batches, with NEW_AND_OLD_IMAGES."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.emulator.backend import Backend, Deployment
from tests.harness import poll

pytestmark = pytest.mark.xdist_group("streams")

TABLE = "cf-watched"  # resources.json


@pytest.fixture(scope="module")
def app(backend: Backend) -> Deployment:
    return backend.deploy("streams")


def changes(items: list[dict[str, Any]], keys: set[str]) -> list[dict[str, Any]]:
    return [
        change for item in items for change in item["changes"] if change["keys"]["id"]["S"] in keys
    ]


def await_stream_reader(app: Deployment) -> None:
    """The function reads from the stream's LATEST position: writes made before it started
    reading are never delivered. Probe until one is."""
    dynamodb = app.aws("dynamodb")

    def probe_seen() -> bool:
        key = f"probe-{uuid.uuid4().hex[:8]}"
        dynamodb.put_item(TableName=TABLE, Item={"id": {"S": key}})
        try:
            app.await_observed("stream", lambda items: bool(changes(items, {key})), timeout=5)
        except AssertionError:
            return False
        return True

    poll(probe_seen, timeout=90, interval=0.1, what="the stream function reading")


def test_stream_delivers_changes_in_order_with_new_and_old_images(app: Deployment) -> None:
    await_stream_reader(app)
    dynamodb = app.aws("dynamodb")
    first, second = f"k1-{uuid.uuid4().hex[:8]}", f"k2-{uuid.uuid4().hex[:8]}"

    dynamodb.put_item(TableName=TABLE, Item={"id": {"S": first}, "v": {"N": "1"}})
    dynamodb.update_item(
        TableName=TABLE,
        Key={"id": {"S": first}},
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"N": "2"}},
    )
    dynamodb.delete_item(TableName=TABLE, Key={"id": {"S": first}})
    dynamodb.put_item(TableName=TABLE, Item={"id": {"S": second}, "v": {"N": "3"}})

    items = app.await_observed("stream", lambda items: len(changes(items, {first, second})) >= 4)

    seen = changes(items, {first, second})
    assert [(change["event"], change["keys"]["id"]["S"]) for change in seen] == [
        ("INSERT", first),
        ("MODIFY", first),
        ("REMOVE", first),
        ("INSERT", second),
    ]
    insert, modify, remove, _ = seen
    assert insert["new"] == {"id": {"S": first}, "v": {"N": "1"}}
    assert not insert["old"]
    assert modify["old"] == {"id": {"S": first}, "v": {"N": "1"}}
    assert modify["new"] == {"id": {"S": first}, "v": {"N": "2"}}
    assert remove["old"] == {"id": {"S": first}, "v": {"N": "2"}}
    assert not remove["new"]
    assert {change["view"] for change in seen} == {"NEW_AND_OLD_IMAGES"}
    batches = [len(changes([item], {first, second})) for item in items]
    assert max(batches) > 1  # written within the 1 s batching window: delivered together
    assert max(len(item["changes"]) for item in items) <= 10
