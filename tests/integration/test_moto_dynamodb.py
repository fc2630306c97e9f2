"""The local cloud's corrections of moto's DynamoDB keep its answers: a failed transaction leaves
nothing behind (only the items it names are backed up), and a query of a partition or an index
returns what it did before (only its partition is read, the table is not sorted)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from infra.provision import Provisioned
from tests.integration.conftest import Moto


@pytest.fixture
def db(moto: Moto, provisioned: Provisioned) -> Any:
    return moto.client("dynamodb")


def item(pk: str, sk: str, **attributes: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}, **{k: {"S": v} for k, v in attributes.items()}}


def test_a_failed_transaction_restores_every_item_it_named(db: Any) -> None:
    # GIVEN an item, and a transaction that changes it, adds another, then fails a condition
    pk = f"P#{uuid.uuid4().hex}"
    db.put_item(TableName="tocsin", Item=item(pk, "a", v="before"))
    # WHEN it runs
    with pytest.raises(ClientError) as failure:
        db.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "tocsin", "Item": item(pk, "a", v="after")}},
                {"Put": {"TableName": "tocsin", "Item": item(pk, "b", v="new")}},
                {
                    "Update": {
                        "TableName": "tocsin",
                        "Key": item(pk, "c"),
                        "UpdateExpression": "SET v = :v",
                        "ConditionExpression": "attribute_exists(pk)",
                        "ExpressionAttributeValues": {":v": {"S": "x"}},
                    }
                },
            ]
        )
    # THEN it was cancelled and nothing of it stands
    assert failure.value.response["Error"]["Code"] == "TransactionCanceledException"
    found = db.query(
        TableName="tocsin",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
    )["Items"]
    assert found == [item(pk, "a", v="before")]


def test_a_successful_transaction_writes_every_item(db: Any) -> None:
    pk = f"P#{uuid.uuid4().hex}"
    db.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "tocsin", "Item": item(pk, str(index))}} for index in range(3)
        ]
    )
    found = db.query(
        TableName="tocsin",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
    )["Items"]
    assert [entry["sk"]["S"] for entry in found] == ["0", "1", "2"]


def test_partition_and_index_queries_page_in_order(db: Any) -> None:
    pk, index_pk = f"P#{uuid.uuid4().hex}", f"G#{uuid.uuid4().hex}"
    for number in range(7):
        db.put_item(
            TableName="tocsin",
            Item=item(pk, f"{number:02d}", gsi1pk=index_pk, gsi1sk=f"{9 - number:02d}"),
        )
    db.put_item(TableName="tocsin", Item=item(f"{pk}x", "00", gsi1pk=f"{index_pk}x", gsi1sk="0"))
    table = [
        entry["sk"]["S"]
        for entry in db.query(
            TableName="tocsin",
            KeyConditionExpression="pk = :pk AND sk >= :from",
            ExpressionAttributeValues={":pk": {"S": pk}, ":from": {"S": "03"}},
            ScanIndexForward=False,
            Limit=3,
        )["Items"]
    ]
    assert table == ["06", "05", "04"]
    page = db.query(
        TableName="tocsin",
        IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :pk",
        ExpressionAttributeValues={":pk": {"S": index_pk}},
        Limit=4,
    )
    assert [entry["gsi1sk"]["S"] for entry in page["Items"]] == ["03", "04", "05", "06"]
    rest = db.query(
        TableName="tocsin",
        IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :pk",
        ExpressionAttributeValues={":pk": {"S": index_pk}},
        ExclusiveStartKey=page["LastEvaluatedKey"],
    )
    assert [entry["gsi1sk"]["S"] for entry in rest["Items"]] == ["07", "08", "09"]
