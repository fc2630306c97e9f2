"""Conformance fixture: a DynamoDB stream -> function. Records each batch, as Chalice parses it
and as Lambda shaped it."""

from __future__ import annotations

from chalice.app import Chalice, DynamoDBEvent
from chalicelib.observations import observe  # type: ignore[import-not-found]

app = Chalice(app_name="cf-streams")

# Only the table name matters locally: the emulator follows the table's current stream, and
# the LocalStack deployment resolves it to the table's LatestStreamArn.
WATCHED_STREAM = "arn:aws:dynamodb:us-east-1:000000000000:table/cf-watched/stream/latest"


@app.on_dynamodb_record(
    stream_arn=WATCHED_STREAM, batch_size=10, maximum_batching_window_in_seconds=1, name="stream"
)
def stream(event: DynamoDBEvent) -> None:
    observe(
        "stream",
        changes=[
            {
                "event": record.event_name,
                "keys": record.keys,
                "new": record.new_image,
                "old": record.old_image,
                "view": record.stream_view_type,
            }
            for record in event
        ],
        event=event.to_dict(),
    )
