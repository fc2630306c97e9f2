"""API Gateway (REST) in front of a Chalice app's routes, on loopback.

The gateway serves the API that Chalice would deploy: the Swagger document Chalice generates
for API Gateway (its resources and methods, CORS preflights, authorizers, API keys, binary media
types) decides what happens before the app runs. Requests become REST API proxy events and go
to the app as a Lambda handler, so routing, path parameters and middleware behave as deployed.
As API Gateway does:

- a path no resource matches, or a method its resource does not serve, is
  ``403 {"message": "Missing Authentication Token"}`` (an app that wants 404/405 declares
  catch-all routes, as Tocsin's own does); a method outside API Gateway's seven (TRACE, ...)
  reaches the app when the path matches;
- a ``cors=True`` route's ``OPTIONS`` preflight is answered by the gateway with Chalice's CORS
  headers (a mock integration: the app is not called);
- authorizers and API keys run first (``tocsin_local.emulator.authorizers``);
- ``requestContext.stage`` and ``path`` use the API Gateway stage (``api_gateway_stage``,
  ``api`` by default);
- a response without ``Content-Type`` goes out as ``application/json``; a base64-encoded
  response is sent as binary only when the first media type of the request's ``Accept``
  matches a binary media type of the API, otherwise as its base64 text; a request body is
  base64-encoded for the app when its ``Content-Type`` is a binary media type.

Greedy ``{proxy+}`` routes match, and requests are served concurrently (Chalice keeps the
current request on the app object; here it is made thread-local).

A change to the app's code re-executes this process on the same listening socket: clients see
a short pause, never a refused connection.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from werkzeug.exceptions import HTTPException
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request as WsgiRequest
from werkzeug.wrappers import Response as WsgiResponse
from werkzeug.wsgi import ClosingIterator

from tocsin_local.emulator.authorizers import Checks, Denial
from tocsin_local.emulator.authorizers import Request as CheckedRequest
from tocsin_local.emulator.lifecycle import die_with_parent
from tocsin_local.emulator.project import (
    api_gateway_stage,
    function_config,
    import_app,
    lambda_name,
    read_config,
)
from tocsin_local.emulator.runtime import redirect_execute_api
from tocsin_local.emulator.watch import watched_files
from tocsin_local.emulator.worker import LambdaContext

log = logging.getLogger("tocsin.gateway")

# API Gateway's payload limit; the app may enforce a smaller one.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
READ_CHUNK_BYTES = 64 * 1024
# The methods an API Gateway REST API routes.
GATEWAY_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"})
API_ID = "local"
DEFAULT_ACCOUNT = "123456789012"


@dataclass
class _Node:
    literals: dict[str, _Node] = field(default_factory=dict)
    param: tuple[str, _Node] | None = None
    greedy: tuple[str, str] | None = None  # (name, resource path)
    resource: str | None = None


class RouteTable:
    """Resource matching as API Gateway does it: a literal segment beats a ``{param}``, which
    beats a greedy ``{proxy+}``."""

    def __init__(self, resources: list[str]) -> None:
        self._root = _Node()
        for resource in resources:
            node = self._root
            for segment in self._segments(resource):
                if segment.startswith("{") and segment.endswith("+}"):
                    node.greedy = (segment[1:-2], resource)
                    break
                if segment.startswith("{") and segment.endswith("}"):
                    if node.param is None:
                        node.param = (segment[1:-1], _Node())
                    node = node.param[1]
                else:
                    node = node.literals.setdefault(segment, _Node())
            else:
                node.resource = resource

    @staticmethod
    def _segments(path: str) -> list[str]:
        stripped = path.strip("/")
        return stripped.split("/") if stripped else []

    def match(self, path: str) -> tuple[str, dict[str, str]] | None:
        segments = [unquote(segment) for segment in self._segments(path)]
        if path not in ("", "/") and path.endswith("/"):
            segments.append("")
        return self._match(self._root, segments, 0, {})

    def _match(
        self, node: _Node, segments: list[str], index: int, params: dict[str, str]
    ) -> tuple[str, dict[str, str]] | None:
        if index == len(segments):
            return (node.resource, params) if node.resource is not None else None
        segment = segments[index]
        if segment in node.literals:
            found = self._match(node.literals[segment], segments, index + 1, params)
            if found:
                return found
        if node.param is not None and segment:
            name, child = node.param
            found = self._match(child, segments, index + 1, {**params, name: segment})
            if found:
                return found
        if node.greedy is not None:
            name, resource = node.greedy
            return resource, {**params, name: "/".join(segments[index:])}
        return None


def read_at_most(stream: Any, limit: int) -> bytes | None:
    """The body, or None as soon as it is longer than ``limit``: a body without a length (a
    chunked one) is never read past the limit."""
    chunks: list[bytes] = []
    size = 0
    while chunk := stream.read(min(READ_CHUNK_BYTES, limit + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return None
    return b"".join(chunks)


def make_thread_safe(app: Any) -> None:
    """Chalice keeps ``current_request`` and ``lambda_context`` on the app object, which is
    right for Lambda (one request per process) and a race in a threaded server."""
    local = threading.local()
    base = type(app)

    def _property(name: str) -> property:
        return property(
            lambda self: getattr(local, name, None), lambda self, value: setattr(local, name, value)
        )

    app.__class__ = type(
        f"ThreadLocal{base.__name__}",
        (base,),
        {
            "current_request": _property("current_request"),
            "lambda_context": _property("lambda_context"),
        },
    )


class ProblemRequestHandler(WSGIRequestHandler):
    """Answers the HTTP server's own errors (bad request line 400, request line too long 414,
    header too large 431, ...) with problem+json, as every 4xx of the API is, instead of the
    standard library's HTML page. These happen before any application code runs."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        short, long = self.responses.get(code, ("Error", "Error"))
        self.log_error("code %d, message %s", code, message or short)
        self.send_response(code, short)
        self.send_header("Connection", "close")
        body = json.dumps(
            {
                "type": "about:blank",
                "title": short,
                "status": code,
                "detail": message if message and message != short else (explain or long),
            }
        ).encode()
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> WsgiResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return WsgiResponse(
        json.dumps(body),
        status=status,
        headers={"Content-Type": "application/problem+json", **(headers or {})},
    )


