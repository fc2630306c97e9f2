"""What the local cloud's loopback servers (the AWS endpoint, the runner's control port) let in.

Any web page the developer opens can send requests to 127.0.0.1; a page on another origin must
not read the local cloud's tables (every tenant's webhook secret) or wipe its state. Browsers
mark such requests with ``Origin``; a page that rebinds its own DNS name to 127.0.0.1 still
sends its own name as ``Host``. SDKs and the CLI send neither an ``Origin`` nor a foreign host.
So: no request with an ``Origin`` the user did not name, none for a host that is not loopback,
and no CORS headers but for an origin the user named (``TOCSIN_AWS_ALLOW_ORIGINS``, comma
separated).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

ALLOW_ORIGINS_VARIABLE = "TOCSIN_AWS_ALLOW_ORIGINS"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


def allowed_origins() -> frozenset[str]:
    named = os.environ.get(ALLOW_ORIGINS_VARIABLE, "")
    return frozenset(origin.strip().rstrip("/") for origin in named.split(",") if origin.strip())


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def refusal(host: str | None, origin: str | None, allowed: Iterable[str]) -> str | None:
    """Why a request must be refused, or None when it may go on."""
    name = _host_name((host or "").strip().lower())
    if name not in LOOPBACK_HOSTS and not name.endswith(".localhost"):
        return f"host {name[:100]!r} is not loopback"
    if origin is not None and origin.rstrip("/") not in allowed:
        return f"origin {origin[:100]!r} is not allowed (name it in {ALLOW_ORIGINS_VARIABLE})"
    return None


class LoopbackGuard:
    """WSGI middleware in front of the moto server: loopback hosts only, no foreign origins,
    no CORS headers but for allowed origins, and of moto's own API only ``allowed_paths``."""

    def __init__(
        self,
        app: Callable[..., Any],
        *,
        allowed_paths: frozenset[str],
        origins: frozenset[str] | None = None,
    ) -> None:
        self._app = app
        self._paths = allowed_paths
        self._origins = allowed_origins() if origins is None else origins

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        origin = environ.get("HTTP_ORIGIN")
        reason = refusal(environ.get("HTTP_HOST"), origin, self._origins)
        path = environ.get("PATH_INFO", "")
        if reason is None and path.startswith("/moto-api") and path not in self._paths:
            reason = f"{path[:100]} is not served by the local cloud"
        if reason is not None:
            body = json.dumps({"message": f"Forbidden: {reason}"}).encode()
            start_response(
                "403 Forbidden",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        keep_cors = origin is not None

        def start(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            if not keep_cors:
                headers = [
                    (name, value)
                    for name, value in headers
                    if not name.lower().startswith("access-control-")
                ]
            return start_response(status, headers, *args)

        return self._app(environ, start)
