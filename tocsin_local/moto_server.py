"""The embedded AWS emulator: moto server on loopback, as a process of the local cloud.

Prints one JSON line ``{"port": N}`` when it is serving (port 0 picks a free one). Its SQS
carries the corrections of ``tocsin_local.emulator.moto_sqs``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from moto.server import ThreadedMotoServer

from tocsin_local.emulator.lifecycle import die_with_parent, stop_on_signals
from tocsin_local.emulator.moto_sqs import correct_sqs
from tocsin_local.moto_dynamodb import serialize_dynamodb
from tocsin_local.moto_outbox import timestamp_outbox


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tocsin-moto")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    args = parser.parse_args(argv)
    die_with_parent()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    correct_sqs()
    serialize_dynamodb()
    timestamp_outbox()
    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    sys.stdout.write(json.dumps({"port": port}) + "\n")
    sys.stdout.flush()
    stop_on_signals().wait()
    server.stop()


if __name__ == "__main__":
    main()
