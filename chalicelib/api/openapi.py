"""The OpenAPI 3.1 document, generated from the operations and their pydantic models."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from chalicelib.api.operations import JSON_CONTENT_TYPE, Operation
from chalicelib.api.problems import PROBLEM_CONTENT_TYPE
from chalicelib.models.api import Problem

REF = "#/components/schemas/{model}"
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "string"},
    }
}
Mode = Literal["validation", "serialization"]


def _models(operations: Iterable[Operation]) -> list[tuple[type[BaseModel], Mode]]:
    wanted: dict[tuple[type[BaseModel], Mode], None] = {(Problem, "serialization"): None}
    for op in operations:
        if op.body is not None:
            wanted[(op.body, "validation")] = None
        for model in op.success.values():
            if model is not None:
                wanted[(model, "serialization")] = None
    return list(wanted)


def _parameters(op: Operation, definitions: dict[str, Any]) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": TypeAdapter(annotation).json_schema(),
        }
        for name, annotation in op.path_params.items()
    ]
    if op.query is not None:
        schema = op.query.model_json_schema(ref_template=REF)
        definitions.update(schema.pop("$defs", {}))
        required = set(schema.get("required", []))
        for name, field_schema in schema["properties"].items():
            parameter: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": {
                    key: value for key, value in field_schema.items() if key != "description"
                },
            }
            if "description" in field_schema:
                parameter["description"] = field_schema["description"]
            parameters.append(parameter)
    for name, description in op.request_headers.items():
        parameters.append(
            {
                "name": name,
                "in": "header",
                "required": False,
                "description": description,
                "schema": {"type": "string", "minLength": 1, "maxLength": 128},
            }
        )
    return parameters


def _responses(op: Operation, refs: Mapping[tuple[Any, Mode], dict[str, Any]]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, model in sorted(op.success.items()):
        response: dict[str, Any] = {"description": HTTPStatus(status).phrase}
        if status in op.media_types:
            response["content"] = {op.media_types[status]: {"schema": {"type": "string"}}}
        elif model is not None:
            response["content"] = {JSON_CONTENT_TYPE: {"schema": refs[(model, "serialization")]}}
        if op.response_headers:
            response["headers"] = {
                name: {"description": f"e.g. {example}", "schema": {"type": "string"}}
                for name, example in op.response_headers.items()
            }
        if status == 429:
            response["headers"] = {**response.get("headers", {}), **RETRY_AFTER}
        responses[str(status)] = response
    problem = {PROBLEM_CONTENT_TYPE: {"schema": refs[(Problem, "serialization")]}}
    for status in op.error_statuses:
        error: dict[str, Any] = {"description": HTTPStatus(status).phrase, "content": problem}
        if status == 401:
            error["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        if status == 429:
            error["headers"] = RETRY_AFTER
        responses[str(status)] = error
    return responses


def build_document(operations: Iterable[Operation], *, version: str) -> dict[str, Any]:
    operations = list(operations)
    refs, generated = models_json_schema(_models(operations), ref_template=REF)
    definitions: dict[str, Any] = generated.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        entry: dict[str, Any] = {
            "operationId": op.name,
            "summary": op.summary,
            "tags": [op.tag],
            "responses": _responses(op, refs),
            "security": [{"bearerAuth": []}] if op.auth else [],
        }
        parameters = _parameters(op, definitions)
        if parameters:
            entry["parameters"] = parameters
        if op.body is not None:
            entry["requestBody"] = {
                "required": op.body_required,
                "content": {JSON_CONTENT_TYPE: {"schema": refs[(op.body, "validation")]}},
            }
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tocsin",
            "version": version,
            "description": "Notifications and alerts over HTTP, delivered by webhook, email, SMS "
            "and in-app inbox. Errors are RFC 9457 problem details.",
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(definitions.items())),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "Tocsin API key"}
            },
        },
    }