def gateway_error(status: int, body: dict[str, Any], error_type: str) -> WsgiResponse:
    """An error API Gateway answers itself (not the app)."""
    return WsgiResponse(
        json.dumps(body),
        status=status,
        headers={"Content-Type": "application/json", "x-amzn-ErrorType": error_type},
    )


def missing_token() -> WsgiResponse:
    return gateway_error(
        403, {"message": "Missing Authentication Token"}, "MissingAuthenticationTokenException"
    )


def media_matches(media_type: str, binary_types: list[str]) -> bool:
    """Whether ``media_type`` (without parameters) is one of ``binary_types`` (which may hold
    wildcards: ``image/*``, ``*/*``)."""
    wanted = media_type.split(";", 1)[0].strip().lower()
    if not wanted:
        return False
    kind, _, sub = wanted.partition("/")
    for binary in binary_types:
        binary_kind, _, binary_sub = binary.lower().partition("/")
        if binary_kind in ("*", kind) and binary_sub in ("*", sub):
            return True
    return False


def first_media_type(header: str | None) -> str:
    return (header or "").split(",", 1)[0]


def chalice_swagger(app: Any, chalice_stage: str, region: str, account: str) -> dict[str, Any]:
    """The API as ``chalice deploy`` describes it to API Gateway, with the function ARNs it
    would have in ``account``."""
    from chalice.deploy.swagger import SwaggerGenerator

    def arn(name: str) -> str:
        return f"arn:aws:lambda:{region}:{account}:function:{name}"

    api_name = lambda_name(app.app_name, chalice_stage, "api_handler")
    deployed = {
        "api_handler_arn": arn(api_name),
        "api_handler_name": api_name,
        "lambda_functions": {
            f"{api_name}-{auth.name}": {"arn": arn(f"{api_name}-{auth.name}")}
            for auth in app.builtin_auth_handlers
        },
    }
    swagger: dict[str, Any] = SwaggerGenerator(region, deployed).generate_swagger(app)
    return swagger


