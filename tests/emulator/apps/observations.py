"""What a conformance fixture function saw, written where the test reads it back.

Copied into every fixture app as ``chalicelib/observations.py`` when the app is deployed (to the
emulator or to LocalStack). It knows nothing of Tocsin: only boto3, which Lambda's Python
runtime provides, and a DynamoDB table the test creates. Times are the handler's wall clock;
the tests compare them with their own (same machine).
"""

from __future__ import annotations

import functools
import json
import os
import time
import uuid
from typing import Any

import boto3

TABLE = os.environ.get("OBSERVATIONS_TABLE", "cf-observations")


@functools.cache
def _table() -> Any:
    return boto3.resource("dynamodb").Table(TABLE)


def observe(function: str, **facts: Any) -> None:
    """Records one observation of ``function``; ``facts`` must be JSON-serialisable."""
    now = time.time()
    _table().put_item(
        Item={
            "function": function,
            "at": f"{now:.6f}-{uuid.uuid4().hex[:8]}",
            "facts": json.dumps({"at": now, "pid": os.getpid(), **facts}),
        }
    )


def observed(function: str) -> list[dict[str, Any]]:
    """Every observation of ``function`` so far, oldest first (a consistent read)."""
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {
        "KeyConditionExpression": "#f = :f",
        "ExpressionAttributeNames": {"#f": "function"},
        "ExpressionAttributeValues": {":f": function},
        "ConsistentRead": True,
    }
    while True:
        page = _table().query(**query)
        items += [json.loads(item["facts"]) for item in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            return items
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
