"""Lambda destinations of moto's S3 notifications and EventBridge rules, delivered to the
emulator (moto 5.2.5). Applied in the local cloud's moto server process.

moto hands an S3 notification for a function to its own Lambda backend (which runs functions
in Docker, and drops the event silently when the function is not there), and an EventBridge
rule with a Lambda target fails the whole ``PutEvents`` call (``NotImplementedError``). Here,
when the emulator runs the function (its carrier queue exists: see
``tocsin_local.emulator.carriers``), the event goes to that queue instead, and the emulator
invokes the function asynchronously, as S3 and EventBridge invoke Lambda. Otherwise moto's own
behaviour stands.

S3 event records get the fields AWS sends and moto leaves out (``userIdentity``,
``requestParameters``, ``responseElements``, the bucket's ``ownerIdentity``, the object's
``sequencer``; ``/`` in keys unencoded; no size or ETag for a removal). EventBridge events lose moto's private
``ingestion-time`` and carry ``time`` as AWS writes it. S3 filter rule names are read as AWS
reads them, in any case: Chalice writes ``Prefix``/``Suffix``, which moto refuses.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from moto.events import models as events_models
from moto.events.utils import EventTemplateParser
from moto.s3 import notifications as s3_notifications
from moto.s3.responses import S3Response
from moto.sqs.models import sqs_backends
from moto.utilities.arns import parse_arn

from tocsin_local.emulator.carriers import carrier_queue_name

OWNER = "A3NL1KOZZKExample"
_rule_lock = threading.Lock()


def _deliver(account_id: str, region: str, function_arn: str, event: Any) -> bool:
    """Puts ``event`` on the function's carrier queue; False when the emulator does not run
    that function."""
    name = function_arn.split(":")[6] if function_arn.count(":") >= 6 else function_arn
    queue = carrier_queue_name(name)
    backend = sqs_backends[account_id][region]
    if queue not in backend.queues:
        return False
    backend.send_message(queue_name=queue, message_body=json.dumps(event))
    return True


def s3_record(record: dict[str, Any]) -> dict[str, Any]:
    """moto's S3 event record with the fields AWS sends beside."""
    shaped = copy.deepcopy(record)
    shaped["userIdentity"] = {"principalId": f"AWS:{OWNER}"}
    shaped["requestParameters"] = {"sourceIPAddress": "127.0.0.1"}
    shaped["responseElements"] = {
        "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
        "x-amz-id-2": uuid.uuid4().hex,
    }
    s3 = shaped["s3"]
    s3["bucket"]["ownerIdentity"] = {"principalId": OWNER}
    s3["object"]["sequencer"] = f"{time.time_ns():X}"
    # AWS URL-encodes the key as a form value but keeps "/" (moto encodes it too).
    s3["object"]["key"] = quote_plus(unquote_plus(s3["object"]["key"]), safe="/")
    if shaped["eventName"].startswith("ObjectRemoved"):
        s3["object"].pop("size", None)
        s3["object"].pop("eTag", None)
    return shaped


_FILTER_NAME = re.compile(rb"<Name>\s*(prefix|suffix)\s*</Name>", re.IGNORECASE)


def correct_lambda_destinations() -> None:
    original_config: Any = S3Response._notification_config_from_body

    def notification_config_from_body(self: Any) -> Any:
        body = self.body if isinstance(self.body, bytes) else str(self.body).encode()
        self.body = _FILTER_NAME.sub(
            lambda match: b"<Name>" + match.group(1).lower() + b"</Name>", body
        )
        return original_config(self)

    setattr(S3Response, "_notification_config_from_body", notification_config_from_body)  # noqa: B010

    original_invoke = s3_notifications._invoke_awslambda

    def invoke_awslambda(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
        event = {"Records": [s3_record(record) for record in event_body["Records"]]}
        if not _deliver(account_id, region_name, fn_arn, event):
            original_invoke(account_id, event_body, fn_arn, region_name)

    s3_notifications._invoke_awslambda = invoke_awslambda

    original_send: Any = events_models.Rule.send_to_targets

    def send_to_targets(
        self: Any, original_event: dict[str, Any], transform_input: bool = True
    ) -> None:
        functions = [
            target for target in self.targets if parse_arn(target["Arn"]).service == "lambda"
        ]
        if functions and self.event_pattern.matches_event(original_event):
            for target in functions:
                event = _rule_event(target, original_event, transform_input)
                arn = parse_arn(target["Arn"])
                _deliver(arn.account, arn.region, target["Arn"], event)
        if len(functions) == len(self.targets):
            return
        # moto's own delivery for the other targets (it refuses Lambda ones).
        with _rule_lock:
            saved = self.targets
            self.targets = [target for target in saved if target not in functions]
            try:
                original_send(self, original_event, transform_input)
            finally:
                self.targets = saved

    setattr(events_models.Rule, "send_to_targets", send_to_targets)  # noqa: B010


def _rule_event(target: dict[str, Any], original: dict[str, Any], transform: bool) -> Any:
    event: Any = copy.deepcopy(original)
    event.pop("ingestion-time", None)
    if isinstance(event.get("time"), int | float):
        event["time"] = datetime.fromtimestamp(event["time"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if not transform:
        return event
    if "Input" in target:
        return json.loads(target["Input"])
    if "InputPath" in target:
        # A JSONPath of the event; "$.detail" is the common one.
        node = event
        for part in target["InputPath"].lstrip("$").strip(".").split("."):
            if part:
                node = node[part]
        return node
    transformer = target.get("InputTransformer")
    if transformer:
        return EventTemplateParser.parse(
            input_template=transformer.get("InputTemplate"),
            input_paths_map=transformer.get("InputPathsMap", {}),
            event=event,
        )
    return event
