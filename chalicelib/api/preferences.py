"""Preferences: a recipient's own, and its tenant's defaults."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api.operations import Call, operation, reply
from chalicelib.models.common import RecipientId
from chalicelib.models.preferences import RecipientPreferences, TenantPreferences
from chalicelib.wiring import services

preferences = Blueprint(__name__)

RECIPIENT_PREFERENCES = "/v1/recipients/{recipient_id}/preferences"
BY_RECIPIENT = {"recipient_id": RecipientId}


@operation(
    preferences,
    "/v1/preferences",
    "GET",
    summary="Read the tenant's default preferences by category",
    tag="preferences",
    success={200: TenantPreferences},
)
def get_tenant_preferences(call: Call) -> Response:
    return reply(200, services().preferences.tenant(call.tenant))


@operation(
    preferences,
    "/v1/preferences",
    "PUT",
    summary="Replace the tenant's default preferences (required categories pass opt-outs and "
    "quiet hours)",
    tag="preferences",
    success={200: TenantPreferences},
    body=TenantPreferences,
)
def put_tenant_preferences(call: Call) -> Response:
    return reply(200, services().preferences.put_tenant(call.tenant, call.body))


@operation(
    preferences,
    RECIPIENT_PREFERENCES,
    "GET",
    summary="Read a recipient's preferences",
    tag="preferences",
    success={200: RecipientPreferences},
    path_params=BY_RECIPIENT,
)
def get_recipient_preferences(call: Call, recipient_id: str) -> Response:
    return reply(200, services().preferences.recipient(call.tenant, recipient_id))


@operation(
    preferences,
    RECIPIENT_PREFERENCES,
    "PUT",
    summary="Replace a recipient's preferences alone (channels, categories, quiet hours)",
    tag="preferences",
    success={200: RecipientPreferences},
    body=RecipientPreferences,
    path_params=BY_RECIPIENT,
)
def put_recipient_preferences(call: Call, recipient_id: str) -> Response:
    return reply(200, services().preferences.put_recipient(call.tenant, recipient_id, call.body))
