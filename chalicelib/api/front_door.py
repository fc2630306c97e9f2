"""The app behind any of its front doors: a REST API, an HTTP API (payload format 1.0) or a
Lambda function URL (payload format 2.0, the HTTP API's newer shape).

Chalice dispatches on the REST API's event: ``requestContext.resourcePath`` is the route's
template (``/v1/recipients/{recipient_id}``) and ``pathParameters`` its values. A REST API
event passes unchanged. Any other (it carries a ``version``) gets the route whose template
matches its path, chosen as API Gateway chooses (literal segments before parameters, a greedy
``{proxy+}`` last), and a 2.0 event is reshaped into 1.0 and its reply back into 2.0.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote

from chalice.app import Chalice

Event = dict[str, Any]


class FrontDoorApp(Chalice):
    """A Chalice app that answers the events of every front door the template can deploy."""

    def __call__(self, event: Event, context: Any) -> dict[str, Any]:
        version = event.get("version") if isinstance(event, dict) else None
        if version is None:
            return dict(super().__call__(event, context))
        routes = list(self.routes)
        if version == "2.0":
            reply = super().__call__(from_version_2(event, routes), context)
            return to_version_2(reply)
        return dict(super().__call__(with_route(event, routes), context))


def _segments(path: str) -> list[str]:
    return [unquote(part) for part in path.strip("/").split("/")] if path.strip("/") else []


def match_route(path: str, templates: list[str]) -> tuple[str, dict[str, str]] | None:
    """The template that API Gateway would route ``path`` to, and its parameters."""
    wanted = _segments(path)
    best: tuple[tuple[int, ...], str, dict[str, str]] | None = None
    for template in templates:
        found = _match(wanted, _segments(template))
        if found is None:
            continue
        params, score = found
        if best is None or score > best[0]:
            best = (score, template, params)
    return None if best is None else (best[1], best[2])


def _match(path: list[str], template: list[str]) -> tuple[dict[str, str], tuple[int, ...]] | None:
    params: dict[str, str] = {}
    score: list[int] = []
    for index, part in enumerate(template):
        if part.startswith("{") and part.endswith("+}"):
            rest = path[index:]
            if not rest:
                return None
            params[part[1:-2]] = "/".join(rest)
            # Greedy: below any template that names the segments.
            return params, (*score, 0)
        if index >= len(path):
            return None
        if part.startswith("{") and part.endswith("}"):
            if not path[index]:
                return None
            params[part[1:-1]] = path[index]
            score.append(1)
        elif part == path[index]:
            score.append(2)
        else:
            return None
    if len(path) != len(template):
        return None
    return params, (*score, 3)


def with_route(event: Event, templates: list[str]) -> Event:
    """A payload 1.0 event of an HTTP API with the route Chalice dispatches on."""
    path = str(event.get("path") or event.get("requestContext", {}).get("path") or "/")
    route, params = match_route(path, templates) or ("/{proxy+}", {"proxy": path.strip("/")})
    context = {**(event.get("requestContext") or {}), "resourcePath": route, "path": path}
    context.setdefault("httpMethod", event.get("httpMethod"))
    return {
        **event,
        "resource": route,
        "path": path,
        "pathParameters": params or None,
        "requestContext": context,
        "multiValueQueryStringParameters": event.get("multiValueQueryStringParameters"),
        "stageVariables": event.get("stageVariables"),
    }


def from_version_2(event: Event, templates: list[str]) -> Event:
    """A payload 2.0 event (function URL, HTTP API) in the 1.0 shape."""
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    path = str(event.get("rawPath") or http.get("path") or "/")
    headers = dict(event.get("headers") or {})
    if event.get("cookies"):
        headers["cookie"] = "; ".join(event["cookies"])
    query = parse_qs(str(event.get("rawQueryString") or ""), keep_blank_values=True)
    one_zero = {
        "version": "1.0",
        "httpMethod": http.get("method", "GET"),
        "path": path,
        "headers": headers,
        "multiValueHeaders": {key: [value] for key, value in headers.items()},
        "queryStringParameters": {key: values[-1] for key, values in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "requestContext": {
            **context,
            "httpMethod": http.get("method", "GET"),
            "path": path,
            "identity": {"sourceIp": http.get("sourceIp"), "userAgent": http.get("userAgent")},
        },
        "body": event.get("body"),
        "isBase64Encoded": bool(event.get("isBase64Encoded")),
        "stageVariables": event.get("stageVariables"),
    }
    return with_route(one_zero, templates)


def to_version_2(reply: dict[str, Any]) -> dict[str, Any]:
    """Chalice's 1.0 reply in the 2.0 shape, which has no ``multiValueHeaders``."""
    headers = {key: str(value) for key, value in (reply.get("headers") or {}).items()}
    cookies: list[str] = []
    for key, values in (reply.get("multiValueHeaders") or {}).items():
        if key.lower() == "set-cookie":
            cookies.extend(str(value) for value in values)
        else:
            headers[key] = ", ".join(str(value) for value in values)
    converted: dict[str, Any] = {
        "statusCode": reply["statusCode"],
        "headers": headers,
        "body": reply.get("body", ""),
        "isBase64Encoded": bool(reply.get("isBase64Encoded")),
    }
    if cookies:
        converted["cookies"] = cookies
    return converted
