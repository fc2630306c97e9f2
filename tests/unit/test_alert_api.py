"""The alert events route at its edge (in-process API outside the local stage, moto's mock):
what api.md's `{str: str}` labels admit, and where a missing field is reported."""

from __future__ import annotations

import json
from typing import Any

import pytest
from werkzeug.test import Client

from chalicelib.wiring import Services


def post_event(client: Client, key: str, body: dict[str, Any]) -> tuple[int, Any]:
    response = client.post(
        "/v1/alerts/events",
        headers={"Authorization": f"Bearer {key}"},
        data=json.dumps(body),
        content_type="application/json",
    )
    return response.status_code, response.get_json()


def test_labels_take_any_one_line_name(dev_services: Services, client: Client) -> None:
    key = dev_services.tenants.issue_key("labels").api_key
    labels = {"app.kubernetes.io/name": "db", "team name": "storage"}
    status, body = post_event(client, key, {"action": "trigger", "summary": "x", "labels": labels})
    assert status == 202, body
    status, body = post_event(
        client, key, {"action": "trigger", "summary": "x", "labels": {"bad\nname": "v"}}
    )
    assert status == 422, body


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"action": "trigger"}, ["body", "summary"]),
        ({"action": "acknowledge"}, ["body", "dedup_key"]),
        ({"action": "resolve", "summary": "x"}, ["body", "dedup_key"]),
    ],
)
def test_a_missing_field_is_422_at_that_field(
    dev_services: Services, client: Client, body: dict[str, Any], loc: list[str]
) -> None:
    key = dev_services.tenants.issue_key("fields").api_key
    status, problem = post_event(client, key, body)
    assert status == 422, problem
    assert [error["loc"] for error in problem["errors"]] == [loc]
