"""Conformance fixture: a REST API as API Gateway serves it in front of Chalice: unknown
resources and unserved methods, CORS preflights, built-in TOKEN authorizers (with their cache),
a REQUEST authorizer, Cognito and IAM authorizers, API keys, responses without a Content-Type,
binary responses, and the request context's stage."""

from __future__ import annotations

import base64
import os
from typing import Any

from chalice.app import (
    Authorizer,
    AuthRequest,
    AuthResponse,
    Chalice,
    CognitoUserPoolAuthorizer,
    CORSConfig,
    IAMAuthorizer,
    Response,
)
from chalicelib.observations import observe  # type: ignore[import-not-found]

app = Chalice(app_name="cf-api")

# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
REGION = os.environ.get("AWS_REGION", "us-east-1")
ACCOUNT = "123456789012"


def _context() -> dict[str, Any]:
    request = app.current_request
    assert request is not None
    return dict(request.context)


@app.route("/items/{item_id}", methods=["GET"])
def get_item(item_id: str) -> dict[str, Any]:
    context = _context()
    lambda_context = app.lambda_context
    return {
        "item_id": item_id,
        "stage": context["stage"],
        "path": context["path"],
        "function_name": getattr(lambda_context, "function_name", None),
    }


@app.route("/items", methods=["POST"])
def create_item() -> dict[str, str]:
    return {"created": "yes"}


@app.route("/cors", methods=["GET", "PUT"], cors=True)
def cors_route() -> dict[str, str]:
    return {"cors": "default"}


@app.route(
    "/cors-custom",
    methods=["GET"],
    cors=CORSConfig(
        allow_origin="https://example.com",
        allow_headers=["X-Special-Header"],
        max_age=600,
        expose_headers=["X-Exposed"],
        allow_credentials=True,
    ),
)
def cors_custom() -> dict[str, str]:
    return {"cors": "custom"}


@app.route("/no-content-type", methods=["GET"])
def no_content_type() -> Response:
    return Response(body='{"plain": true}', status_code=200, headers={})


@app.route("/image", methods=["GET"])
def image() -> Response:
    return Response(body=PNG, status_code=200, headers={"Content-Type": "image/png"})


@app.route("/keyed", methods=["GET"], api_key_required=True)
def keyed() -> dict[str, Any]:
    return {"api_key": _context()["identity"].get("apiKey")}


@app.authorizer(ttl_seconds=300)
def token_auth(auth_request: AuthRequest) -> AuthResponse:
    token = auth_request.token
    observe("token_auth", token=token, method_arn=auth_request.method_arn)
    if token.startswith("allow-"):
        return AuthResponse(
            routes=["/private", "/private/*"],
            principal_id=f"user-{token.removeprefix('allow-')}",
            context={"tier": "gold"},
        )
    if token.startswith("other-"):
        return AuthResponse(routes=["/elsewhere"], principal_id="someone")
    raise Exception("Unauthorized")


@app.route("/private", methods=["GET"], authorizer=token_auth)
def private() -> dict[str, Any]:
    return {"authorizer": _context().get("authorizer")}


@app.route("/private/{part}", methods=["GET"], authorizer=token_auth)
def private_part(part: str) -> dict[str, Any]:
    return {"part": part, "authorizer": _context().get("authorizer")}


class RequestAuthorizer(Authorizer):
    """A REQUEST Lambda authorizer (Chalice's built-in ones are TOKEN authorizers): the
    identity is a header and a query parameter, the function is ``request_auth`` below."""

    def __init__(self) -> None:
        self.name = "request_auth"
        self.scopes: list[str] = []

    def to_swagger(self) -> dict[str, Any]:
        function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:cf-api-dev-request_auth"
        return {
            "in": "header",
            "type": "apiKey",
            "name": "Unused",
            "x-amazon-apigateway-authtype": "custom",
            "x-amazon-apigateway-authorizer": {
                "type": "request",
                "identitySource": "method.request.header.X-User, method.request.querystring.tenant",
                "authorizerUri": (
                    f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
                    f"{function}/invocations"
                ),
                "authorizerResultTtlInSeconds": 300,
            },
        }


@app.lambda_function(name="request_auth")
def request_auth(event: dict[str, Any], context: Any) -> dict[str, Any]:
    headers = {key.lower(): value for key, value in (event.get("headers") or {}).items()}
    user = headers.get("x-user")
    tenant = (event.get("queryStringParameters") or {}).get("tenant")
    if user != "alice":
        raise Exception("Unauthorized")
    return {
        "principalId": user,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
            ],
        },
        "context": {"tenant": tenant, "type": event["type"]},
    }


@app.route("/tenant", methods=["GET"], authorizer=RequestAuthorizer())
def tenant() -> dict[str, Any]:
    return {"authorizer": _context().get("authorizer")}


cognito = CognitoUserPoolAuthorizer(
    "pool", provider_arns=[f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{REGION}_conform"]
)


@app.route("/cognito", methods=["GET"], authorizer=cognito)
def cognito_route() -> dict[str, Any]:
    return {"claims": (_context().get("authorizer") or {}).get("claims")}


@app.route("/iam", methods=["GET"], authorizer=IAMAuthorizer())
def iam_route() -> dict[str, str]:
    return {"iam": "passed"}
