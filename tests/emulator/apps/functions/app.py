"""Conformance fixture: function names and ARNs as Chalice deploys them, plain
``lambda_function``s called through the Lambda Invoke API, and an SQS mapping AWS refuses (the
queue's visibility timeout is shorter than the function's timeout)."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
from chalice.app import Chalice, SQSEvent
from chalicelib.observations import observe  # type: ignore[import-not-found]

app = Chalice(app_name="cf-functions")


def _identity(context: Any) -> dict[str, str]:
    return {
        "function_name": context.function_name,
        "arn": context.invoked_function_arn,
        "env_name": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
    }


@app.lambda_function(name="plain")
def plain(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("fail"):
        raise ValueError("asked to fail")
    observe("plain", event=event, **_identity(context))
    return {"echo": event, **_identity(context)}


@app.lambda_function(name="relay")
def relay(event: dict[str, Any], context: Any) -> Any:
    """Calls ``plain`` through the Lambda API, as a function would on AWS."""
    response = boto3.client("lambda").invoke(
        FunctionName="cf-functions-dev-plain", Payload=json.dumps(event["payload"]).encode()
    )
    return json.loads(response["Payload"].read())


@app.on_sqs_message(queue="cf-named", name="named")
def named(event: SQSEvent) -> None:
    for record in event:
        observe("named", body=record.body, **_identity(event.context))


@app.on_sqs_message(queue="cf-short-visibility", name="slow_worker")
def slow_worker(event: SQSEvent) -> None:
    for record in event:
        observe("slow_worker", body=record.body)
