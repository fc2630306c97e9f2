"""What a deploy refuses before CloudFormation sees it: a change that would replace or orphan a
table (or a queue, or a topic), or create several indexes in one update."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from chalicelib.settings import Stage
from infra.resources import stage_settings
from infra.template import build_template, table_id
from infra.upgrade import refusals

Json = dict[str, Any]


@pytest.fixture(scope="module")
def deployed() -> Json:
    return build_template(Stage.DEV)


def table_of(template: Json) -> Json:
    resource: Json = template["Resources"][table_id(stage_settings(Stage.DEV).table_name)]
    return resource


def test_the_same_template_again_is_not_refused(deployed: Json) -> None:
    assert refusals(deployed, copy.deepcopy(deployed)) == []


def test_code_environment_and_routes_may_change(deployed: Json) -> None:
    new = copy.deepcopy(deployed)
    for resource in new["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            resource["Properties"]["Environment"]["Variables"]["NEW_VALUE"] = "1"
            resource["Properties"]["MemorySize"] = 256

    assert refusals(deployed, new) == []


def test_a_new_key_schema_is_refused(deployed: Json) -> None:
    new = copy.deepcopy(deployed)
    table_of(new)["Properties"]["KeySchema"][1]["AttributeName"] = "other"

    assert any("KeySchema replaces it" in problem for problem in refusals(deployed, new))


def test_a_renamed_table_is_refused(deployed: Json) -> None:
    new = copy.deepcopy(deployed)
    table_of(new)["Properties"]["TableName"] = "tocsin-dev-2"

    assert any("TableName replaces it" in problem for problem in refusals(deployed, new))


def test_a_table_that_leaves_the_template_is_refused(deployed: Json) -> None:
    new = copy.deepcopy(deployed)
    logical_id = table_id(stage_settings(Stage.DEV).table_name)
    new["Resources"]["Renamed" + logical_id] = new["Resources"].pop(logical_id)

    [problem] = refusals(deployed, new)

    assert "leaves the template" in problem


def test_a_queue_that_becomes_fifo_is_refused(deployed: Json) -> None:
    new = copy.deepcopy(deployed)
    queue = next(r for r in new["Resources"].values() if r["Type"] == "AWS::SQS::Queue")
    queue["Properties"]["FifoQueue"] = True

    assert any("FifoQueue replaces it" in problem for problem in refusals(deployed, new))


def test_one_new_index_per_update_passes_two_are_refused(deployed: Json) -> None:
    def with_indexes(*names: str) -> Json:
        new = copy.deepcopy(deployed)
        properties = table_of(new)["Properties"]
        for name in names:
            properties["AttributeDefinitions"].append({"AttributeName": name, "AttributeType": "S"})
            properties["GlobalSecondaryIndexes"].append(
                {
                    "IndexName": name,
                    "KeySchema": [{"AttributeName": name, "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            )
        return new

    assert refusals(deployed, with_indexes("by_topic")) == []
    [problem] = refusals(deployed, with_indexes("by_topic", "by_alert"))
    assert "one global secondary index" in problem


def test_an_index_whose_keys_change_is_refused(deployed: Json) -> None:
    new = copy.deepcopy(deployed)
    index = table_of(new)["Properties"]["GlobalSecondaryIndexes"][0]
    index["Projection"] = {"ProjectionType": "ALL"}

    [problem] = refusals(deployed, new)

    assert f"index {index['IndexName']}" in problem
