"""What every console page shares: rendering, security headers, the session cookie, CSRF,
forms and links.

Pages are Jinja2 templates rendered on the server (jinja2 is imported on the first console
request only, so API and queue functions do not pay for it at a cold start).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from http.cookies import SimpleCookie
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode

from chalice.app import Request, Response

from chalicelib.domain.errors import Unauthorized
from chalicelib.domain.sessions import Session
from chalicelib.domain.status import status_of
from chalicelib.settings import get_settings
from chalicelib.wiring import services

if TYPE_CHECKING:
    from jinja2 import Environment

HERE = Path(__file__).parent
SESSION_COOKIE = "tocsin_session"
# Sign-in has no session yet: its CSRF token is a random cookie the form repeats.
SIGN_IN_COOKIE = "tocsin_sign_in"
FORM = "application/x-www-form-urlencoded"

# No inline script or style anywhere: scripts and styles come from this origin only.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class SignInNeeded(Exception):
    """No valid session: the page answers with a redirect to the sign-in form."""


class CsrfRefused(Exception):
    """A form without the session's CSRF token."""


@lru_cache(maxsize=1)
def environment() -> Environment:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = format_time
    env.globals["status_of"] = status_of
    return env


def now() -> datetime:
    """The time a form's relative choice ("for 2 hours") is taken from."""
    return datetime.now(UTC)


def format_time(value: Any) -> str:
    if value is None:
        return "—"
    text: str = value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return text


def root(request: Request) -> str:
    """The path the app is mounted at: API Gateway's own URL carries the stage (``/api``);
    a custom domain or the local server do not."""
    host = str(request.headers.get("host") or "")
    stage = request.context.get("stage")
    if stage and host.endswith(".amazonaws.com"):
        return f"/{stage}"
    return ""


def html(
    request: Request,
    template: str,
    status: int = 200,
    *,
    session: Session | None = None,
    headers: Mapping[str, str | list[str]] | None = None,
    **context: Any,
) -> Response:
    base = root(request)
    body = (
        environment()
        .get_template(template)
        .render(
            session=session,
            base=base,
            url=lambda path, **query: link(base, path, **query),
            **context,
        )
    )
    return Response(
        body=body,
        status_code=status,
        headers={"Content-Type": "text/html; charset=utf-8", **SECURITY_HEADERS, **(headers or {})},
    )


def link(base: str, path: str, **query: Any) -> str:
    kept = {name: value for name, value in query.items() if value not in (None, "")}
    return base + path + (f"?{urlencode(kept)}" if kept else "")


def redirect(
    request: Request, path: str, headers: Mapping[str, str | list[str]] | None = None
) -> Response:
    return Response(
        body="",
        status_code=303,
        headers={"Location": root(request) + path, **SECURITY_HEADERS, **(headers or {})},
    )


def cookies(request: Request) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(request.headers.get("cookie") or "")
    except Exception:  # a malformed header is no session
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def cookie_header(name: str, value: str, *, max_age: int) -> str:
    parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Strict", f"Max-Age={max_age}"]
    if not get_settings().is_local:
        parts.append("Secure")
    return "; ".join(parts)


def current_session(request: Request) -> Session:
    try:
        return services().console.sessions.resolve(cookies(request).get(SESSION_COOKIE))
    except Unauthorized:
        raise SignInNeeded from None


def form(request: Request) -> dict[str, list[str]]:
    raw = request.raw_body or b""
    try:
        text = raw if isinstance(raw, str) else raw.decode("utf-8")
        return parse_qs(text, keep_blank_values=True, max_num_fields=500)
    except (UnicodeDecodeError, ValueError):
        return {}


def field(fields: Mapping[str, list[str]], name: str) -> str:
    values = fields.get(name) or [""]
    return values[0].strip()


def checked_form(request: Request, session: Session) -> dict[str, list[str]]:
    """The form, once its CSRF token is the session's."""
    fields = form(request)
    if not services().console.sessions.csrf_ok(session, field(fields, "csrf") or None):
        raise CsrfRefused
    return fields


def new_sign_in_token() -> str:
    return secrets.token_urlsafe(24)


def sign_in_token_ok(request: Request, fields: Mapping[str, list[str]]) -> bool:
    expected = cookies(request).get(SIGN_IN_COOKIE)
    given = field(fields, "csrf")
    return bool(expected) and bool(given) and hmac.compare_digest(expected or "", given)
