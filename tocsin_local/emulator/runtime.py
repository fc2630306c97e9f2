"""What the emulated Lambda runtime adds to a function's process before it imports user code.

Chalice's ``app.websocket_api`` builds its ``apigatewaymanagementapi`` client with an explicit
endpoint, ``https://{apiId}.execute-api.{region}.amazonaws.com/{stage}``, which no endpoint
variable can override. When ``AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI`` is set (the local
cloud sets it), a client made for such an endpoint goes to that URL instead, with the stage's
path kept, so ``app.websocket_api.send(...)`` reaches the local WebSocket API.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urlsplit

EXECUTE_API = re.compile(r"^https://[^/]+\.execute-api\.[^/]+\.amazonaws\.com(\.cn)?(/.*)?$")


def local_management_endpoint(endpoint: str | None) -> str | None:
    """The local endpoint standing for an API Gateway execute-api ``endpoint``, if any."""
    target = os.environ.get("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI")
    if not target or not endpoint or not EXECUTE_API.match(endpoint):
        return None
    return target.rstrip("/") + urlsplit(endpoint).path


def redirect_execute_api() -> None:
    import botocore.session

    original = botocore.session.Session.create_client

    def create_client(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        if service_name == "apigatewaymanagementapi":
            local = local_management_endpoint(kwargs.get("endpoint_url"))
            if local is not None:
                kwargs["endpoint_url"] = local
        return original(self, service_name, *args, **kwargs)

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
