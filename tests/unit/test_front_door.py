"""The API behind the front doors LocalStack cannot deploy: an HTTP API (payload format 1.0) and
a Lambda function URL (payload format 2.0), with the events shaped as AWS documents them
(docs.aws.amazon.com/apigateway: "Working with AWS Lambda proxy integrations for HTTP APIs"),
handed to the Lambda handler itself in-process (moto's mock behind it)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from chalicelib.api.front_door import match_route
from chalicelib.wiring import Services

Event = dict[str, Any]


def http_api_event(
    method: str,
    path: str,
    *,
    route: str = "$default",
    key: str | None = None,
    body: Any = None,
    query: dict[str, list[str]] | None = None,
) -> Event:
    """Payload format 1.0 of an HTTP API: ``resource`` is the route's path."""
    headers = {"content-type": "application/json", "host": "abc123.execute-api.amazonaws.com"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    return {
        "version": "1.0",
        "resource": route,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": {name: values[-1] for name, values in query.items()}
        if query
        else None,
        "multiValueQueryStringParameters": query,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "extendedRequestId": "request-id",
            "httpMethod": method,
            "identity": {"sourceIp": "192.0.2.1", "userAgent": "test"},
            "path": path,
            "protocol": "HTTP/1.1",
            "requestId": "id=",
            "requestTime": "04/Mar/2020:19:15:17 +0000",
            "requestTimeEpoch": 1583349317135,
            "resourceId": None,
            "resourcePath": path,
            "stage": "$default",
        },
        "pathParameters": None,
        "stageVariables": None,
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def function_url_event(
    method: str,
    path: str,
    *,
    key: str | None = None,
    body: Any = None,
    raw_query: str = "",
    base64_body: bool = False,
) -> Event:
    """Payload format 2.0, as a function URL sends it."""
    headers = {"content-type": "application/json", "host": "abc.lambda-url.us-east-1.on.aws"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    text = None if body is None else json.dumps(body)
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abc",
            "domainName": "abc.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abc",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "test",
            },
            "requestId": "id",
            "routeKey": "$default",
            "stage": "$default",
            "time": "12/Mar/2020:19:03:58 +0000",
            "timeEpoch": 1583348638390,
        },
        "body": base64.b64encode(text.encode()).decode() if text and base64_body else text,
        "isBase64Encoded": base64_body and text is not None,
    }


def invoke(event: Event) -> tuple[int, dict[str, str], Any]:
    import app

    reply = app.app(event, None)
    body = reply.get("body") or ""
    if reply.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    headers = {name.lower(): value for name, value in reply["headers"].items()}
    return reply["statusCode"], headers, json.loads(body) if body else None


@pytest.fixture
def key(dev_services: Services) -> str:
    return dev_services.tenants.issue_key("acme").api_key


def test_an_http_api_route_with_a_parameter_reaches_its_view(key: str) -> None:
    # GIVEN a recipient stored through an HTTP API event of its route
    put = http_api_event(
        "PUT",
        "/v1/recipients/alice",
        route="/v1/recipients/{recipient_id}",
        key=key,
        body={"name": "Alice"},
    )
    assert invoke(put)[0] == 200

    # WHEN it is read back through the greedy $default route's shape
    status, _, body = invoke(http_api_event("GET", "/v1/recipients/alice", key=key))

    # THEN the view got the path parameter
    assert status == 200
    assert body["recipient_id"] == "alice"
    assert body["name"] == "Alice"


def test_http_api_query_strings_reach_the_view(key: str) -> None:
    status, headers, body = invoke(
        http_api_event("GET", "/v1/notifications", key=key, query={"limit": ["0"]})
    )

    assert status == 422
    assert headers["content-type"].startswith("application/problem+json")
    assert body["errors"][0]["loc"] == ["query", "limit"]


def test_http_api_unknown_paths_are_404_and_unserved_methods_405(key: str) -> None:
    status, headers, _ = invoke(http_api_event("GET", "/v1/nothing/here", key=key))
    assert status == 404
    assert headers["content-type"].startswith("application/problem+json")

    status, headers, _ = invoke(http_api_event("PATCH", "/v1/notifications", key=key))
    assert status == 405
    assert headers["allow"]


def test_http_api_needs_a_key_on_every_v1_path(dev_services: Services) -> None:
    status, _, body = invoke(http_api_event("GET", "/v1/no-such-route"))

    assert status == 401
    assert body["status"] == 401


def test_a_function_url_post_is_accepted_and_read_back(key: str) -> None:
    # GIVEN a recipient
    invoke(function_url_event("PUT", "/v1/recipients/bob", key=key, body={}))

    # WHEN a notification is posted through a function URL (a base64 body, as for binary types)
    status, headers, created = invoke(
        function_url_event(
            "POST",
            "/v1/notifications",
            key=key,
            body={"recipient_id": "bob", "title": "Disk almost full"},
            base64_body=True,
        )
    )

    # THEN it is accepted, and GET with a query string reads it
    assert status == 202, created
    assert headers["location"] == f"/v1/notifications/{created['id']}"
    status, _, listed = invoke(
        function_url_event(
            "GET", "/v1/notifications", key=key, raw_query="recipient_id=bob&limit=5"
        )
    )
    assert status == 200
    assert [item["id"] for item in listed["items"]] == [created["id"]]


def test_a_function_url_answers_unknown_paths_and_health_like_the_gateway(key: str) -> None:
    assert invoke(function_url_event("GET", "/health"))[0] == 200
    status, headers, body = invoke(function_url_event("DELETE", "/nope/deeper", key=key))
    assert status == 404
    assert headers["content-type"].startswith("application/problem+json")
    assert body["status"] == 404


def test_a_function_url_path_parameter_is_percent_decoded(key: str) -> None:
    status, _, body = invoke(function_url_event("PUT", "/v1/recipients/has%20space", key=key))

    assert status == 422
    assert body["errors"][0]["loc"] == ["path", "recipient_id"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", ("/", {})),
        ("/v1/recipients/alice", ("/v1/recipients/{id}", {"id": "alice"})),
        ("/v1/recipients/alice/inbox", ("/v1/recipients/{id}/inbox", {"id": "alice"})),
        ("/v1/dead-letters", ("/v1/dead-letters", {})),
        ("/v1/a/b/c", ("/{proxy+}", {"proxy": "v1/a/b/c"})),
    ],
)
def test_routes_match_as_api_gateway_chooses(
    path: str, expected: tuple[str, dict[str, str]]
) -> None:
    templates = [
        "/",
        "/{proxy+}",
        "/v1/recipients/{id}",
        "/v1/recipients/{id}/inbox",
        "/v1/{collection}",
        "/v1/dead-letters",
    ]

    assert match_route(path, templates) == expected
