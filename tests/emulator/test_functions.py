"""Functions as Chalice deploys them: names and ARNs with the ``{app_name}-{stage}-`` prefix,
every function callable through the Lambda Invoke API (RequestResponse and Event, by name or
ARN, from the test and from another function), and the SQS mapping AWS refuses."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.emulator.backend import Backend, Deployment
from tests.harness import poll

pytestmark = pytest.mark.xdist_group("functions")


@pytest.fixture(scope="module")
def app(backend: Backend) -> Deployment:
    return backend.deploy("functions")


def invoke(app: Deployment, function: str, payload: Any, **extra: Any) -> dict[str, Any]:
    response: dict[str, Any] = app.aws("lambda").invoke(
        FunctionName=function, Payload=json.dumps(payload).encode(), **extra
    )
    response["Body"] = response["Payload"].read()
    return response


def test_functions_are_named_as_chalice_deploys_them(app: Deployment) -> None:
    # GIVEN an SQS handler named "named" in the app "cf-functions", stage "dev"
    body = uuid.uuid4().hex

    # WHEN it handles a message
    app.send("cf-named", body)
    items = app.await_observed("named", lambda items: any(i["body"] == body for i in items))

    # THEN its context and environment carry the deployed name and its ARN
    item = next(item for item in items if item["body"] == body)
    assert item["function_name"] == "cf-functions-dev-named"
    assert item["env_name"] == "cf-functions-dev-named"
    assert item["arn"].startswith("arn:aws:lambda:us-east-1:")
    assert item["arn"].endswith(":function:cf-functions-dev-named")


def test_invoke_request_response_returns_the_result(app: Deployment) -> None:
    run = uuid.uuid4().hex

    response = invoke(app, app.function_name("plain"), {"run": run})

    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    result = json.loads(response["Body"])
    assert result["echo"] == {"run": run}
    assert result["function_name"] == "cf-functions-dev-plain"
    assert result["arn"].endswith(":function:cf-functions-dev-plain")


def test_invoke_by_arn(app: Deployment) -> None:
    arn = json.loads(invoke(app, app.function_name("plain"), {})["Body"])["arn"]
    run = uuid.uuid4().hex

    response = invoke(app, arn, {"run": run})

    assert json.loads(response["Body"])["echo"] == {"run": run}


def test_invoke_event_runs_the_function_asynchronously(app: Deployment) -> None:
    run = uuid.uuid4().hex

    response = invoke(app, app.function_name("plain"), {"run": run}, InvocationType="Event")

    assert response["StatusCode"] == 202
    assert response["Body"] == b""
    app.await_observed("plain", lambda items: any(i["event"] == {"run": run} for i in items))


def test_invoke_of_a_failing_function_reports_the_error(app: Deployment) -> None:
    response = invoke(app, app.function_name("plain"), {"fail": True})

    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(response["Body"])
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "asked to fail"


def test_invoke_of_an_unknown_function_is_resource_not_found(app: Deployment) -> None:
    with pytest.raises(ClientError) as raised:
        invoke(app, app.function_name("nothing-here"), {})

    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_function_invokes_another_through_the_lambda_api(app: Deployment) -> None:
    run = uuid.uuid4().hex

    response = invoke(app, app.function_name("relay"), {"payload": {"run": run}})

    assert "FunctionError" not in response, response["Body"]
    assert json.loads(response["Body"])["echo"] == {"run": run}


def test_queue_visibility_shorter_than_function_timeout_is_refused(app: Deployment) -> None:
    # GIVEN slow_worker's timeout is 10 s and its queue's visibility timeout 5 s

    # WHEN the app is deployed (the backend tried to map the queue to the function)
    refused = poll(
        lambda: app.refusals().get("slow_worker"), timeout=30, what="the refusal of slow_worker"
    )

    # THEN the mapping is refused with AWS's reason
    assert "InvalidParameterValueException" in refused
    assert "visibility timeout" in refused.lower()
