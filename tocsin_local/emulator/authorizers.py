"""API Gateway's checks before a route runs, read from the Swagger that Chalice deploys:
Lambda authorizers (TOKEN and REQUEST), Cognito user pools, IAM, and API keys.

- **Lambda authorizers** (``@app.authorizer``, or an ``Authorizer`` whose Swagger is a
  ``custom`` authorizer naming a function of the project): run before the route, in the
  gateway's process, with API Gateway's event (TOKEN: ``authorizationToken`` and
  ``methodArn``; REQUEST: the request's headers, query and path). A missing identity source is
  ``401 {"message": "Unauthorized"}`` without a call; an authorizer that raises
  ``Unauthorized`` is 401; a policy that does not allow the method ARN is 403; a missing or
  malformed policy, or any other error, is ``500 {"message": null}``. Results are cached per
  identity for ``authorizerResultTtlInSeconds`` (300 by default, 0 for none), and a cached
  policy is checked against each request's method ARN, as API Gateway does. The context and
  ``principalId`` reach the handler as ``requestContext.authorizer``.
- **Cognito user pools**: the token's claims reach the handler as
  ``requestContext.authorizer.claims``; a missing, malformed or expired token is 401. Not
  checked locally: the signature, the issuer against the pool ARNs, scopes.
- **IAM** (``IAMAuthorizer``): a request without a SigV4 ``Authorization`` header is 403
  ``Missing Authentication Token``; the signature and the caller's policies are not checked.
- **API keys** (``api_key_required=True``): the ``x-api-key`` header must hold the value of an
  enabled API key of the cloud's API Gateway (``create_api_key``), else ``403 {"message":
  "Forbidden"}``. Usage plans are not checked locally.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalice.local import ARNMatcher

log = logging.getLogger("tocsin.gateway")

DEFAULT_TTL_SECONDS = 300
API_KEYS_TTL_SECONDS = 1.0

Function = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class Denial:
    status: int
    body: dict[str, Any]
    error_type: str


UNAUTHORIZED = Denial(401, {"message": "Unauthorized"}, "UnauthorizedException")
FORBIDDEN_KEY = Denial(403, {"message": "Forbidden"}, "ForbiddenException")
MISSING_TOKEN = Denial(
    403, {"message": "Missing Authentication Token"}, "MissingAuthenticationTokenException"
)
NOT_ALLOWED = Denial(
    403, {"Message": "User is not authorized to access this resource"}, "AccessDeniedException"
)
DENIED = Denial(
    403,
    {"Message": "User is not authorized to access this resource with an explicit deny"},
    "AccessDeniedException",
)
MISCONFIGURED = Denial(500, {"message": None}, "AuthorizerConfigurationException")


@dataclass(frozen=True)
class Request:
    """What the checks look at."""

    method: str
    path: str
    resource: str
    headers: dict[str, str]
    query: dict[str, str]
    path_parameters: dict[str, str]
    method_arn: str
    request_context: dict[str, Any]

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == lowered), None)


@dataclass
class Passed:
    """What the checks give the route: ``requestContext.authorizer`` and the identity."""

    authorizer: dict[str, Any] | None = None
    api_key: str | None = None


class Checks:
    def __init__(
        self,
        swagger: dict[str, Any],
        functions: dict[str, Function],
        api_keys: Callable[[], set[str]],
        context: Callable[[], Any],
    ) -> None:
        self._definitions: dict[str, Any] = swagger.get("securityDefinitions", {})
        self._functions = functions
        self._api_keys = api_keys
        self._context = context
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._keys: tuple[float, set[str]] = (0.0, set())

    def check(self, security: list[dict[str, list[str]]], request: Request) -> Passed | Denial:
        passed = Passed()
        names = [name for requirement in security for name in requirement]
        # API Gateway authorizes first, then checks the API key.
        for name in sorted(names, key=lambda item: item == "api_key"):
            outcome = self._one(name, request, passed)
            if isinstance(outcome, Denial):
                return outcome
        return passed

    def _one(self, name: str, request: Request, passed: Passed) -> Denial | None:
        if name == "api_key":
            key = request.header("x-api-key")
            if not key or not self._key_valid(key):
                return FORBIDDEN_KEY
            passed.api_key = key
            return None
        definition = self._definitions.get(name, {})
        kind = definition.get("x-amazon-apigateway-authtype")
        if kind == "awsSigv4":
            authorization = request.header("Authorization") or ""
            return None if authorization.startswith("AWS4-HMAC-SHA256 ") else MISSING_TOKEN
        if kind == "cognito_user_pools":
            return self._cognito(definition, request, passed)
        if kind == "custom":
            return self._lambda(name, definition, request, passed)
        log.warning("authorizer %s (%s) is not checked locally", name, kind)
        return None

    def _key_valid(self, key: str) -> bool:
        """Known keys are remembered for a second; an unknown one makes the gateway read the
        keys again (it may have just been created)."""
        with self._lock:
            read_at, keys = self._keys
            if key in keys and time.monotonic() - read_at < API_KEYS_TTL_SECONDS:
                return True
            keys = self._api_keys()
            self._keys = (time.monotonic(), keys)
            return key in keys

    def _cognito(
        self, definition: dict[str, Any], request: Request, passed: Passed
    ) -> Denial | None:
        token = request.header(definition.get("name") or "Authorization")
        claims = _jwt_claims(token or "")
        if claims is None:
            return UNAUTHORIZED
        expires = claims.get("exp")
        if isinstance(expires, int | float) and expires < time.time():
            return UNAUTHORIZED
        passed.authorizer = {"claims": claims}
        return None

    def _lambda(
        self, name: str, definition: dict[str, Any], request: Request, passed: Passed
    ) -> Denial | None:
        settings = definition.get("x-amazon-apigateway-authorizer", {})
        kind = str(settings.get("type", "token")).lower()
        if kind == "token":
            token = request.header(definition.get("name") or "Authorization")
            if not token:
                return UNAUTHORIZED
            identity: tuple[str, ...] = (token,)
            event: dict[str, Any] = {
                "type": "TOKEN",
                "authorizationToken": token,
                "methodArn": request.method_arn,
            }
        else:
            values = _identity_values(str(settings.get("identitySource", "")), request)
            if values is None:
                return UNAUTHORIZED
            identity = values
            event = {
                "type": "REQUEST",
                "methodArn": request.method_arn,
                "resource": request.resource,
                "path": request.path,
                "httpMethod": request.method,
                "headers": request.headers,
                "multiValueHeaders": {key: [value] for key, value in request.headers.items()},
                "queryStringParameters": request.query,
                "multiValueQueryStringParameters": {
                    key: [value] for key, value in request.query.items()
                },
                "pathParameters": request.path_parameters,
                "stageVariables": {},
                "requestContext": request.request_context,
            }
        ttl = float(settings.get("authorizerResultTtlInSeconds", DEFAULT_TTL_SECONDS))
        result = self._cached(name, identity) if ttl > 0 else None
        if result is None:
            outcome = self._invoke(settings, event)
            if isinstance(outcome, Denial):
                return outcome
            result = outcome
            if ttl > 0:
                with self._lock:
                    self._cache[(name, identity)] = (time.monotonic() + ttl, result)
        verdict = _policy_verdict(result.get("policyDocument"), request.method_arn)
        if verdict is not None:
            return verdict
        context = dict(result.get("context") or {})
        context["principalId"] = result.get("principalId")
        passed.authorizer = context
        return None

    def _cached(self, name: str, identity: tuple[str, ...]) -> dict[str, Any] | None:
        with self._lock:
            entry = self._cache.get((name, identity))
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def _invoke(self, settings: dict[str, Any], event: dict[str, Any]) -> dict[str, Any] | Denial:
        function = self._functions.get(_function_name(str(settings.get("authorizerUri", ""))))
        if function is None:
            log.error(
                "authorizer function %s is not part of this project", settings.get("authorizerUri")
            )
            return MISCONFIGURED
        try:
            result = function(event, self._context())
        except Exception as error:
            if str(error) == "Unauthorized":
                return UNAUTHORIZED
            log.exception("the authorizer raised")
            return MISCONFIGURED
        if (
            not isinstance(result, dict)
            or "principalId" not in result
            or not isinstance(result.get("policyDocument"), dict)
        ):
            log.error("the authorizer returned no valid policy: %r", result)
            return MISCONFIGURED
        return result


def _function_name(authorizer_uri: str) -> str:
    """The function name in ``arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/
    arn:aws:lambda:REGION:ACCOUNT:function:NAME/invocations``."""
    arn = authorizer_uri.split("/functions/", 1)[-1].removesuffix("/invocations")
    parts = arn.split(":")
    return parts[6] if len(parts) > 6 else arn


def _identity_values(source: str, request: Request) -> tuple[str, ...] | None:
    """The values of a REQUEST authorizer's identity sources, or None when one is missing."""
    values = []
    for item in filter(None, (part.strip() for part in source.split(","))):
        if item.startswith("method.request.header."):
            value = request.header(item.removeprefix("method.request.header."))
        elif item.startswith("method.request.querystring."):
            value = request.query.get(item.removeprefix("method.request.querystring."))
        else:
            value = item
        if not value:
            return None
        values.append(value)
    return tuple(values)


def _policy_verdict(policy: Any, method_arn: str) -> Denial | None:
    """None when the policy allows ``method_arn``; the denial otherwise."""
    statements = policy.get("Statement", []) if isinstance(policy, dict) else []
    if isinstance(statements, dict):
        statements = [statements]
    matcher = ARNMatcher(method_arn)
    allowed = False
    for statement in statements:
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not any(action in ("execute-api:Invoke", "execute-api:*", "*") for action in actions):
            continue
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if not matcher.does_any_resource_match(resources):
            continue
        if statement.get("Effect") == "Deny":
            return DENIED
        if statement.get("Effect") == "Allow":
            allowed = True
    return None if allowed else NOT_ALLOWED


def _jwt_claims(token: str) -> dict[str, Any] | None:
    token = token.removeprefix("Bearer ").strip()
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None
