"""SNS topic -> function.

The subscription is real: a queue of the emulator's own subscribes to the topic (with the
function's filter policy and scope, from .chalice/config.json), so the endpoint's SNS decides
what is delivered; each message is then handed to the function as Lambda's SNS event, one record
per invoke, with SNS-to-Lambda's retries (two, asynchronous). The queue only carries messages:
it is not a second place for them to wait, because a message is deleted once it is handed over.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from tocsin_local.emulator.asynchronous import ASYNC_ATTEMPTS, DEFAULT_RETRY_DELAYS
from tocsin_local.emulator.cloud import Cloud
from tocsin_local.emulator.events import sns_record
from tocsin_local.emulator.functions import FunctionPool
from tocsin_local.emulator.project import EventSource

log = logging.getLogger("tocsin.emulator")


class SnsSource:
    def __init__(self, source: EventSource, pool: FunctionPool, cloud: Cloud) -> None:
        self.source = source
        self._pool = pool
        self._cloud = cloud
        self._stop = threading.Event()
        self.topic_arn = cloud.topic_arn(source.params["topic"])
        queue_name = f"tocsin-local-sns-{source.function.name}"[:80]
        self._cloud.create_missing, saved = True, self._cloud.create_missing
        try:
            self.url, self.queue_arn, _ = cloud.queue(queue_name)
        finally:
            self._cloud.create_missing = saved
        self.subscription_arn = self._subscribe()

    @property
    def name(self) -> str:
        return self.source.function.name

    def _subscribe(self) -> str:
        sns = self._cloud.client("sns")
        wanted: dict[str, str] = {"RawMessageDelivery": "false"}
        policy = self.source.function.sns_filter_policy
        if policy:
            wanted["FilterPolicy"] = json.dumps(policy)
            wanted["FilterPolicyScope"] = self.source.function.sns_filter_policy_scope
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(
            TopicArn=self.topic_arn
        ):
            for subscription in page.get("Subscriptions", []):
                if subscription["Endpoint"] == self.queue_arn:
                    arn = str(subscription["SubscriptionArn"])
                    for key, value in wanted.items():
                        sns.set_subscription_attributes(
                            SubscriptionArn=arn, AttributeName=key, AttributeValue=value
                        )
                    if not policy:
                        sns.set_subscription_attributes(
                            SubscriptionArn=arn, AttributeName="FilterPolicy", AttributeValue=""
                        )
                    return arn
        response = sns.subscribe(
            TopicArn=self.topic_arn,
            Protocol="sqs",
            Endpoint=self.queue_arn,
            Attributes=wanted,
            ReturnSubscriptionArn=True,
        )
        return str(response["SubscriptionArn"])

    def start(self) -> None:
        threading.Thread(target=self._poll, daemon=True, name=f"sns-{self.name}").start()

    def stop(self) -> None:
        self._stop.set()

    def reload(self, source: EventSource) -> None:
        changed = (source.function.sns_filter_policy, source.function.sns_filter_policy_scope) != (
            self.source.function.sns_filter_policy,
            self.source.function.sns_filter_policy_scope,
        )
        self.source = source
        if changed:
            self.subscription_arn = self._subscribe()

    def _poll(self) -> None:
        sqs = self._cloud.client("sqs")
        while not self._stop.is_set():
            try:
                response = sqs.receive_message(
                    QueueUrl=self.url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=2,
                    VisibilityTimeout=int(self.source.function.timeout) + 30,
                    MessageSystemAttributeNames=["ApproximateReceiveCount"],
                )
                for message in response.get("Messages", []):
                    threading.Thread(
                        target=self._hand_over,
                        args=(message,),
                        daemon=True,
                        name=f"sns-{self.name}",
                    ).start()
            except Exception:
                log.exception("SNS subscription of %s failed; retrying in 1 s", self.name)
                self._stop.wait(1.0)

    def _hand_over(self, message: dict[str, Any]) -> None:
        """One asynchronous invoke. The message stays in the carrier queue until the function
        took it or its retries ran out, so a runner that dies meanwhile loses nothing."""
        sqs = self._cloud.client("sqs")
        envelope = json.loads(message["Body"])
        event = {"Records": [sns_record(envelope, self.subscription_arn)]}
        attempt = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        with self._pool.slot():
            result = self._pool.invoke(event)
        self._cloud.count(f"{self.name}.invocations")
        if not result.ok:
            self._cloud.count(f"{self.name}.errors")
            log.warning(
                "%s failed (attempt %d/%d): %s",
                self.name,
                attempt,
                ASYNC_ATTEMPTS,
                (result.error or {}).get("errorMessage"),
            )
            if attempt < ASYNC_ATTEMPTS:
                delay = DEFAULT_RETRY_DELAYS[min(attempt, len(DEFAULT_RETRY_DELAYS)) - 1]
                sqs.change_message_visibility(
                    QueueUrl=self.url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=max(1, round(delay)),
                )
                return
            self._cloud.count(f"{self.name}.dropped")
        sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
