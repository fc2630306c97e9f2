"""The embedded AWS emulator: moto server on loopback, as a process of the local cloud.

Prints one JSON line ``{"port": N}`` when it is serving (port 0 picks a free one). Its SQS
carries the corrections of ``tocsin_local.emulator.moto_sqs``, its S3 notifications and
EventBridge rules deliver to emulated functions (``tocsin_local.moto_lambda``); in front of it a guard refuses
web pages of other origins (``tocsin_local.loopback``) and moto's own API but for the paths the
tooling reads.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading

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

# moto's own API that the local tooling uses: the outbox reads the sent emails and texts here.
MOTO_API_PATHS = frozenset({"/moto-api/data.json"})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tocsin-moto")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    args = parser.parse_args(argv)
    die_with_parent()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    correct_sqs()
    correct_lambda_destinations()
    correct_dynamodb()
    timestamp_outbox()
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
    server.shutdown()


if __name__ == "__main__":
    main()
