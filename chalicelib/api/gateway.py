"""What sits in front of every route: auth, body size, problem+json for every error, the
catch-all answers for unknown paths (404) and unserved methods (405), health and OpenAPI.

Auth comes first: without a valid key every /v1 path answers 401, unknown paths included.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from chalice.app import Blueprint, Chalice, Request, Response

from chalicelib import logs
from chalicelib.api.openapi import build_document
from chalicelib.api.operations import (
    OPERATIONS,
    Call,
    current_tenant,
    map_domain_error,
    method_not_allowed_response,
    not_found_response,
    operation,
    reply,
)
from chalicelib.api.problems import ProblemException, from_exception, is_problem, problem_response
from chalicelib.models.api import HealthOut, OpenApiDocument
from chalicelib.settings import get_settings
from chalicelib.wiring import services

log = logging.getLogger(__name__)

# The methods API Gateway routes; any other (TRACE, ...) reaches the app only through a local
# server, and gets Chalice's 405, which the middleware turns into a problem too.
GATEWAY_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
VERSION = "0.1.0"
CATCH_ALL_PATHS = ("/", "/{proxy+}")

system = Blueprint(__name__)


@operation(
    system,
    "/health",
    "GET",
    summary="Whether the service can reach its table",
    tag="system",
    success={200: HealthOut, 503: HealthOut},
    auth=False,
)
def health(call: Call) -> Response:
    if services().health.table_reachable():
        return reply(200, HealthOut(status="ok"))
    return reply(503, HealthOut(status="unavailable"))


@lru_cache(maxsize=1)
def _openapi_document() -> str:
    return json.dumps(build_document(OPERATIONS, version=VERSION))


@operation(
    system,
    "/openapi.json",
    "GET",
    summary="This document (OpenAPI 3.1)",
    tag="system",
    success={200: OpenApiDocument},
    auth=False,
)
def openapi(call: Call) -> Response:
    return Response(
        body=_openapi_document(), status_code=200, headers={"Content-Type": "application/json"}
    )


def request_path(request: Request) -> str:
    event = request.to_original_event()
    path = event.get("path") or request.context.get("path") or request.path
    return str(path)


def _bearer(request: Request) -> str | None:
    value: str | None = request.headers.get("authorization")
    if not value:
        return None
    scheme, _, credentials = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def _chalice_error(response: Response) -> bool:
    """Chalice answers some errors itself (405 for a method no route has, 500 for an unhandled
    exception) with a body of its own: ``{"Code": ..., "Message": ...}``."""
    body = response.body
    if isinstance(body, (str, bytes)):
        try:
            body = json.loads(body)
        except ValueError:
            return False
    return isinstance(body, dict) and {"Code", "Message"} <= set(body)


def _as_problem(request: Request, response: Response) -> Response:
    """Every error leaves as problem+json, Chalice's own included."""
    if response.status_code < 400 or is_problem(response) or not _chalice_error(response):
        return response
    status = response.status_code
    if status == 405:
        # A method no route registers (TRACE, PROPFIND, ...): on the catch-alls the path is
        # unknown; elsewhere only the operations' own methods are allowed.
        if request.path in CATCH_ALL_PATHS:
            return not_found_response(request_path(request))
        served = sorted(op.method for op in OPERATIONS if op.path == request.path)
        return method_not_allowed_response(request.method, served)
    if status >= 500:
        return problem_response(500, "internal error; it has been logged")
    return problem_response(status, "the request was refused")


def http_middleware(request: Request, get_response: Callable[[Request], Response]) -> Response:
    with logs.bound(correlation_id=request.context.get("requestId"), method=request.method):
        return _handle(request, get_response)


def _handle(request: Request, get_response: Callable[[Request], Response]) -> Response:
    token = None
    try:
        path = request_path(request)
        if path == "/v1" or path.startswith("/v1/"):
            bearer = _bearer(request)
            tenant = services().tenants.authenticate(bearer)
            token = current_tenant.set(tenant)
            logs.bind(tenant=tenant)
        raw_body = request.raw_body or b""
        limit = get_settings().max_body_bytes
        if len(raw_body) > limit:
            raise ProblemException(413, f"the body is {len(raw_body)} bytes; the limit is {limit}")
        return _as_problem(request, get_response(request))
    except Exception as error:
        problem = map_domain_error(error)
        if problem is not None:
            return from_exception(problem)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem_response(500, "internal error; it has been logged")
    finally:
        if token is not None:
            current_tenant.reset(token)


def _method_not_allowed(allowed: list[str]) -> Callable[..., Response]:
    def view(**_: Any) -> Response:
        request = _app_request()
        return method_not_allowed_response(request.method if request else "method", allowed)

    return view


_APP: list[Chalice] = []


def _app_request() -> Request | None:
    return _APP[0].current_request if _APP else None


def install_catch_alls(app: Chalice) -> None:
    """Routes for what no operation serves, so that API Gateway answers 404/405 (after auth)
    as the local server does, instead of its 403 "Missing Authentication Token"."""
    _APP[:] = [app]
    for index, (path, methods) in enumerate(sorted(app.routes.items())):
        served = sorted(methods)
        missing = [method for method in GATEWAY_METHODS if method not in methods]
        if missing:
            app.route(path, methods=missing, content_types=["*/*"], name=f"not_allowed_{index}")(
                _method_not_allowed(served)
            )

    def not_found(**_: Any) -> Response:
        request = _app_request()
        return not_found_response(request_path(request) if request else "this path")

    for path in CATCH_ALL_PATHS:
        app.route(path, methods=list(GATEWAY_METHODS), content_types=["*/*"], name="not_found")(
            not_found
        )
