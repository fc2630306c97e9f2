"""``tocsin``: the command line of Tocsin's local tooling.

It finds the cloud it talks to as the service does: ``AWS_ENDPOINT_URL`` if set, else the
``aws_endpoint_url`` in ``.tocsin/local.json`` of the current directory (written by
``make run``), else real AWS through the usual credentials chain.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3

from chalicelib.models.common import Channel
from tocsin_local.local_cloud import aws_env

STATE_FILE = Path(".tocsin") / "local.json"


def _project_root() -> Path:
    return Path(__file__).resolve().parent.parent


def local_state(state_dir: Path | None = None) -> dict[str, Any] | None:
    path = (state_dir / "local.json") if state_dir else STATE_FILE
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data


def session() -> tuple[boto3.session.Session, str | None]:
    """A boto3 session on the cloud the CLI should talk to, and its endpoint (None: AWS)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        state = local_state()
        endpoint = state.get("aws_endpoint_url") if state else None
        if endpoint:
            env = aws_env(endpoint)
            return (
                boto3.session.Session(
                    aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                    aws_session_token=env["AWS_SESSION_TOKEN"],
                    region_name=env["AWS_DEFAULT_REGION"],
                ),
                endpoint,
            )
    return boto3.session.Session(), endpoint


def _client(service: str) -> Any:
    active, endpoint = session()
    return active.client(service, endpoint_url=endpoint) if endpoint else active.client(service)  # type: ignore[call-overload]


def _services() -> Any:
    from chalicelib.adapters.dynamodb import DynamoStore
    from chalicelib.adapters.runtime import SystemClock
    from chalicelib.domain.tenants import TenantService
    from chalicelib.settings import get_settings

    store = DynamoStore(_client("dynamodb"), get_settings().table_name)
    return store, TenantService(tenants=store, clock=SystemClock())


def _follow_parent(args: argparse.Namespace) -> None:
    if args.exit_with_parent:
        from tocsin_local.emulator.lifecycle import die_with_parent

        die_with_parent()


def cmd_run(args: argparse.Namespace) -> int:
    from tocsin_local.stack import run

    _follow_parent(args)
    return run(
        project_dir=args.project_dir,
        port=args.port,
        moto_port=args.moto_port,
        state_dir=args.state_dir,
        endpoint_url=args.endpoint_url,
        reload=not args.no_reload,
    )


def cmd_local(args: argparse.Namespace) -> int:
    from tocsin_local.local_cloud import LocalCloud, Options

    _follow_parent(args)
    cloud = LocalCloud(
        Options(
            project_dir=args.project_dir,
            stage=args.stage,
            port=args.port,
            endpoint_url=args.endpoint_url,
            moto_port=args.moto_port,
            create_missing=args.create_missing,
            state_dir=args.project_dir / ".tocsin",
            reload=not args.no_reload,
        )
    )
    try:
        endpoint = cloud.start_endpoint()
        cloud.start_functions()
        cloud.wait_ready(None)
        sys.stdout.write(
            f"\n{args.project_dir.resolve().name} is running locally.\n"
            f"  API:          {cloud.api_url}\n"
            f"  AWS endpoint: {endpoint}\n"
            f"  WebSocket API (when the app has one): {cloud.websocket_url}\n"
            "  Lambda API and WebSocket management API (for your scripts):\n"
            f"    export AWS_ENDPOINT_URL_LAMBDA={cloud.functions_url}\n"
            f"    export AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI={cloud.functions_url}\n"
            "Ctrl-C stops everything.\n"
        )
        sys.stdout.flush()
        cloud.serve()
    finally:
        cloud.stop()
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    from chalicelib.domain.errors import Invalid

    _, tenants = _services()
    try:
        issued = tenants.issue_key(args.tenant)
    except Invalid as invalid:
        print(json.dumps({"error": f"tenant: {invalid.msg}"}))
        return 2
    print(
        json.dumps(
            {
                "tenant": issued.tenant,
                "api_key": issued.api_key,
                "webhook_secret": issued.webhook_secret,
            }
        )
    )
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    _, tenants = _services()
    prefix = args.key_prefix.split(".", 1)[0]
    if not tenants.revoke(prefix):
        print(json.dumps({"revoked": False, "prefix": prefix}))
        return 1
    print(json.dumps({"revoked": True, "prefix": prefix}))
    return 0


