"""A Chalice project as the emulator sees it: its app, its stage configuration, its event sources.

Describing a project imports user code, so the runner does it in a child process
(``python -m tocsin_local.emulator.project DIR STAGE``) and reads the JSON it prints; a reload
describes it again without restarting anything that keeps state.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT = 60
DEFAULT_SQS_CONCURRENCY = 5
DEFAULT_ASYNC_CONCURRENCY = 5


@dataclass(frozen=True)
class FunctionConfig:
    """Per-function settings from .chalice/config.json for the chosen stage."""

    name: str
    handler: str
    timeout: float
    environment: dict[str, str]
    # The deployed function's name, as Chalice names it: "{app_name}-{stage}-{name}" (the API
    # handler's is "{app_name}-{stage}").
    lambda_name: str = ""
    memory_size: int | None = None
    reserved_concurrency: int | None = None
    # Tocsin extension keys (Chalice ignores unknown keys in config.json):
    report_batch_item_failures: bool = True
    sns_filter_policy: dict[str, Any] | None = None
    sns_filter_policy_scope: str = "MessageAttributes"


@dataclass(frozen=True)
class EventSource:
    kind: str  # sqs | sns | schedule | dynamodb | kinesis | s3 | cloudwatch | websocket
    function: FunctionConfig
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.function.name}"


@dataclass(frozen=True)
class ProjectDescription:
    app_name: str
    stage: str
    api: FunctionConfig
    routes: dict[str, list[str]]
    sources: list[EventSource]
    # Every function a deploy creates (the API handler, event handlers, authorizers,
    # WebSocket handlers, plain lambda_functions), each callable through the Lambda API.
    functions: list[FunctionConfig] = field(default_factory=list)
    api_gateway_stage: str = "api"

    def function(self, name_or_arn: str) -> FunctionConfig | None:
        """The function a Lambda API call names: its name, partial or full ARN, with or
        without a ``$LATEST`` qualifier."""
        name = name_or_arn
        if name.startswith("arn:"):
            name = name.split(":")[6]
        elif ":function:" in name or name.count(":") >= 2:
            name = name.split(":")[2]
        name = name.split(":", 1)[0]
        return next((function for function in self.functions if function.lambda_name == name), None)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ProjectDescription:
        raw = json.loads(text)
        sources = [
            EventSource(
                kind=item["kind"],
                function=FunctionConfig(**item["function"]),
                params=item["params"],
            )
            for item in raw["sources"]
        ]
        return cls(
            app_name=raw["app_name"],
            stage=raw["stage"],
            api=FunctionConfig(**raw["api"]),
            routes=raw["routes"],
            sources=sources,
            functions=[FunctionConfig(**item) for item in raw["functions"]],
            api_gateway_stage=raw["api_gateway_stage"],
        )


def read_config(project_dir: Path) -> dict[str, Any]:
    path = project_dir / ".chalice" / "config.json"
    if not path.exists():
        return {"version": "2.0", "app_name": project_dir.name, "stages": {}}
    raw: dict[str, Any] = json.loads(path.read_text())
    return raw


def lambda_name(app_name: str, stage: str, name: str) -> str:
    """The name Chalice deploys a function under."""
    return f"{app_name}-{stage}" if name == "api_handler" else f"{app_name}-{stage}-{name}"


def api_gateway_stage(raw: dict[str, Any], stage: str) -> str:
    """The API Gateway stage Chalice deploys the REST API to (``api`` unless configured)."""
    from chalice.config import Config

    config = Config(chalice_stage=stage, config_from_disk=raw)
    return str(config.api_gateway_stage or "api")


def function_config(raw: dict[str, Any], stage: str, name: str, handler: str) -> FunctionConfig:
    from chalice.config import Config

    config = Config(chalice_stage=stage, function_name=name, config_from_disk=raw)
    extras: dict[str, Any] = {}
    for scope in (
        raw,
        raw.get("lambda_functions", {}).get(name, {}),
        raw.get("stages", {}).get(stage, {}),
        raw.get("stages", {}).get(stage, {}).get("lambda_functions", {}).get(name, {}),
    ):
        for key in ("report_batch_item_failures", "sns_filter_policy", "sns_filter_policy_scope"):
            if key in scope:
                extras[key] = scope[key]
    return FunctionConfig(
        name=name,
        handler=handler,
        lambda_name=lambda_name(str(raw.get("app_name") or config.app_name), stage, name),
        timeout=float(config.lambda_timeout or DEFAULT_TIMEOUT),
        environment={
            key: str(value) for key, value in (config.environment_variables or {}).items()
        },
        memory_size=config.lambda_memory_size,
        reserved_concurrency=config.reserved_concurrency,
        **extras,
    )


def import_app(project_dir: Path) -> Any:
    """Imports ``app.py`` of the project (its directory first on sys.path) and returns ``app``."""
    sys.path.insert(0, str(project_dir))
    os.chdir(project_dir)
    module = importlib.import_module("app")
    return module.app


def _source(raw: dict[str, Any], stage: str, config: Any) -> EventSource | None:
    kind_by_class = {
        "SQSEventConfig": "sqs",
        "SNSEventConfig": "sns",
        "ScheduledEventConfig": "schedule",
        "DynamoDBEventConfig": "dynamodb",
        "KinesisEventConfig": "kinesis",
        "S3EventConfig": "s3",
        "CloudWatchEventConfig": "cloudwatch",
    }
    kind = kind_by_class.get(type(config).__name__)
    if kind is None:
        return None
    function = function_config(raw, stage, config.name, config.handler_string)
    params: dict[str, Any] = {}
    if kind == "sqs":
        params = {
            "queue": config.queue,
            "queue_arn": config.queue_arn,
            "batch_size": config.batch_size,
            "maximum_batching_window_in_seconds": config.maximum_batching_window_in_seconds,
            "maximum_concurrency": config.maximum_concurrency,
        }
    elif kind == "sns":
        params = {"topic": config.topic}
    elif kind == "schedule":
        expression = config.schedule_expression
        params = {
            "expression": expression if isinstance(expression, str) else expression.to_string()
        }
    elif kind == "dynamodb":
        params = {
            "stream_arn": config.stream_arn,
            "batch_size": config.batch_size,
            "starting_position": config.starting_position,
            "maximum_batching_window_in_seconds": config.maximum_batching_window_in_seconds,
        }
    elif kind == "kinesis":
        params = {
            "stream": config.stream,
            "batch_size": config.batch_size,
            "starting_position": config.starting_position,
            "maximum_batching_window_in_seconds": config.maximum_batching_window_in_seconds,
        }
    elif kind == "s3":
        params = {
            "bucket": config.bucket,
            "events": config.events,
            "prefix": config.prefix,
            "suffix": config.suffix,
        }
    elif kind == "cloudwatch":
        params = {"event_pattern": config.event_pattern}
    return EventSource(kind=kind, function=function, params=params)


# Chalice deploys the WebSocket handlers as three functions of these names.
WEBSOCKET_FUNCTIONS = {
    "$connect": "websocket_connect",
    "$disconnect": "websocket_disconnect",
    "$default": "websocket_message",
}


def _websocket_sources(raw: dict[str, Any], stage: str, app: Any) -> list[EventSource]:
    sources = []
    for route_key, handler in app.websocket_handlers.items():
        name = WEBSOCKET_FUNCTIONS.get(route_key, "websocket_message")
        function = function_config(raw, stage, name, handler.handler_string)
        sources.append(
            EventSource(kind="websocket", function=function, params={"route": route_key})
        )
    return sources


def describe(project_dir: Path, stage: str) -> ProjectDescription:
    raw = read_config(project_dir)
    api = function_config(raw, stage, "api_handler", "app.app")
    # The app reads its configuration from the environment at import, as it would on Lambda.
    os.environ.update(api.environment)
    app = import_app(project_dir)
    sources = [source for config in app.event_sources if (source := _source(raw, stage, config))]
    sources += _websocket_sources(raw, stage, app)
    routes = {path: sorted(methods) for path, methods in app.routes.items()}
    functions = [api] if routes else []
    functions += [source.function for source in sources]
    functions += [
        function_config(raw, stage, item.name, item.handler_string)
        for item in [*app.pure_lambda_functions, *app.builtin_auth_handlers]
    ]
    unique = {function.lambda_name: function for function in functions}
    return ProjectDescription(
        app_name=app.app_name,
        stage=stage,
        api=api,
        routes=routes,
        sources=sources,
        functions=list(unique.values()),
        api_gateway_stage=api_gateway_stage(raw, stage),
    )


def run_in_child(
    module: str, project_dir: Path, stage: str, env: dict[str, str], cwd: Path | None = None
) -> str:
    """Runs ``python -m MODULE PROJECT_DIR STAGE`` in a fresh interpreter, so the caller never
    imports user code, and returns the line it prints last (the app may print before it)."""
    result = subprocess.run(
        [sys.executable, "-m", module, str(project_dir), stage],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"could not load the Chalice app in {project_dir}:\n{result.stderr}")
    return result.stdout.strip().splitlines()[-1]


def describe_in_child(project_dir: Path, stage: str, env: dict[str, str]) -> ProjectDescription:
    """``describe`` in a fresh interpreter."""
    line = run_in_child("tocsin_local.emulator.project", project_dir, stage, env)
    return ProjectDescription.from_json(line)


if __name__ == "__main__":
    description = describe(Path(sys.argv[1]).resolve(), sys.argv[2])
    sys.stdout.write("\n" + description.to_json() + "\n")
