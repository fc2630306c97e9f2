"""Conformance fixture: S3 notifications (with prefix/suffix filters), EventBridge event
patterns and Kinesis streams -> functions. Each function records the event it received."""

from __future__ import annotations

import base64

from chalice.app import Chalice, CloudWatchEvent, KinesisEvent, S3Event
from chalicelib.observations import observe, observed  # type: ignore[import-not-found]

app = Chalice(app_name="cf-sources")


@app.on_s3_event(
    bucket="cf-uploads",
    events=["s3:ObjectCreated:*"],
    prefix="incoming/",
    suffix=".txt",
    name="uploaded",
)
def uploaded(event: S3Event) -> None:
    observe("uploaded", bucket=event.bucket, key=event.key, record=event.to_dict()["Records"][0])


@app.on_s3_event(bucket="cf-archive", events=["s3:ObjectRemoved:*"], name="removed")
def removed(event: S3Event) -> None:
    observe("removed", bucket=event.bucket, key=event.key, record=event.to_dict()["Records"][0])


@app.on_cw_event(
    {"source": ["cf.orders"], "detail-type": ["OrderPlaced"], "detail": {"size": ["big"]}},
    name="big_orders",
)
def big_orders(event: CloudWatchEvent) -> None:
    observe("big_orders", detail=event.detail, event=event.to_dict())


@app.on_kinesis_record(
    stream="cf-stream", batch_size=10, starting_position="TRIM_HORIZON", name="kinesis_reader"
)
def kinesis_reader(event: KinesisEvent) -> None:
    records = event.to_dict()["Records"]
    observe(
        "kinesis_reader",
        data=[base64.b64decode(record["kinesis"]["data"]).decode() for record in records],
        records=records,
    )


@app.on_kinesis_record(
    stream="cf-flaky-stream", batch_size=5, starting_position="TRIM_HORIZON", name="kinesis_retry"
)
def kinesis_retry(event: KinesisEvent) -> None:
    data = [record.data.decode() for record in event]
    attempts = sum(1 for item in observed("kinesis_retry") if item["data"] == data)
    observe("kinesis_retry", data=data, attempt=attempts + 1)
    if attempts == 0 and any(item.startswith("fail") for item in data):
        raise RuntimeError("first attempt fails")