def _integrations() -> Any:
    from chalicelib.adapters.dynamodb_alerts import DynamoAlertStore
    from chalicelib.adapters.runtime import SystemClock
    from chalicelib.domain.integrations import IntegrationService
    from chalicelib.settings import get_settings

    store = DynamoAlertStore(_client("dynamodb"), get_settings().table_name)
    return store, IntegrationService(
        integrations=store, tenants=store, policies=store, clock=SystemClock()
    )


def _integration_line(integration: Any, routing_key: str | None = None) -> str:
    from chalicelib.api.alert_representations import integration_out

    shown = json.loads(integration_out(integration, routing_key).model_dump_json())
    return json.dumps({"tenant": integration.tenant_id, **shown})


def cmd_integrations_create(args: argparse.Namespace) -> int:
    from chalicelib.domain.errors import Invalid
    from chalicelib.models.alerts import IntegrationKind

    _, integrations = _integrations()
    try:
        created = integrations.create(
            args.tenant,
            IntegrationKind(args.kind),
            topic=args.topic,
            escalation_policy=args.escalation_policy,
        )
    except Invalid as invalid:
        print(json.dumps({"error": f"{'.'.join(map(str, invalid.loc))}: {invalid.msg}"}))
        return 2
    print(_integration_line(created.integration, created.routing_key))
    return 0


def cmd_integrations_list(args: argparse.Namespace) -> int:
    store, integrations = _integrations()
    for tenant in _tenants(store, args.tenant):
        for integration in integrations.list(tenant):
            print(_integration_line(integration))
    return 0


def cmd_integrations_revoke(args: argparse.Namespace) -> int:
    _, integrations = _integrations()
    revoked = integrations.revoke(args.integration_id)
    print(json.dumps({"revoked": revoked, "id": args.integration_id}))
    return 0 if revoked else 1


def outbox(endpoint: str) -> list[dict[str, Any]]:
    """What the local cloud 'sent': SES emails, SNS text messages and mobile pushes, oldest
    first."""
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=10) as response:  # noqa: S310
        data = json.load(response)
    items: list[dict[str, Any]] = []
    for message in data.get("ses", {}).get("Message", []):
        destination = message.get("destinations", {}) or {}
        items.append(
            {
                "channel": "email",
                "time": message.get("sent_at"),
                "to": ", ".join(destination.get("ToAddresses", []) or []),
                "subject": message.get("subject"),
                "body": message.get("body"),
                "source": message.get("source"),
                "id": message.get("id"),
            }
        )
    for sms in data.get("sns", {}).get("SMS", []):
        items.append(
            {
                "channel": "sms",
                "time": sms.get("sent_at"),
                "to": sms.get("phone_number"),
                "subject": None,
                "body": sms.get("message"),
                "id": sms.get("message_id"),
            }
        )
    for endpoint_item in data.get("sns", {}).get("PlatformEndpoint", []):
        for push in endpoint_item.get("sent", []) or []:
            items.append(
                {
                    "channel": "push",
                    "time": push.get("sent_at"),
                    "to": endpoint_item.get("token"),
                    "subject": _push_title(push.get("message", "")),
                    "body": push.get("message"),
                    "endpoint": endpoint_item.get("arn"),
                    "id": push.get("message_id"),
                }
            )
    return sorted(items, key=lambda item: item["time"] or "")


def _push_title(message: str) -> str | None:
    """The ``default`` text of an SNS mobile push message (MessageStructure json)."""
    try:
        parsed = json.loads(message)
    except ValueError:
        return message
    return parsed.get("default") if isinstance(parsed, dict) else message


