"""How finding due timers costs on moto as the table grows: the timers' minute partitions
against a query of a sparse GSI (the sweep index), on the local cloud's corrected moto server.

Prints figures beside the goal (a scan every minute must stay cheap whatever the table holds);
nothing is asserted.
"""

from __future__ import annotations

import logging
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

import boto3
from moto.server import ThreadedMotoServer

from chalicelib.adapters.dynamodb import DynamoStore, epoch_ms
from chalicelib.models.scheduling import Timer, TimerKind
from chalicelib.settings import Stage
from infra.provision import provision
from infra.resources import definition
from tocsin_local.moto_dynamodb import correct_dynamodb

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def timed(call: object, repeat: int = 20) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()  # type: ignore[operator]
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main(sizes: list[int]) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    correct_dynamodb()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )

    class Endpoint(boto3.session.Session):
        def client(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            kwargs.setdefault("endpoint_url", endpoint)
            return session.client(*args, **kwargs)

    provision(definition(Stage.LOCAL), Endpoint())
    client = session.client("dynamodb", endpoint_url=endpoint)
    store = DynamoStore(client, "tocsin")
    written = 0
    print("items in table | timers due scan (partitions) | sparse GSI query (sweep index)")
    for size in sizes:
        timers = [
            Timer(
                kind=TimerKind.RELEASE,
                tenant_id="bench",
                due=NOW + timedelta(minutes=index % 525_600),
                notification_id=f"n{index}",
            )
            for index in range(written, size)
        ]
        store.put_timers(timers)
        written = size
        store.due_timers(until=NOW, now=NOW, limit=1000)  # the cursor, once

        def partitions() -> None:
            store.due_timers(until=NOW + timedelta(minutes=3), now=NOW, limit=1000)

        def gsi() -> None:
            client.query(
                TableName="tocsin",
                IndexName="sweep",
                KeyConditionExpression="sweep_pk = :shard AND sweep_at <= :now",
                ExpressionAttributeValues={
                    ":shard": {"S": "SWEEP#0"},
                    ":now": {"N": str(epoch_ms(NOW))},
                },
            )

        print(f"{size:>14,} | {timed(partitions):>21.1f} ms | {timed(gsi):>23.1f} ms")
    server.stop()


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [1_000, 10_000, 50_000])
