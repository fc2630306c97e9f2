"""Operations: each route declared once, with its models, from which both the Chalice route and
its OpenAPI description are made.

A view is a plain function ``view(call, **path_params) -> Response``; the decorator validates the
path, query and body against the declared models before the view runs and turns domain errors
into problem responses, so no view parses or maps errors by hand.
"""

from __future__ import annotations

import contextvars
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalice.app import Blueprint, Response
from pydantic import BaseModel, TypeAdapter, ValidationError

from chalicelib.api.problems import (
    ProblemException,
    from_exception,
    invalid,
    problem_response,
    single_error,
)
from chalicelib.domain.ack_links import LinkExpired
from chalicelib.domain.errors import Conflict, Invalid, NotFound, Unauthorized
from chalicelib.domain.rate_limits import RateLimited
from chalicelib.ports import InvalidCursor

JSON_CONTENT_TYPE = "application/json"

# The tenant the request's API key belongs to, set by the auth middleware for /v1 paths.
current_tenant: contextvars.ContextVar[str] = contextvars.ContextVar("current_tenant")


@dataclass(frozen=True)
class Operation:
    path: str
    method: str
    name: str
    summary: str
    tag: str
    success: Mapping[int, type[BaseModel] | None]
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None
    path_params: Mapping[str, Any] = field(default_factory=dict)
    request_headers: Mapping[str, str] = field(default_factory=dict)
    response_headers: Mapping[str, str] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    auth: bool = True
    # The view reads the body itself (``Call.raw``): ``body`` only documents it, and the view
    # answers for its errors (PagerDuty's Events API has bodies of its own for them).
    raw_body: bool = False
    # Success statuses whose body is not JSON: status -> media type (an HTML page).
    media_types: Mapping[int, str] = field(default_factory=dict)

    @property
    def error_statuses(self) -> list[int]:
        statuses = {413, *self.errors}
        if self.auth:
            statuses.add(401)
        if self.body is not None and not self.raw_body:
            statuses |= {400, 415, 422}
        if self.query is not None or self.path_params:
            statuses.add(422)
        if self.path_params:
            statuses.add(404)
        return sorted(statuses)


OPERATIONS: list[Operation] = []


@dataclass(frozen=True)
class Call:
    """What a view gets: the tenant and the request, validated."""

    tenant: str
    headers: Mapping[str, str]
    body: Any = None
    raw_body: Mapping[str, Any] = field(default_factory=dict)
    query: Any = None
    # The body's bytes, for operations that read it themselves (``Operation.raw_body``).
    raw: bytes = b""


def reply(
    status: int, model: BaseModel | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    if model is None:
        return Response(body="", status_code=status, headers=dict(headers or {}))
    return Response(
        body=model.model_dump_json(),
        status_code=status,
        headers={"Content-Type": JSON_CONTENT_TYPE, **(headers or {})},
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"the number {text[:40]} is out of range")
    return number


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == JSON_CONTENT_TYPE or (
        media.startswith("application/") and media.endswith("+json")
    )


def parse_json_object(
    raw: bytes, content_type: str | None, *, required: bool
) -> dict[str, Any] | None:
    if not raw.strip():
        if required:
            raise ProblemException(400, "the request needs a JSON object body")
        return None
    if content_type and not _is_json(content_type):
        raise ProblemException(
            415, f"the body must be application/json, not {content_type.split(';')[0]}"
        )
    try:
        parsed = json.loads(
            raw.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float
        )
    except (UnicodeDecodeError, ValueError) as error:
        raise ProblemException(400, f"the body is not valid JSON: {error}") from None
    except RecursionError:
        raise ProblemException(400, "the body nests too deeply") from None
    if not isinstance(parsed, dict):
        raise ProblemException(400, "the body must be a JSON object")
    return parsed


def _validate_path(operation: Operation, params: Mapping[str, str]) -> None:
    for name, annotation in operation.path_params.items():
        try:
            TypeAdapter(annotation).validate_python(params[name])
        except ValidationError as error:
            message = error.errors(include_url=False)[0]["msg"]
            raise single_error(["path", name], message, "string_pattern_mismatch") from None


def _build_call(operation: Operation, request: Any) -> Call:
    headers = {key.lower(): value for key, value in request.headers.items()}
    call_kwargs: dict[str, Any] = {"tenant": current_tenant.get(""), "headers": headers}
    if operation.query is not None:
        try:
            call_kwargs["query"] = operation.query.model_validate(dict(request.query_params or {}))
        except ValidationError as error:
            raise invalid("query", error) from None
    if operation.raw_body:
        call_kwargs["raw"] = request.raw_body or b""
    elif operation.body is not None:
        raw = parse_json_object(
            request.raw_body or b"", headers.get("content-type"), required=operation.body_required
        )
        try:
            call_kwargs["body"] = operation.body.model_validate(raw or {})
        except ValidationError as error:
            raise invalid("body", error) from None
        call_kwargs["raw_body"] = raw or {}
    return Call(**call_kwargs)


def map_domain_error(error: Exception) -> ProblemException | None:
    match error:
        case ProblemException():
            return error
        case Invalid():
            # The domain names the field of its command; here that is the request body's.
            return single_error(["body", *error.loc], error.msg)
        case NotFound():
            return ProblemException(404, str(error))
        case Conflict():
            return ProblemException(409, str(error))
        case InvalidCursor():
            return single_error(["query", "cursor"], str(error), "invalid_cursor")
        case Unauthorized():
            return ProblemException(401, str(error), headers={"WWW-Authenticate": "Bearer"})
        case RateLimited():
            return ProblemException(
                429, str(error), headers={"Retry-After": str(error.retry_after)}
            )
        case LinkExpired():
            return ProblemException(410, str(error))
    return None


def operation(
    blueprint: Blueprint,
    path: str,
    method: str,
    *,
    summary: str,
    tag: str,
    success: Mapping[int, type[BaseModel] | None],
    **details: Any,
) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    def register(view: Callable[..., Response]) -> Callable[..., Response]:
        op = Operation(
            path=path,
            method=method,
            name=view.__name__,
            summary=summary,
            tag=tag,
            success=success,
            **details,
        )
        OPERATIONS.append(op)

        def route(**path_params: str) -> Response:
            try:
                _validate_path(op, path_params)
                call = _build_call(op, blueprint.current_request)
                return view(call, **path_params)
            except Exception as error:
                problem = map_domain_error(error)
                if problem is None:
                    raise
                return from_exception(problem)

        route.__name__ = view.__name__
        blueprint.route(path, methods=[method], content_types=["*/*"], name=view.__name__)(route)
        return view

    return register


def not_found_response(path: str) -> Response:
    return problem_response(404, f"no route for {path}")


def method_not_allowed_response(method: str, allowed: list[str]) -> Response:
    return problem_response(
        405,
        f"{method} is not allowed here; allowed: {', '.join(allowed)}",
        headers={"Allow": ", ".join(allowed)},
    )