def cmd_outbox(args: argparse.Namespace) -> int:
    _, endpoint = session()
    if not endpoint:
        print("tocsin outbox reads the local cloud: run `make run` first", file=sys.stderr)
        return 2
    items = outbox(endpoint)
    if args.json:
        print(json.dumps(items, indent=2))
        return 0
    for item in items:
        subject = item.get("subject") or item.get("body") or ""
        print(
            f"{item['time'] or '':<25} {item['channel']:<6} {item.get('to') or '':<32} {str(subject)[:80]}"
        )
    if not items:
        print("(nothing sent yet)")
    return 0


def _tenants(store: Any, wanted: str | None) -> Iterator[str]:
    if wanted:
        yield wanted
        return
    yield from store.list_tenants()


def cmd_dlq_list(args: argparse.Namespace) -> int:
    from chalicelib.api.representations import dead_letter_out

    store, _ = _services()
    for tenant in _tenants(store, args.tenant):
        cursor = None
        while True:
            page = store.list_dead_letters(tenant, limit=100, cursor=cursor)
            for letter in page.items:
                print(
                    json.dumps(
                        {"tenant": tenant, **json.loads(dead_letter_out(letter).model_dump_json())}
                    )
                )
            cursor = page.next_cursor
            if cursor is None:
                break
    return 0


def cmd_dlq_redrive(args: argparse.Namespace) -> int:
    from chalicelib.models.common import Channel
    from chalicelib.wiring import services

    _, endpoint = session()
    if endpoint:
        os.environ.update(aws_env(endpoint))
    store, _ = _services()
    total = 0
    for tenant in _tenants(store, args.tenant):
        total += services().dead_letters.redrive(
            tenant,
            channel=Channel(args.channel) if args.channel else None,
            recipient_id=args.recipient_id,
        )
    print(json.dumps({"redriven": total}))
    return 0


def cmd_fire(args: argparse.Namespace) -> int:
    state_file = args.state_dir / "runner.json"
    try:
        port = json.loads(state_file.read_text())["control_port"]
    except (FileNotFoundError, ValueError, KeyError):
        print(f"no running local cloud ({state_file} is missing)", file=sys.stderr)
        return 2
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/functions/{args.function}/fire", method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            print(response.read().decode())
    except urllib.error.HTTPError as error:
        print(f"no schedule named {args.function}", file=sys.stderr)
        return 1 if error.code == 404 else 2
    return 0


