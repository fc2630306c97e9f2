"""infra/ provisions a working cloud: the topic feeds the queue, the queue redrives to its DLQ."""

from __future__ import annotations

import json
import uuid

import pytest

from chalicelib.domain.planning import QUEUED_CHANNELS
from chalicelib.models.common import Channel
from chalicelib.settings import Stage
from infra.provision import Provisioned, provision
from infra.resources import definition, stage_settings
from tests.integration.conftest import Moto, _EndpointSession


def test_every_resource_exists(moto: Moto, provisioned: Provisioned) -> None:
    resources = definition(Stage.LOCAL)
    table = moto.client("dynamodb").describe_table(TableName=resources.tables[0].name)["Table"]
    assert {index["IndexName"] for index in table["GlobalSecondaryIndexes"]} == {
        "gsi1",
        "gsi2",
        "sweep",
    }
    assert set(provisioned.queue_urls) == {queue.name for queue in resources.queues}
    assert set(provisioned.topic_arns) == {topic.name for topic in resources.topics}


def test_provisioning_twice_changes_nothing(moto: Moto, provisioned: Provisioned) -> None:
    again = provision(definition(Stage.LOCAL), _EndpointSession(moto.endpoint))
    assert again == provisioned
    topic = next(iter(provisioned.topic_arns.values()))
    subscriptions = moto.client("sns").list_subscriptions_by_topic(TopicArn=topic)
    assert len(subscriptions["Subscriptions"]) == len(definition(Stage.LOCAL).subscriptions)


@pytest.mark.parametrize("channel", list(QUEUED_CHANNELS))
def test_each_channel_queue_redrives_to_its_dlq(
    moto: Moto, provisioned: Provisioned, channel: Channel
) -> None:
    resources = definition(Stage.LOCAL)
    settings = stage_settings(Stage.LOCAL)
    attributes = moto.client("sqs").get_queue_attributes(
        QueueUrl=provisioned.queue_urls[settings.delivery_queue(channel)], AttributeNames=["All"]
    )["Attributes"]
    policy = json.loads(attributes["RedrivePolicy"])
    assert policy["deadLetterTargetArn"] == provisioned.queue_arns[settings.delivery_dlq(channel)]
    assert (
        int(attributes["VisibilityTimeout"])
        == resources.function_timeouts[f"deliver_{channel.value}"]
    )


def test_one_publish_reaches_the_queue_of_each_channel_it_names(
    moto: Moto, provisioned: Provisioned
) -> None:
    # GIVEN the topic and the channel queues as provisioned
    settings = stage_settings(Stage.LOCAL)
    sqs = moto.client("sqs")
    marker = uuid.uuid4().hex
    # WHEN one message names the webhook and sms channels
    moto.client("sns").publish(
        TopicArn=provisioned.topic_arns[settings.notifications_topic_name],
        Message=marker,
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "delivery"},
            "channel": {"DataType": "String.Array", "StringValue": '["webhook", "sms"]'},
        },
    )

    # THEN it reaches those two queues and not the email one
    def bodies(channel: Channel) -> list[str]:
        url = provisioned.queue_urls[settings.delivery_queue(channel)]
        found = []
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            found.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return found

    assert marker in bodies(Channel.WEBHOOK)
    assert marker in bodies(Channel.SMS)
    assert marker not in bodies(Channel.EMAIL)
