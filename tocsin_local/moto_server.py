"""The embedded AWS emulator: moto server on loopback, as a process of the local cloud.

Prints one JSON line ``{"port": N}`` when it is serving (port 0 picks a free one). Its SQS
carries the corrections of ``tocsin_local.emulator.moto_sqs``, its S3 notifications and
EventBridge rules deliver to emulated functions (``tocsin_local.moto_lambda``); in front of it a guard refuses
web pages of other origins (``tocsin_local.loopback``) and moto's own API but for the paths the
tooling reads.

With ``--state-file`` (``tocsin run --persist``) it loads the state saved there before it serves,
and saves its state there when it is stopped (``tocsin_local.moto_state``). SIGTERM or SIGINT
ends it at once: requests being served (a long poll, say) are abandoned, not awaited; the local
cloud stops the processes that call it first.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from tocsin_local.emulator.lifecycle import die_with_parent, stop_on_signals
from tocsin_local.emulator.moto_sqs import correct_sqs
from tocsin_local.loopback import LoopbackGuard
from tocsin_local.moto_dynamodb import correct_dynamodb
from tocsin_local.moto_lambda import correct_lambda_destinations
from tocsin_local.moto_outbox import timestamp_outbox


def cache_service_lookup() -> None:
    """moto's dispatcher finds the service of every request anew, under one lock that every
    request takes: ``get_backend_for_host`` lists moto's package directory (a ``stat`` of each
    of some 200 service folders) and tries every service's URL patterns. Profiled under a burst,
    that was most of the moto server's time, with every request queued behind it. A host names
    the same service every time: remember it."""
    if getattr(DomainDispatcherApplication.get_backend_for_host, "_tocsin_cached", False):
        return
    original = DomainDispatcherApplication.get_backend_for_host
    found: dict[str | None, Any] = {}

    def get_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
        try:
            return found[host]
        except KeyError:
            backend = found[host] = original(self, host)
            return backend

    get_backend_for_host._tocsin_cached = True  # type: ignore[attr-defined]
    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]


# moto's own API that the local tooling uses: the outbox reads the sent emails and texts here.
MOTO_API_PATHS = frozenset({"/moto-api/data.json"})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tocsin-moto")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--state-file", type=Path, help="keep the state here across restarts")
    args = parser.parse_args(argv)
    die_with_parent()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    cache_service_lookup()
    correct_sqs()
    correct_lambda_destinations()
    correct_dynamodb()
    timestamp_outbox()
    if args.state_file is not None:
        from tocsin_local.moto_state import restore

        restore(args.state_file)
    app = LoopbackGuard(
        DomainDispatcherApplication(create_backend_app), allowed_paths=MOTO_API_PATHS
    )
    server = make_server(
        args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler
    )
    threading.Thread(target=server.serve_forever, daemon=True, name="moto").start()
    sys.stdout.write(json.dumps({"port": server.server_address[1]}) + "\n")
    sys.stdout.flush()
    stop_on_signals().wait()
    code = 0
    if args.state_file is not None:
        from tocsin_local.moto_state import save

        try:
            save(args.state_file)
        except Exception as problem:  # the state is lost, but the stop must not hang
            sys.stderr.write(f"moto: could not save the state to {args.state_file}: {problem}\n")
            code = 1
    sys.stderr.flush()
    # No server.shutdown() nor interpreter teardown: both wait on request threads (long polls
    # of up to 20 s); the port must be free now.
    os._exit(code)


if __name__ == "__main__":
    main()