def cmd_receiver(args: argparse.Namespace) -> int:
    """A webhook receiver for demos: verifies each signature and prints the delivery."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from standardwebhooks import Webhook

    secret = args.secret or (local_state() or {}).get("webhook_secret")
    if not secret:
        print("no --secret and no .tocsin/local.json: start `make run` first", file=sys.stderr)
        return 2
    verifier = Webhook(secret)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *rest: Any) -> None:
            return

        def do_POST(self) -> None:
            payload = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
            headers = {key.lower(): value for key, value in self.headers.items()}
            try:
                verifier.verify(payload, headers)
                verified = True
            except Exception:
                verified = False
            print(
                json.dumps(
                    {
                        "webhook-id": headers.get("webhook-id"),
                        "verified": verified,
                        "body": json.loads(payload or "null"),
                    }
                ),
                flush=True,
            )
            self.send_response(200 if verified else 400)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"receiving webhooks on http://127.0.0.1:{args.port}/ (Ctrl-C stops)", file=sys.stderr)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="tocsin", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run Tocsin's local stack (what `make run` does)")
    run.add_argument("--project-dir", type=Path, default=_project_root())
    run.add_argument("--port", type=int, default=int(os.environ.get("TOCSIN_PORT", "8000")))
    run.add_argument(
        "--moto-port", type=int, default=int(os.environ.get("TOCSIN_MOTO_PORT", "4566"))
    )
    run.add_argument(
        "--endpoint-url", help="use this AWS endpoint (e.g. LocalStack) instead of moto"
    )
    run.add_argument("--state-dir", type=Path, default=Path(".tocsin"))
    run.add_argument("--no-reload", action="store_true", help="ignore code changes (benchmarks)")
    run.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop when the process that started it ends (test harnesses)",
    )
    run.set_defaults(handler=cmd_run)

    local = commands.add_parser("local", help="run any Chalice project locally")
    local.add_argument("--project-dir", type=Path, required=True)
    local.add_argument(
        "--endpoint-url", help="AWS endpoint to use; default: an embedded moto server"
    )
    local.add_argument("--port", type=int, default=8000)
    local.add_argument("--moto-port", type=int, default=4566)
    local.add_argument("--stage", default="dev")
    local.add_argument(
        "--create-missing", action="store_true", help="create queues and topics handlers name"
    )
    local.add_argument("--no-reload", action="store_true")
    local.add_argument("--exit-with-parent", action="store_true")
    local.set_defaults(handler=cmd_local)

    keys = commands.add_parser("keys", help="API keys").add_subparsers(dest="keys", required=True)
    create = keys.add_parser("create", help="create an API key (and the tenant on first use)")
    create.add_argument("--tenant", required=True)
    create.set_defaults(handler=cmd_keys_create)
    revoke = keys.add_parser("revoke", help="revoke an API key by its prefix")
    revoke.add_argument("key_prefix")
    revoke.set_defaults(handler=cmd_keys_revoke)

    integrations = commands.add_parser(
        "integrations", help="where alerts come from (PagerDuty routing keys, Alertmanager)"
    ).add_subparsers(dest="integrations", required=True)
    integration = integrations.add_parser(
        "create", help="create an integration (a PagerDuty one prints its routing key, once)"
    )
    integration.add_argument("--tenant", required=True)
    integration.add_argument("--kind", required=True, choices=["pagerduty", "alertmanager"])
    integration.add_argument("--topic", help="the topic its alerts notify (default: alerts)")
    integration.add_argument("--escalation-policy", help="an escalation policy of the tenant")
    integration.set_defaults(handler=cmd_integrations_create)
    listing = integrations.add_parser("list", help="integrations, one JSON line each")
    listing.add_argument("--tenant")
    listing.set_defaults(handler=cmd_integrations_list)
    revoking = integrations.add_parser("revoke", help="revoke an integration by its id")
    revoking.add_argument("integration_id")
    revoking.set_defaults(handler=cmd_integrations_revoke)

    box = commands.add_parser("outbox", help="emails, SMS and pushes the local cloud sent")
    box.add_argument("--json", action="store_true")
    box.set_defaults(handler=cmd_outbox)

    dlq = commands.add_parser("dlq", help="dead letters").add_subparsers(dest="dlq", required=True)
    dlq_list = dlq.add_parser("list", help="failed deliveries, newest first")
    dlq_list.add_argument("--tenant")
    dlq_list.set_defaults(handler=cmd_dlq_list)
    redrive = dlq.add_parser("redrive", help="attempt failed deliveries again")
    redrive.add_argument("--tenant")
    redrive.add_argument("--channel", choices=[channel.value for channel in Channel])
    redrive.add_argument("--recipient-id")
    redrive.set_defaults(handler=cmd_dlq_redrive)

    hook = commands.add_parser("receiver", help="a webhook receiver that verifies signatures")
    hook.add_argument("--port", type=int, default=9000)
    hook.add_argument("--secret", help="default: the demo tenant's, from .tocsin/local.json")
    hook.set_defaults(handler=cmd_receiver)

    fire = commands.add_parser("fire", help="fire a scheduled function of the local cloud now")
    fire.add_argument("function")
    fire.add_argument("--state-dir", type=Path, default=Path(".tocsin"))
    fire.set_defaults(handler=cmd_fire)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        code = args.handler(args)
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
