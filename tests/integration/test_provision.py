"""infra/ provisions a working cloud: the topic feeds the queue, the queue redrives to its DLQ."""

from __future__ import annotations

import json

from chalicelib.settings import Stage
from infra.provision import Provisioned, provision
from infra.resources import definition
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
    assert len(moto.client("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]) == 1


def test_the_deliveries_queue_redrives_to_its_dlq(moto: Moto, provisioned: Provisioned) -> None:
    resources = definition(Stage.LOCAL)
    queue = next(q for q in resources.queues if q.dead_letter_queue)
    attributes = moto.client("sqs").get_queue_attributes(
        QueueUrl=provisioned.queue_urls[queue.name], AttributeNames=["All"]
    )["Attributes"]
    policy = json.loads(attributes["RedrivePolicy"])
    assert policy["deadLetterTargetArn"] == provisioned.queue_arns[queue.dead_letter_queue or ""]
    assert int(attributes["VisibilityTimeout"]) == resources.function_timeouts["deliver"]
