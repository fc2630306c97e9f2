"""The local stack's resources and demo key, made by a short-lived process of their own, so
that the supervisor of `make run` never imports boto3 or the app's code (and stays small).

    python -m tocsin_local.provisioning --endpoint URL [--account ID]

With ``--account`` (the embedded moto server's), the first line of output, at once, is the
functions' settings that name resources (the notification topic's ARN, the push platform
applications' ARNs) as they will be: the API and the runner start with them meanwhile. The
last line, once the endpoint serves and every resource exists, is those settings as made, the
demo tenant's API key and webhook secret, as JSON.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from urllib.parse import urlsplit

from tocsin_local.emulator.lifecycle import die_with_parent
from tocsin_local.local_cloud import aws_env

SERVE_TIMEOUT_SECONDS = 60.0


def wait_serving(endpoint: str, timeout: float = SERVE_TIMEOUT_SECONDS) -> None:
    parts = urlsplit(endpoint)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(address, timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{endpoint} does not serve") from None
            time.sleep(0.01)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tocsin-provisioning")
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--account", help="the endpoint's account: announce the topic ARN first")
    args = parser.parse_args(argv)
    die_with_parent()
    from chalicelib.settings import Stage
    from infra.resources import definition, stage_settings

    env = aws_env(args.endpoint)
    settings = stage_settings(Stage.LOCAL)
    topic = settings.notifications_topic_name
    from tocsin_local.stack import (
        endpoint_session,
        issue_demo_key,
        local_push_applications,
        predicted_push_applications,
    )

    if args.account:
        region = env["AWS_DEFAULT_REGION"]
        settings_named = {
            "TOCSIN_NOTIFICATIONS_TOPIC_ARN": f"arn:aws:sns:{region}:{args.account}:{topic}",
            **predicted_push_applications(region, args.account),
        }
        sys.stdout.write(json.dumps({"settings": settings_named}) + "\n")
        sys.stdout.flush()
    from infra.provision import provision

    session = endpoint_session(args.endpoint, env)
    wait_serving(args.endpoint)
    provisioned = provision(definition(Stage.LOCAL), session)
    key = issue_demo_key(session, settings.table_name)
    made = {
        "settings": {
            "TOCSIN_NOTIFICATIONS_TOPIC_ARN": provisioned.topic_arns[topic],
            **local_push_applications(session),
        },
        "api_key": key.api_key,
        "webhook_secret": key.webhook_secret,
    }
    sys.stdout.write(json.dumps(made) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
