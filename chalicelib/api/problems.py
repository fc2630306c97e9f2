"""RFC 9457 problem details: the one shape of every error the API returns."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from chalice.app import Response
from pydantic import ValidationError

from chalicelib.models.api import Problem, ProblemError

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://tocsin.dev/problems/"

SLUGS = {
    400: "malformed-request",
    401: "unauthorized",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    410: "gone",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "too-many-requests",
    500: "internal-error",
}


class ProblemException(Exception):
    """Ends a request with a problem response."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Iterable[ProblemError] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = list(errors) if errors is not None else None
        self.headers = dict(headers or {})


def problem_response(
    status: int,
    detail: str,
    *,
    errors: list[ProblemError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    problem = Problem(
        type=PROBLEM_BASE + SLUGS.get(status, str(status)),
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        errors=errors,
    )
    return Response(
        body=problem.model_dump_json(),
        status_code=status,
        headers={"Content-Type": PROBLEM_CONTENT_TYPE, **(headers or {})},
    )


def from_exception(problem: ProblemException) -> Response:
    return problem_response(
        problem.status, problem.detail, errors=problem.errors, headers=problem.headers
    )


def validation_errors(error: ValidationError, where: str) -> list[ProblemError]:
    """Pydantic's errors with their location in the request (``body``, ``query``, ``path``)."""
    errors = []
    for item in error.errors(include_url=False, include_context=False, include_input=False):
        loc: list[str | int] = [where, *item["loc"]]
        errors.append(ProblemError(loc=loc, msg=item["msg"], type=item["type"]))
    return errors


def invalid(where: str, error: ValidationError) -> ProblemException:
    errors = validation_errors(error, where)
    first = errors[0]
    detail = f"{'.'.join(str(part) for part in first.loc)}: {first.msg}"
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more)"
    return ProblemException(422, detail, errors=errors)


def single_error(loc: list[str | int], msg: str, kind: str = "value_error") -> ProblemException:
    return ProblemException(
        422,
        f"{'.'.join(str(part) for part in loc)}: {msg}",
        errors=[ProblemError(loc=loc, msg=msg, type=kind)],
    )


def is_problem(response: Response) -> bool:
    headers: dict[str, Any] = {key.lower(): value for key, value in response.headers.items()}
    return str(headers.get("content-type", "")).startswith(PROBLEM_CONTENT_TYPE)
