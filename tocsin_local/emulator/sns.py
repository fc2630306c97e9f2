"""SNS topic -> function.

The subscription is real: a queue of the emulator's own subscribes to the topic (with the
function's filter policy and scope, from .chalice/config.json), so the endpoint's SNS decides
what is delivered; each message is then handed to the function as Lambda's SNS event, one record
per invoke, with SNS-to-Lambda's retries (two, asynchronous): the queue is the function's
carrier of asynchronous invokes (``tocsin_local.emulator.carriers``).
"""

from __future__ import annotations

import json

from tocsin_local.emulator.carriers import Carrier
from tocsin_local.emulator.cloud import Cloud
from tocsin_local.emulator.events import sns_record
from tocsin_local.emulator.functions import FunctionPool
from tocsin_local.emulator.project import EventSource


class SnsSource:
    def __init__(self, source: EventSource, pool: FunctionPool, cloud: Cloud) -> None:
        self.source = source
        self._cloud = cloud
        self.topic_arn = cloud.topic_arn(source.params["topic"])
        queue_name = f"tocsin-local-sns-{source.function.name}"[:80]
        self._cloud.create_missing, saved = True, self._cloud.create_missing
        try:
            self.url, self.queue_arn, _ = cloud.queue(queue_name)
        finally:
            self._cloud.create_missing = saved
        self.subscription_arn = self._subscribe()
        self._carrier = Carrier(
            source.function.name,
            self.url,
            pool,
            cloud,
            lambda envelope: {"Records": [sns_record(envelope, self.subscription_arn)]},
        )

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
        self._carrier.start()

    def stop(self) -> None:
        self._carrier.stop()

    def reload(self, source: EventSource) -> None:
        changed = (source.function.sns_filter_policy, source.function.sns_filter_policy_scope) != (
            self.source.function.sns_filter_policy,
            self.source.function.sns_filter_policy_scope,
        )
        self.source = source
        if changed:
            self.subscription_arn = self._subscribe()
