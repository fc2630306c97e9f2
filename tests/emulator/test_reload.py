"""Hot reload: a change to app.py or chalicelib/ is picked up while the emulator runs, and the
emulated cloud keeps its state (queues, their messages, tables). Emulator only: LocalStack
redeploys instead."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.emulator.backend import Backend, Deployment
from tests.harness import poll

pytestmark = pytest.mark.xdist_group("reload")

ADDED_HANDLER = """

@app.on_sqs_message(queue="cf-reload-added", batch_size=1, name="added")
def added(event: SQSEvent) -> None:
    for record in event:
        observe("added", body=record.body, version=VERSION)
"""


@pytest.fixture(scope="module")
def app(backend: Backend) -> Deployment:
    return backend.deploy("reload")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def handled_by(app: Deployment, queue: str, function: str, wanted: dict[str, str]) -> None:
    """Sends messages to ``queue`` until ``function`` handles one with the ``wanted`` facts
    (the first ones after an edit may still meet the old code)."""

    def handled() -> dict[str, Any] | None:
        body = uuid.uuid4().hex
        app.send(queue, body)
        items = app.await_observed(
            function, lambda items: any(item["body"] == body for item in items)
        )
        item = next(item for item in items if item["body"] == body)
        return item if all(item[key] == value for key, value in wanted.items()) else None

    poll(handled, timeout=60, interval=0.2, what=f"{function} running {wanted}")


def test_code_changes_are_picked_up_and_cloud_state_kept(app: Deployment) -> None:
    sqs = app.aws("sqs")
    parked = f"parked-{uuid.uuid4().hex}"
    app.send("cf-parked", parked)
    handled_by(app, "cf-reload", "reloaded", {"version": "app-1", "library": "library-1"})
    observed_before = app.observed("reloaded")

    edit(app.project / "app.py", 'VERSION = "app-1"', 'VERSION = "app-2"')
    (app.project / "app.py").write_text((app.project / "app.py").read_text() + ADDED_HANDLER)
    handled_by(app, "cf-reload", "reloaded", {"version": "app-2", "library": "library-1"})
    handled_by(app, "cf-reload-added", "added", {"version": "app-2"})

    edit(app.project / "chalicelib" / "version.py", "library-1", "library-2")
    handled_by(app, "cf-reload", "reloaded", {"version": "app-2", "library": "library-2"})

    # The cloud was not restarted: the table still holds what was written before, and the
    # unconsumed queue still holds its message, with the queue's own attributes.
    assert app.observed("reloaded")[: len(observed_before)] == observed_before
    assert [message["Body"] for message in app.drain("cf-parked")] == [parked]
    attributes = sqs.get_queue_attributes(
        QueueUrl=app.queue_url("cf-parked"), AttributeNames=["VisibilityTimeout"]
    )["Attributes"]
    assert attributes["VisibilityTimeout"] == "7"
