"""API Gateway (REST) in front of a Chalice app, as AWS serves it: what the gateway answers
itself (unknown resources and methods, CORS preflights, authorizers, API keys), and how it
shapes the app's answers (Content-Type, binary media) and the request context (stage)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
import requests

from tests.emulator.backend import Backend, Deployment

pytestmark = pytest.mark.xdist_group("api_gateway")

# The 1x1 PNG the app's /image answers.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)

MISSING_TOKEN = {"message": "Missing Authentication Token"}


@pytest.fixture(scope="module")
def app(backend: Backend) -> Deployment:
    return backend.deploy("api_gateway")


def get(app: Deployment, path: str, **kwargs: Any) -> requests.Response:
    return requests.get(f"{app.api_url}{path}", timeout=30, **kwargs)


def jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'kid': 'local'})}.{part(claims)}.c2lnbmF0dXJl"


# --- what the gateway answers itself ---------------------------------------------------------
def test_unknown_resource_is_403_missing_authentication_token(app: Deployment) -> None:
    response = get(app, "/nothing/here")

    assert response.status_code == 403
    assert response.json() == MISSING_TOKEN


def test_unserved_method_is_403_missing_authentication_token(app: Deployment) -> None:
    response = requests.delete(f"{app.api_url}/items", timeout=30)

    assert response.status_code == 403
    assert response.json() == MISSING_TOKEN


def test_cors_preflight_is_answered_with_chalice_cors_headers(app: Deployment) -> None:
    # GIVEN a route with cors=True serving GET and PUT

    # WHEN a browser sends its preflight
    response = requests.options(
        f"{app.api_url}/cors",
        headers={"Origin": "https://site.example", "Access-Control-Request-Method": "PUT"},
        timeout=30,
    )

    # THEN the gateway answers it with the headers Chalice configures
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    methods = {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
    assert methods == {"GET", "PUT", "OPTIONS"}
    allowed = {h.strip() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"Authorization", "Content-Type", "X-Api-Key"} <= allowed


def test_cors_preflight_of_a_custom_cors_config(app: Deployment) -> None:
    response = requests.options(f"{app.api_url}/cors-custom", timeout=30)

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://example.com"
    assert response.headers["Access-Control-Max-Age"] == "600"
    assert response.headers["Access-Control-Expose-Headers"] == "X-Exposed"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "X-Special-Header" in response.headers["Access-Control-Allow-Headers"]


def test_cors_route_answers_with_its_origin_header(app: Deployment) -> None:
    response = get(app, "/cors")

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"


# --- authorizers ---------------------------------------------------------------------------------
def test_token_authorizer_without_a_token_is_401(app: Deployment) -> None:
    response = get(app, "/private")

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}


def test_token_authorizer_that_raises_unauthorized_is_401(app: Deployment) -> None:
    response = get(app, "/private", headers={"Authorization": f"nope-{uuid.uuid4().hex}"})

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}


def test_token_authorizer_policy_not_allowing_the_route_is_403(app: Deployment) -> None:
    response = get(app, "/private", headers={"Authorization": f"other-{uuid.uuid4().hex}"})

    assert response.status_code == 403
    assert "not authorized" in response.json()["Message"]


def test_token_authorizer_context_reaches_the_handler(app: Deployment) -> None:
    # GIVEN a token the authorizer allows, with a context
    run = uuid.uuid4().hex

    # WHEN a request carries it
    response = get(app, "/private", headers={"Authorization": f"allow-{run}"})

    # THEN the handler sees the context and the principal in requestContext.authorizer
    assert response.status_code == 200
    assert response.json()["authorizer"] == {"tier": "gold", "principalId": f"user-{run}"}


def test_token_authorizer_result_is_cached_for_its_ttl(app: Deployment) -> None:
    # GIVEN an authorizer with a TTL of 300 s
    token = f"allow-{uuid.uuid4().hex}"

    # WHEN two requests (to two resources its policy allows) carry the same token
    first = get(app, "/private", headers={"Authorization": token})
    second = get(app, "/private/deeper", headers={"Authorization": token})

    # THEN the authorizer ran once
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["authorizer"]["principalId"] == first.json()["authorizer"]["principalId"]
    calls = [item for item in app.observed("token_auth") if item["token"] == token]
    assert len(calls) == 1
    assert calls[0]["method_arn"].startswith("arn:aws:execute-api:")
    assert calls[0]["method_arn"].endswith("/GET/private")


def test_request_authorizer_without_its_identity_is_401(app: Deployment) -> None:
    response = get(app, "/tenant", headers={"X-User": "alice"})

    assert response.status_code == 401


def test_request_authorizer_context_reaches_the_handler(app: Deployment) -> None:
    tenant = uuid.uuid4().hex

    response = get(app, "/tenant", params={"tenant": tenant}, headers={"X-User": "alice"})

    assert response.status_code == 200
    authorizer = response.json()["authorizer"]
    assert authorizer["principalId"] == "alice"
    assert authorizer["tenant"] == tenant
    assert authorizer["type"] == "REQUEST"


def test_request_authorizer_that_refuses_is_401(app: Deployment) -> None:
    response = get(app, "/tenant", params={"tenant": "t"}, headers={"X-User": "mallory"})

    assert response.status_code == 401


def test_cognito_authorizer_without_a_token_is_401(app: Deployment) -> None:
    response = get(app, "/cognito")

    assert response.status_code == 401


def test_cognito_authorizer_claims_reach_the_handler(app: Deployment) -> None:
    claims = {"sub": uuid.uuid4().hex, "cognito:username": "alice", "token_use": "id"}

    response = get(app, "/cognito", headers={"Authorization": jwt(claims)})

    assert response.status_code == 200
    assert response.json()["claims"]["cognito:username"] == "alice"


def test_iam_authorizer_without_a_signature_is_403(app: Deployment) -> None:
    response = get(app, "/iam")

    assert response.status_code == 403
    assert response.json() == MISSING_TOKEN


def test_api_key_required_without_a_key_is_403(app: Deployment) -> None:
    response = get(app, "/keyed")

    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}


def test_api_key_required_with_an_unknown_key_is_403(app: Deployment) -> None:
    response = get(app, "/keyed", headers={"x-api-key": f"unknown-{uuid.uuid4().hex}"})

    assert response.status_code == 403


def test_api_key_required_with_a_valid_key_passes(app: Deployment) -> None:
    key = app.api_key()

    response = get(app, "/keyed", headers={"x-api-key": key})

    assert response.status_code == 200
    assert response.json() == {"api_key": key}


# --- responses and the request context -----------------------------------------------------
def test_response_without_content_type_goes_out_as_json(app: Deployment) -> None:
    response = get(app, "/no-content-type")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"plain": True}


def test_binary_response_when_accept_names_its_type(app: Deployment) -> None:
    response = get(app, "/image", headers={"Accept": "image/png"})

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert response.content == PNG


def test_binary_response_is_base64_text_when_accept_does_not_name_it_first(
    app: Deployment,
) -> None:
    # API Gateway looks at the first media type of Accept only: */* is not image/png.
    response = get(app, "/image", headers={"Accept": "*/*, image/png"})

    assert response.status_code == 200
    assert base64.b64decode(response.content) == PNG


def test_request_context_stage_and_path_use_the_api_gateway_stage(app: Deployment) -> None:
    # GIVEN api_gateway_stage "v1" for the Chalice stage "dev"

    # WHEN a route reads its request context
    response = get(app, "/items/42")

    # THEN stage and path are API Gateway's
    assert response.status_code == 200
    body = response.json()
    assert body["item_id"] == "42"
    assert body["stage"] == "v1"
    assert body["path"] == "/v1/items/42"


def test_api_handler_is_named_as_chalice_deploys_it(app: Deployment) -> None:
    assert get(app, "/items/1").json()["function_name"] == "cf-api-dev"
