"""The console's pages. Each view reads its form or query, calls the domain service its API
route calls, and renders a template; nothing here touches the table."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from chalice.app import Blueprint, Request, Response
from pydantic import TypeAdapter, ValidationError

from chalicelib.api.representations import recipient_details, subscription_details
from chalicelib.console import web
from chalicelib.console.web import field, html, redirect
from chalicelib.domain.errors import Invalid, NotFound, Unauthorized
from chalicelib.domain.sessions import Session
from chalicelib.models.alerts import AlertStatus
from chalicelib.models.api import RecipientIn, SubscriptionIn
from chalicelib.models.common import (
    RECIPIENT_ID_PATTERN,
    Channel,
    DeliveryStatus,
    NotificationStatus,
    Severity,
)
from chalicelib.models.stored import Delivery
from chalicelib.ports import InvalidCursor
from chalicelib.wiring import services

console = Blueprint(__name__)
_ANY: TypeAdapter[Any] = TypeAdapter(Any)

PAGE_SIZE = 25
# A notification page shows at most this many deliveries (a topic's may have thousands).
DELIVERIES_SHOWN = 50
FORMS = [web.FORM]


def page(view: Callable[..., Response]) -> Callable[..., Response]:
    """A console view: sign-in needed answers with a redirect, a refused form with 403, a
    missing item with 404."""

    def run(*args: Any, **kwargs: Any) -> Response:
        request = console.current_request
        try:
            # Every id in a console path (notification, recipient, subscription, key prefix)
            # has the API's id format; anything else names nothing.
            if not all(re.fullmatch(RECIPIENT_ID_PATTERN, str(value)) for value in kwargs.values()):
                raise NotFound("page")
            return view(request, *args, **kwargs)
        except web.SignInNeeded:
            return redirect(request, "/console/sign-in")
        except web.CsrfRefused:
            return html(
                request,
                "error.html",
                403,
                title="Form refused",
                message="This form had no valid CSRF token. Reload the page and try again.",
            )
        except NotFound as missing:
            return html(request, "error.html", 404, title="Not found", message=str(missing))

    run.__name__ = view.__name__
    return run


View = Callable[..., Response]


class Route(Protocol):
    def __call__(self, path: str, methods: list[str] | None = None) -> Callable[[View], View]: ...


def routes(blueprint: Blueprint) -> Route:
    """The route decorator of a console blueprint: POST routes take HTML forms."""

    def route(path: str, methods: list[str] | None = None) -> Callable[[View], View]:
        chosen = methods or ["GET"]

        def register(view: View) -> View:
            if "POST" in chosen:
                blueprint.route(path, methods=chosen, content_types=FORMS)(view)
            else:
                blueprint.route(path, methods=chosen)(view)
            return view

        return register

    return route


_route = routes(console)


def form_errors(error: ValidationError | Invalid) -> list[str]:
    if isinstance(error, Invalid):
        return [f"{'.'.join(map(str, error.loc))}: {error.msg}"]
    return [
        f"{'.'.join(str(part) for part in item['loc']) or 'form'}: {item['msg']}"
        for item in error.errors(include_url=False)
    ]


def query_value(request: Request, name: str) -> str:
    params: Mapping[str, str] = request.query_params or {}
    return str(params.get(name, "")).strip()


# --- sign-in --------------------------------------------------------------------------------
@_route("/console/sign-in")
def sign_in_form() -> Response:
    request = console.current_request
    return _sign_in_page(request)


def _sign_in_page(request: Request, status: int = 200, error: str | None = None) -> Response:
    token = web.new_sign_in_token()
    return html(
        request,
        "sign_in.html",
        status,
        csrf=token,
        error=error,
        headers={"Set-Cookie": web.cookie_header(web.SIGN_IN_COOKIE, token, max_age=1800)},
    )


@_route("/console/sign-in", ["POST"])
def sign_in() -> Response:
    request = console.current_request
    fields = web.form(request)
    if not web.sign_in_token_ok(request, fields):
        return html(
            request,
            "error.html",
            403,
            title="Form refused",
            message="The sign-in form had no valid CSRF token. Reload it and try again.",
        )
    sessions = services().console.sessions
    try:
        signed_in = sessions.sign_in(field(fields, "api_key"))
    except Unauthorized:
        return _sign_in_page(request, 401, "That API key is not valid.")
    max_age = int(sessions.ttl.total_seconds())
    return redirect(
        request,
        "/console",
        headers={
            "Set-Cookie": [
                web.cookie_header(web.SESSION_COOKIE, signed_in.cookie, max_age=max_age),
                web.cookie_header(web.SIGN_IN_COOKIE, "", max_age=0),
            ]
        },
    )


@_route("/console/sign-out", ["POST"])
@page
def sign_out(request: Request) -> Response:
    session = web.current_session(request)
    web.checked_form(request, session)
    services().console.sessions.sign_out(web.cookies(request).get(web.SESSION_COOKIE))
    return redirect(
        request,
        "/console/sign-in",
        headers={"Set-Cookie": web.cookie_header(web.SESSION_COOKIE, "", max_age=0)},
    )


# --- overview -------------------------------------------------------------------------------
@_route("/console")
@page
def overview(request: Request) -> Response:
    session = web.current_session(request)
    summary = services().console.overview.overview(session.tenant)
    alerts = services().alerting.alerts
    open_alerts = [
        *alerts.list(session.tenant, status=AlertStatus.TRIGGERED, limit=10, cursor=None).items,
        *alerts.list(session.tenant, status=AlertStatus.ACKNOWLEDGED, limit=10, cursor=None).items,
    ]
    return html(
        request,
        "overview.html",
        session=session,
        overview=summary,
        open_alerts=open_alerts,
        nav="overview",
    )


# --- notifications --------------------------------------------------------------------------
@_route("/console/notifications")
@page
def notifications_list(request: Request) -> Response:
    session = web.current_session(request)
    wanted_id = query_value(request, "id")
    if wanted_id:
        return redirect(request, f"/console/notifications/{wanted_id}")
    status_text = query_value(request, "status")
    status = NotificationStatus(status_text) if status_text in NotificationStatus else None
    filters = {
        "status": status.value if status else "",
        "recipient_id": query_value(request, "recipient_id"),
        "topic": query_value(request, "topic"),
    }
    error = None
    try:
        found = services().notifications.list(
            session.tenant,
            recipient_id=filters["recipient_id"] or None,
            status=status,
            topic=filters["topic"] or None,
            limit=PAGE_SIZE,
            cursor=query_value(request, "cursor") or None,
        )
        items, next_cursor = found.items, found.next_cursor
    except InvalidCursor:
        items, next_cursor, error = [], None, "That page link is no longer valid."
    return html(
        request,
        "notifications.html",
        session=session,
        nav="notifications",
        items=items,
        next_cursor=next_cursor,
        filters=filters,
        statuses=list(NotificationStatus),
        error=error,
    )


def _deliveries(tenant: str, notification_id: str) -> tuple[list[Delivery], bool]:
    found = services().notifications.deliveries(
        tenant,
        notification_id,
        status=None,
        channel=None,
        recipient_id=None,
        limit=DELIVERIES_SHOWN,
        cursor=None,
    )
    return found.items, found.next_cursor is not None


@_route("/console/notifications/{notification_id}")
@page
def notification_detail(request: Request, notification_id: str) -> Response:
    session = web.current_session(request)
    notification = services().notifications.get(session.tenant, notification_id)
    deliveries, more = _deliveries(session.tenant, notification_id)
    return html(
        request,
        "notification.html",
        session=session,
        nav="notifications",
        notification=notification,
        deliveries=deliveries,
        more_deliveries=more,
        failed=DeliveryStatus.FAILED,
        retried=query_value(request, "retried"),
    )


@_route("/console/notifications/{notification_id}/retry", ["POST"])
@page
def notification_retry(request: Request, notification_id: str) -> Response:
    session = web.current_session(request)
    fields = web.checked_form(request, session)
    channel = field(fields, "channel")
    retried = services().dead_letters.retry(
        session.tenant,
        notification_id,
        channel=Channel(channel) if channel in Channel else None,
        recipient_id=field(fields, "recipient_id") or None,
    )
    return redirect(request, f"/console/notifications/{notification_id}?retried={retried}")


# --- dead letters ---------------------------------------------------------------------------
@_route("/console/dead-letters")
@page
def dead_letters(request: Request) -> Response:
    session = web.current_session(request)
    try:
        found = services().dead_letters.list(
            session.tenant, limit=PAGE_SIZE, cursor=query_value(request, "cursor") or None
        )
        items, next_cursor = found.items, found.next_cursor
    except InvalidCursor:
        items, next_cursor = [], None
    return html(
        request,
        "dead_letters.html",
        session=session,
        nav="dead-letters",
        items=items,
        next_cursor=next_cursor,
        redriven=query_value(request, "redriven"),
    )


@_route("/console/dead-letters/redrive", ["POST"])
@page
def dead_letters_redrive(request: Request) -> Response:
    """The selected dead letters, or every one when none is selected."""
    session = web.current_session(request)
    fields = web.checked_form(request, session)
    dead = services().dead_letters
    selected = [value for value in fields.get("letter", []) if value.count("|") == 2]
    if not selected:
        redriven = dead.redrive(session.tenant, channel=None, recipient_id=None)
    else:
        redriven = 0
        for value in selected:
            notification_id, channel, recipient_id = value.split("|")
            if channel not in Channel:
                continue
            try:
                redriven += dead.retry(
                    session.tenant,
                    notification_id,
                    channel=Channel(channel),
                    recipient_id=recipient_id,
                )
            except NotFound:
                continue
    return redirect(request, f"/console/dead-letters?redriven={redriven}")


# --- recipients -----------------------------------------------------------------------------
@_route("/console/recipients")
@page
def recipients_list(request: Request) -> Response:
    session = web.current_session(request)
    wanted = query_value(request, "id")
    if wanted:
        return redirect(request, f"/console/recipients/{wanted}")
    try:
        found = services().console.recipients.list(
            session.tenant, limit=PAGE_SIZE, cursor=query_value(request, "cursor") or None
        )
        items, next_cursor = found.items, found.next_cursor
    except InvalidCursor:
        items, next_cursor = [], None
    return html(
        request,
        "recipients.html",
        session=session,
        nav="recipients",
        items=items,
        next_cursor=next_cursor,
        errors=[],
        values={},
    )


def _recipient_form(fields: dict[str, list[str]]) -> dict[str, Any]:
    values: dict[str, Any] = {
        name: field(fields, name) or None for name in ("name", "email", "phone", "webhook_url")
    }
    preferences = field(fields, "preferences")
    if preferences:
        try:
            values["preferences"] = json.loads(preferences)
        except ValueError:
            values["preferences"] = preferences  # refused by the model, with its message
    return values


@_route("/console/recipients", ["POST"])
@page
def recipient_save(request: Request) -> Response:
    session = web.current_session(request)
    fields = web.checked_form(request, session)
    recipient_id = field(fields, "recipient_id")
    values = _recipient_form(fields)
    try:
        if not re.fullmatch(RECIPIENT_ID_PATTERN, recipient_id):
            raise Invalid(["recipient_id"], "1-128 characters of A-Z a-z 0-9 . _ : @ -")
        details = recipient_details(RecipientIn.model_validate(values))
        services().recipients.put(session.tenant, recipient_id, details)
    except (ValidationError, Invalid) as error:
        return html(
            request,
            "recipient.html" if field(fields, "editing") else "recipients.html",
            422,
            session=session,
            nav="recipients",
            items=[],
            next_cursor=None,
            recipient=None,
            recipient_id=recipient_id,
            errors=form_errors(error),
            values={
                **values,
                "recipient_id": recipient_id,
                "preferences": field(fields, "preferences"),
            },
            saved=False,
        )
    return redirect(request, f"/console/recipients/{recipient_id}?saved=1")


@_route("/console/recipients/{recipient_id}")
@page
def recipient_detail(request: Request, recipient_id: str) -> Response:
    session = web.current_session(request)
    recipient = services().recipients.get(session.tenant, recipient_id)
    values = recipient.model_dump(include={"name", "email", "phone", "webhook_url"})
    # A plain object or a typed model, as the API stores it: shown as the JSON the API takes.
    preferences = _ANY.dump_python(recipient.preferences, mode="json", exclude_none=True)
    values["preferences"] = json.dumps(preferences, indent=2) if preferences else ""
    return html(
        request,
        "recipient.html",
        session=session,
        nav="recipients",
        recipient=recipient,
        recipient_id=recipient_id,
        values=values,
        errors=[],
        saved=query_value(request, "saved"),
    )


@_route("/console/recipients/{recipient_id}/webhook/enable", ["POST"])
@page
def recipient_enable_webhook(request: Request, recipient_id: str) -> Response:
    session = web.current_session(request)
    web.checked_form(request, session)
    services().recipients.enable_webhook(session.tenant, recipient_id)
    return redirect(request, f"/console/recipients/{recipient_id}?saved=1")


@_route("/console/recipients/{recipient_id}/delete", ["POST"])
@page
def recipient_delete(request: Request, recipient_id: str) -> Response:
    session = web.current_session(request)
    web.checked_form(request, session)
    services().recipients.delete(session.tenant, recipient_id)
    return redirect(request, "/console/recipients")


# --- topics and subscriptions ---------------------------------------------------------------
@_route("/console/topics")
@page
def topics(request: Request) -> Response:
    session = web.current_session(request)
    return _topics_page(request, session)


def _topics_page(
    request: Request,
    session: Session,
    status: int = 200,
    errors: list[str] | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    subscriptions = services().subscriptions
    try:
        found = subscriptions.list(
            session.tenant,
            recipient_id=None,
            pattern=None,
            limit=PAGE_SIZE,
            cursor=query_value(request, "cursor") or None,
        )
        items, next_cursor = found.items, found.next_cursor
    except InvalidCursor:
        items, next_cursor = [], None
    topic = query_value(request, "topic")
    reach = None
    reach_error = None
    if topic:
        try:
            reach = subscriptions.subscribers(session.tenant, topic, limit=50, cursor=None).items
        except (Invalid, InvalidCursor) as error:
            reach_error = str(error)
    return html(
        request,
        "topics.html",
        status,
        session=session,
        nav="topics",
        items=items,
        next_cursor=next_cursor,
        topic=topic,
        reach=reach,
        reach_error=reach_error,
        errors=errors or [],
        values=values or {},
        severities=list(Severity),
        channels=list(Channel),
    )


@_route("/console/subscriptions", ["POST"])
@page
def subscription_save(request: Request) -> Response:
    session = web.current_session(request)
    fields = web.checked_form(request, session)
    subscription_id = field(fields, "subscription_id")
    categories = [c.strip() for c in field(fields, "categories").split(",") if c.strip()]
    values: dict[str, Any] = {
        "recipient_id": field(fields, "recipient_id"),
        "pattern": field(fields, "pattern"),
        "min_severity": field(fields, "min_severity") or None,
        "categories": categories or None,
        "channels": fields.get("channels") or None,
    }
    try:
        if not re.fullmatch(RECIPIENT_ID_PATTERN, subscription_id):
            raise Invalid(["subscription_id"], "1-128 characters of A-Z a-z 0-9 . _ : @ -")
        details = subscription_details(SubscriptionIn.model_validate(values))
        services().subscriptions.put(session.tenant, subscription_id, details)
    except (ValidationError, Invalid) as error:
        shown = {**values, "subscription_id": subscription_id, "categories": ", ".join(categories)}
        return _topics_page(request, session, 422, form_errors(error), shown)
    return redirect(request, "/console/topics")


@_route("/console/subscriptions/{subscription_id}/delete", ["POST"])
@page
def subscription_delete(request: Request, subscription_id: str) -> Response:
    session = web.current_session(request)
    web.checked_form(request, session)
    services().subscriptions.delete(session.tenant, subscription_id)
    return redirect(request, "/console/topics")


# --- API keys -------------------------------------------------------------------------------
@_route("/console/keys")
@page
def keys(request: Request) -> Response:
    session = web.current_session(request)
    return _keys_page(request, session)


def _keys_page(request: Request, session: Session, minted: str | None = None) -> Response:
    return html(
        request,
        "keys.html",
        session=session,
        nav="keys",
        items=services().console.keys.list(session.tenant),
        minted=minted,
    )


@_route("/console/keys", ["POST"])
@page
def key_mint(request: Request) -> Response:
    session = web.current_session(request)
    web.checked_form(request, session)
    issued = services().console.keys.mint(session.tenant)
    # Shown once, on this answer only (never stored, never in a URL; the page is no-store).
    return _keys_page(request, session, minted=issued.api_key)


@_route("/console/keys/{prefix}/revoke", ["POST"])
@page
def key_revoke(request: Request, prefix: str) -> Response:
    session = web.current_session(request)
    web.checked_form(request, session)
    services().console.keys.revoke(session.tenant, prefix)
    if prefix == session.key_prefix:
        return redirect(request, "/console/sign-in")
    return redirect(request, "/console/keys")


# --- static assets and the API reference ----------------------------------------------------
STATIC = Path(__file__).parent / "static"
SWAGGER_UI_VERSION = "5.35.0"
_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
CONSOLE_ASSETS = {"console.css", "console.js"}
DOCS_ASSETS = {
    "swagger-ui.css": "swagger-ui/swagger-ui.css",
    "swagger-ui-bundle.js": "swagger-ui/swagger-ui-bundle.js",
    "docs.js": "docs.js",
    "docs.css": "docs.css",
}


def _asset(relative: str, *, max_age: int) -> Response:
    path = STATIC / relative
    return Response(
        body=path.read_text(encoding="utf-8"),
        status_code=200,
        headers={
            "Content-Type": _TYPES[path.suffix],
            "Cache-Control": f"public, max-age={max_age}",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _missing(request: Request) -> Response:
    return html(request, "error.html", 404, title="Not found", message="No such file.")


@_route("/console/static/{name}")
def console_asset(name: str) -> Response:
    if name not in CONSOLE_ASSETS:
        return _missing(console.current_request)
    return _asset(name, max_age=300)


@_route("/docs")
def docs() -> Response:
    request = console.current_request
    return html(request, "docs.html", version=SWAGGER_UI_VERSION)


@_route("/docs/assets/{version}/{name}")
def docs_asset(version: str, name: str) -> Response:
    if version != SWAGGER_UI_VERSION or name not in DOCS_ASSETS:
        return _missing(console.current_request)
    # Versioned paths: a new Swagger UI is a new URL, so browsers may keep these a day.
    return _asset(DOCS_ASSETS[name], max_age=86400)
