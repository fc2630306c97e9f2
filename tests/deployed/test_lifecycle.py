"""Upgrades keep data; destroy keeps the table. These rows run last (conftest orders them): the
upgrade deploys a changed version over the stack, destroy deletes it."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import requests

from tests.deployed.deployment import ROOT, STAGE, DeployedStack, make, state_file
from tests.harness import Api, Receiver, poll, receiver

# What `chalice package` and the template read of a project.
PROJECT_FILES = (
    "app.py",
    "chalicelib",
    ".chalice/config.json",
    "requirements.txt",
    ".python-version",
)
LABEL = "upgraded-" + uuid.uuid4().hex[:6]
PROBE_ROUTE = """

@app.route("/upgrade-probe", methods=["GET"])
def upgrade_probe() -> dict[str, str]:
    import os

    return {"label": os.environ.get("UPGRADE_LABEL", "")}


install_catch_alls(app)
"""


def changed_version(into: Path) -> Path:
    """A copy of the project with a code change (one more route) and a new environment value,
    and the deployed state (so that the deploy keeps the first key)."""
    for name in PROJECT_FILES:
        source = ROOT / name
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    app = into / "app.py"
    text = app.read_text()
    assert text.rstrip().endswith("install_catch_alls(app)")
    app.write_text(text.rstrip().removesuffix("install_catch_alls(app)").rstrip() + PROBE_ROUTE)
    config_path = into / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    config["stages"][STAGE]["environment_variables"]["UPGRADE_LABEL"] = LABEL
    config_path.write_text(json.dumps(config, indent=2))
    state_file(into).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(state_file(), state_file(into))
    return into


def send(api: Api, recipient: str, count: int, title: str) -> list[str]:
    ids = []
    for index in range(count):
        response = api.notify(recipient_id=recipient, title=f"{title} {index}")
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    return ids


def once_each(hook: Receiver, ids: list[str]) -> bool:
    return all(len(hook.for_notification(notification_id)) == 1 for notification_id in ids)


def inbox_ids(api: Api, recipient: str) -> list[str]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = api.request("GET", f"/v1/recipients/{recipient}/inbox", params=params).json()
        items += page["items"]
        cursor = page["next"]
        if cursor is None:
            return [item["notification_id"] for item in items]


def test_an_upgrade_keeps_every_notification_and_resends_none(
    stack: DeployedStack, tmp_path: Path
) -> None:
    api = stack.client()
    dynamodb = stack.aws("dynamodb")
    with receiver(stack.webhook_secret) as hook:
        # GIVEN notifications delivered before the upgrade, and more in flight as it starts
        recipient = f"r-{uuid.uuid4().hex[:10]}"
        assert api.put_recipient(recipient, webhook_url=hook.url).status_code == 200
        settled = send(api, recipient, 6, "before")
        before = {notification_id: api.wait_final(notification_id) for notification_id in settled}
        assert {item["status"] for item in before.values()} == {"delivered"}
        created_at = dynamodb.describe_table(TableName=stack.table)["Table"]["CreationDateTime"]
        in_flight = send(api, recipient, 6, "during")

        # WHEN a changed version (code and environment) is deployed over it
        upgraded = make(
            "deploy", stack.aws_endpoint_url, f"PROJECT_DIR={changed_version(tmp_path)}"
        )
        assert upgraded.returncode == 0, f"{upgraded.stdout}\n{upgraded.stderr}"
        assert "kept the API key" in upgraded.stderr

        # THEN the new code and value answer at the same URL, with the same key
        probe = requests.get(f"{stack.api_url}/upgrade-probe", timeout=30)
        assert probe.status_code == 200, probe.text
        assert probe.json() == {"label": LABEL}
        # ... every notification reads back as it was, or finished delivering, and none was sent
        # twice
        for notification_id, representation in before.items():
            assert api.notification(notification_id) == representation
        for notification_id in in_flight:
            assert api.wait_final(notification_id, timeout=90)["status"] == "delivered"
        poll(lambda: once_each(hook, settled + in_flight), timeout=30, what="one webhook each")
        assert sorted(inbox_ids(api, recipient)) == sorted(settled + in_flight)
        # ... the table is the one it was (not replaced)
        table = dynamodb.describe_table(TableName=stack.table)["Table"]
        assert table["CreationDateTime"] == created_at
        # ... and new notifications go through, once each
        after = send(api, recipient, 3, "after")
        for notification_id in after:
            assert api.wait_final(notification_id, timeout=60)["status"] == "delivered"
        poll(lambda: once_each(hook, settled + in_flight + after), timeout=30, what="once each")
        assert hook.bad_signatures == 0


def test_destroy_deletes_the_stack_and_keeps_the_table(stack: DeployedStack) -> None:
    # GIVEN the deployed stack and what its table holds
    dynamodb = stack.aws("dynamodb")
    items = dynamodb.scan(TableName=stack.table, Select="COUNT")["Count"]
    functions = set(stack.resources("AWS::Lambda::Function"))
    assert items > 0

    # WHEN it is destroyed
    destroyed = make("destroy", stack.aws_endpoint_url)

    # THEN the stack and its functions are gone, the table and its items are kept and reported
    assert destroyed.returncode == 0, f"{destroyed.stdout}\n{destroyed.stderr}"
    assert f"AWS::DynamoDB::Table {stack.table}" in destroyed.stdout
    summaries = stack.aws("cloudformation").list_stacks()["StackSummaries"]
    assert {
        summary["StackStatus"] for summary in summaries if summary["StackName"] == stack.stack_name
    } <= {"DELETE_COMPLETE"}
    listed = stack.aws("lambda").list_functions()["Functions"]
    assert functions.isdisjoint(function["FunctionName"] for function in listed)
    # (the live stack may still write while it is being deleted: nothing is lost)
    assert dynamodb.scan(TableName=stack.table, Select="COUNT")["Count"] >= items
    assert not state_file().exists()