class Gateway:
    def __init__(self, app: Any, stage: str, timeout: float, chalice_stage: str = "dev") -> None:
        make_thread_safe(app)
        self.app = app
        self.stage = stage
        self.timeout = timeout
        self.chalice_stage = chalice_stage
        self.region = (
            os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        )
        self._account: str | None = None
        self.swagger = self._swagger()
        self.binary_types: list[str] = list(
            self.swagger.get("x-amazon-apigateway-binary-media-types", [])
        )
        self.routes = RouteTable(list(self.swagger["paths"]))
        self.checks = Checks(self.swagger, self._functions(), self._api_keys, self._context)
        self._in_flight = 0
        self._idle = threading.Condition()

    @property
    def account(self) -> str:
        if self._account is None:
            self._account = os.environ.get("TOCSIN_LOCAL_ACCOUNT_ID") or self._caller_account()
        return self._account

    @staticmethod
    def _caller_account() -> str:
        try:
            import boto3

            account: str = boto3.client("sts").get_caller_identity()["Account"]
        except Exception:
            return DEFAULT_ACCOUNT
        return account

    def _swagger(self) -> dict[str, Any]:
        return chalice_swagger(self.app, self.chalice_stage, self.region, self.account)

    def _functions(self) -> dict[str, Any]:
        """The project's functions that an authorizer may name, by deployed name."""
        functions: dict[str, Any] = {}
        app_module = sys.modules.get("app")
        for item in [*self.app.builtin_auth_handlers, *self.app.pure_lambda_functions]:
            attribute = item.handler_string.rpartition(".")[2]
            handler = getattr(app_module, attribute, None)
            if handler is not None:
                functions[lambda_name(self.app.app_name, self.chalice_stage, item.name)] = handler
        return functions

    @staticmethod
    def _api_keys() -> set[str]:
        """The values of the enabled API keys of the cloud's API Gateway."""
        import boto3

        try:
            client = boto3.client("apigateway")
            keys: set[str] = set()
            for page in client.get_paginator("get_api_keys").paginate(includeValues=True):
                keys |= {item["value"] for item in page.get("items", []) if item.get("enabled")}
        except Exception:
            log.exception("could not read the API keys")
            return set()
        return keys

    def _context(self) -> LambdaContext:
        return LambdaContext(str(uuid.uuid4()), (time.time() + self.timeout) * 1000)

    def event(
        self, request: WsgiRequest, resource: str, params: dict[str, str], body: bytes
    ) -> dict[str, Any]:
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            headers[name] = value
            multi_headers.setdefault(name, []).append(value)
        query = {key: request.args.getlist(key) for key in request.args}
        encoded = bool(body) and media_matches(
            request.headers.get("Content-Type", ""), self.binary_types
        )
        if encoded:
            text: str | None = base64.b64encode(body).decode()
        else:
            try:
                text = body.decode("utf-8") if body else None
            except UnicodeDecodeError:
                text, encoded = base64.b64encode(body).decode(), True
        now = time.time()
        return {
            "resource": resource,
            "path": request.path,
            "httpMethod": request.method,
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": {key: values[-1] for key, values in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": resource,
                "resourceId": uuid.uuid5(uuid.NAMESPACE_URL, resource).hex[:6],
                "httpMethod": request.method,
                "path": f"/{self.stage}{request.path}",
                "stage": self.stage,
                "requestId": str(uuid.uuid4()),
                "extendedRequestId": uuid.uuid4().hex[:16],
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "requestTimeEpoch": int(now * 1000),
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "identity": {
                    "sourceIp": request.remote_addr or "127.0.0.1",
                    "userAgent": request.user_agent.string,
                    "apiKey": None,
                    "accessKey": None,
                    "accountId": None,
                    "caller": None,
                    "user": None,
                    "userArn": None,
                    "cognitoIdentityId": None,
                    "cognitoIdentityPoolId": None,
                    "cognitoAuthenticationType": None,
                    "cognitoAuthenticationProvider": None,
                },
                "accountId": self.account,
                "apiId": API_ID,
                "domainName": request.host,
                "domainPrefix": request.host.split(".", 1)[0].split(":", 1)[0],
            },
            "body": text,
            "isBase64Encoded": encoded,
        }

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self._idle:
            self._in_flight += 1
        try:
            response = self.handle(WsgiRequest(environ))
            body = response(environ, start_response)
        except BaseException:
            self._done()
            raise
        # Counted until the server has written the response (it closes the iterable then).
        return ClosingIterator(body, [self._done])

    def _done(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Blocks until no request is being served (or ``timeout`` passes)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def handle(self, request: WsgiRequest) -> WsgiResponse:
        too_large = problem(
            413,
            "Payload Too Large",
            f"the gateway accepts at most {MAX_PAYLOAD_BYTES} bytes",
            # The rest of the body is left unread: the connection cannot carry another request.
            {"Connection": "close"},
        )
        if (request.content_length or 0) > MAX_PAYLOAD_BYTES:
            return too_large
        try:
            body = read_at_most(request.stream, MAX_PAYLOAD_BYTES)
        except (OSError, ValueError, HTTPException):
            # A body that cannot be read as sent (a malformed chunked encoding, say).
            return problem(400, "Bad Request", "the request body could not be read")
        if body is None:
            return too_large
        matched = self.routes.match(request.path)
        if matched is None:
            return missing_token()
        resource, params = matched
        operation = self.swagger["paths"][resource].get(request.method.lower())
        if operation is None and request.method in GATEWAY_METHODS:
            return missing_token()
        operation = operation or {}
        integration = operation.get("x-amazon-apigateway-integration", {})
        if integration.get("type") == "mock":
            return self._mock(integration)
        event = self.event(request, resource, params, body)
        passed = self.checks.check(
            operation.get("security", []), self._checked(request, event, params)
        )
        if isinstance(passed, Denial):
            return gateway_error(passed.status, passed.body, passed.error_type)
        if passed.authorizer is not None:
            event["requestContext"]["authorizer"] = passed.authorizer
        event["requestContext"]["identity"]["apiKey"] = passed.api_key
        context = LambdaContext(
            event["requestContext"]["requestId"], (time.time() + self.timeout) * 1000
        )
        try:
            result = self.app(event, context)
        except Exception:
            log.exception("the app raised on %s %s", request.method, request.path)
            return problem(502, "Bad Gateway", "the function raised; see the log")
        return self._response(request, result)

    def _checked(
        self, request: WsgiRequest, event: dict[str, Any], params: dict[str, str]
    ) -> CheckedRequest:
        path = request.path.lstrip("/")
        method_arn = (
            f"arn:aws:execute-api:{self.region}:{self.account}:{API_ID}/{self.stage}/"
            f"{request.method}/{path}"
        )
        return CheckedRequest(
            method=request.method,
            path=request.path,
            resource=event["resource"],
            headers=event["headers"],
            query=event["queryStringParameters"] or {},
            path_parameters=params,
            method_arn=method_arn,
            request_context=event["requestContext"],
        )

    @staticmethod
    def _mock(integration: dict[str, Any]) -> WsgiResponse:
        """A mock integration (Chalice's CORS preflight): its default response's headers."""
        default = integration.get("responses", {}).get("default", {})
        response = WsgiResponse(b"", status=int(default.get("statusCode", 200)))
        response.headers.clear()
        response.headers["Content-Type"] = "application/json"
        for name, value in default.get("responseParameters", {}).items():
            header = name.removeprefix("method.response.header.")
            response.headers[header] = str(value).strip("'")
        return response

    def _response(self, request: WsgiRequest, result: dict[str, Any]) -> WsgiResponse:
        raw = result.get("body") or ""
        payload = raw.encode("utf-8")
        if result.get("isBase64Encoded") and media_matches(
            first_media_type(request.headers.get("Accept")), self.binary_types
        ):
            payload = base64.b64decode(raw)
        response = WsgiResponse(payload, status=int(result.get("statusCode", 200)))
        response.headers.clear()
        for name, value in (result.get("headers") or {}).items():
            response.headers[name] = str(value)
        for name, values in (result.get("multiValueHeaders") or {}).items():
            response.headers.remove(name)
            for value in values:
                response.headers.add(name, str(value))
        if "Content-Type" not in response.headers:
            response.headers["Content-Type"] = "application/json"
        if request.method == "HEAD":
            response.set_data(b"")
        return response


DRAIN_SECONDS = 30.0


def _watch(project_dir: Path, server: Any, changed: threading.Event) -> None:
    """Stops the server's accept loop when the code changes (the socket stays open)."""
    stamps = watched_files(project_dir)
    while watched_files(project_dir) == stamps:
        time.sleep(0.5)
    changed.set()
    server.shutdown()


def _reexec(fd: int) -> None:
    log.warning("code changed: reloading the API")
    os.set_inheritable(fd, True)
    argv = [sys.executable, "-m", "tocsin_local.emulator.gateway", *sys.argv[1:]]
    argv = [arg for arg in argv if not arg.startswith("--fd=")] + [f"--fd={fd}"]
    os.execv(sys.executable, argv)  # noqa: S606 (the same interpreter, our own module)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tocsin-gateway")
    parser.add_argument("--project-dir", type=Path, required=True)
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--fd", type=int)
    parser.add_argument("--reload", action="store_true")
    args = parser.parse_args(argv)
    die_with_parent()
    logging.basicConfig(level=logging.INFO, format="api: %(message)s", stream=sys.stderr)
    for noisy in ("werkzeug", "botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    project_dir = args.project_dir.resolve()
    raw = read_config(project_dir)
    api = function_config(raw, args.stage, "api_handler", "app.app")
    os.environ.update(api.environment)
    os.environ["AWS_LAMBDA_FUNCTION_NAME"] = api.lambda_name
    redirect_execute_api()
    gateway = Gateway(
        import_app(project_dir), api_gateway_stage(raw, args.stage), api.timeout, args.stage
    )
    if args.fd is None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((args.host, args.port))
        listener.listen(256)
        fd = listener.fileno()
        os.set_inheritable(fd, True)
        listener.detach()
    else:
        fd = args.fd
    server = make_server(
        args.host,
        args.port,
        gateway,
        threaded=True,
        fd=fd,
        request_handler=ProblemRequestHandler,
    )
    changed = threading.Event()
    if args.reload:
        threading.Thread(target=_watch, args=(project_dir, server, changed), daemon=True).start()
    server.serve_forever()
    if changed.is_set():
        # New connections wait in the listen backlog meanwhile; requests being served finish
        # on the old code, then the new code takes the same socket.
        gateway.wait_idle(DRAIN_SECONDS)
        _reexec(fd)


if __name__ == "__main__":
    main()
