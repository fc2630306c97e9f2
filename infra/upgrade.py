"""What a deploy must not do to live data, read from the deployed template and the new one before
CloudFormation sees the change.

CloudFormation replaces a resource when a property that cannot change in place changes (a
table's key schema, a queue's FIFO flag, ...). Tables carry fixed names and ``Retain``
policies, so a replacement of one fails rather than swapping in an empty table, but it fails
late, after other resources changed, and a table that leaves the template (a renamed logical
id) stays behind, orphaned, while the new one cannot take its name. This module names such
changes up front so that the deploy refuses them unless asked to go ahead.

The rules follow the "Update requires: Replacement" notes of each property in the
CloudFormation resource reference, for the kinds of resource that hold data or messages.
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

# Per resource type, the properties whose change replaces the resource.
REPLACING_PROPERTIES: dict[str, tuple[str, ...]] = {
    "AWS::DynamoDB::Table": ("TableName", "KeySchema", "LocalSecondaryIndexes"),
    "AWS::SQS::Queue": ("QueueName", "FifoQueue"),
    "AWS::SNS::Topic": ("TopicName", "FifoTopic"),
}


def _indexes(resource: Json) -> dict[str, Json]:
    return {
        index["IndexName"]: index
        for index in resource.get("Properties", {}).get("GlobalSecondaryIndexes", []) or []
    }


def _key_types(resource: Json) -> dict[str, str]:
    """The attribute types of the table's own key (a change of one replaces the table)."""
    properties = resource.get("Properties", {})
    keys = {item["AttributeName"] for item in properties.get("KeySchema", [])}
    return {
        item["AttributeName"]: item["AttributeType"]
        for item in properties.get("AttributeDefinitions", [])
        if item["AttributeName"] in keys
    }


def refusals(deployed: Json, new: Json) -> list[str]:
    """Why deploying ``new`` over ``deployed`` could lose or orphan data; empty when it cannot."""
    found: list[str] = []
    old_resources: Json = deployed.get("Resources", {})
    new_resources: Json = new.get("Resources", {})
    for logical_id, old in sorted(old_resources.items()):
        kind = old.get("Type", "")
        if kind not in REPLACING_PROPERTIES:
            continue
        name = old.get("Properties", {}).get(REPLACING_PROPERTIES[kind][0], logical_id)
        current = new_resources.get(logical_id)
        if current is None:
            found.append(
                f"{kind} {name} ({logical_id}) leaves the template: CloudFormation would "
                "delete it, or orphan it where it is retained; keep its logical id"
            )
            continue
        if current.get("Type") != kind:
            found.append(f"{logical_id} changes type from {kind} to {current.get('Type')}")
            continue
        for prop in REPLACING_PROPERTIES[kind]:
            before = old.get("Properties", {}).get(prop)
            after = current.get("Properties", {}).get(prop)
            if before != after:
                found.append(
                    f"{kind} {name}: changing {prop} replaces it "
                    f"({before!r} -> {after!r}); its data would not follow"
                )
        if kind == "AWS::DynamoDB::Table":
            found += _table_refusals(name, old, current)
    return found


def _table_refusals(name: str, old: Json, new: Json) -> list[str]:
    found: list[str] = []
    if _key_types(old) != _key_types(new):
        found.append(f"table {name}: changing its key's attribute types replaces it")
    before, after = _indexes(old), _indexes(new)
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    if len(added) + len(removed) > 1:
        found.append(
            f"table {name}: one update may create or delete one global secondary index; this one "
            f"adds {added or 'none'} and removes {removed or 'none'}: deploy them one at a time"
        )
    for index in sorted(set(before) & set(after)):
        if before[index] != after[index]:
            found.append(
                f"table {name}: index {index} changes its keys or projection; CloudFormation "
                "cannot change an index in place: add one under a new name, then remove the old"
            )
    return found
