"""Mobile push through SNS platform applications on a real moto server."""

from __future__ import annotations

import json
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.adapters.push import SnsPushSender
from chalicelib.models.common import Channel, PushPlatform, Severity
from chalicelib.models.stored import Content, Delivery, Tenant
from chalicelib.ports import Outgoing
from tests.fakes import FakeStore
from tests.integration.conftest import Moto

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
TENANT = Tenant(
    name="acme", webhook_secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", created_at=NOW
)
OUTGOING = Outgoing(
    notification_id="n1",
    created_at=NOW,
    content=Content(title="Disk almost full", body="db-1 at 93%", severity=Severity.CRITICAL),
)


def delivery(*targets: str, reached: int = 0) -> Delivery:
    return Delivery(
        tenant_id="acme",
        notification_id="n1",
        recipient_id="alice",
        channel=Channel.PUSH,
        targets=list(targets),
        targets_reached=reached,
    )


@pytest.fixture
def applications(moto: Moto) -> dict[PushPlatform, str]:
    sns = moto.client("sns")
    suffix = uuid.uuid4().hex[:8]
    return {
        platform: sns.create_platform_application(
            Name=f"{platform.value}-{suffix}",
            Platform=kind,
            Attributes={"PlatformCredential": "test"},
        )["PlatformApplicationArn"]
        for platform, kind in ((PushPlatform.FCM, "GCM"), (PushPlatform.APNS, "APNS"))
    }


def pushes(moto: Moto, arn: str) -> list[dict[str, Any]]:
    """What moto recorded as published to the endpoint (its public /moto-api/data.json)."""
    with urllib.request.urlopen(f"{moto.endpoint}/moto-api/data.json", timeout=10) as response:
        data = json.load(response)
    for endpoint in data["sns"].get("PlatformEndpoint", []):
        if endpoint["arn"] == arn:
            return [json.loads(message) for message in endpoint["messages"].values()]
    return []


def test_each_token_gets_one_endpoint_made_on_first_send_and_reused(
    moto: Moto, applications: dict[PushPlatform, str]
) -> None:
    # GIVEN a sender with FCM and APNs configured, and two fresh tokens
    store = FakeStore()
    sender = SnsPushSender(sns=moto.client("sns"), endpoints=store, applications=applications)
    fcm, apns = f"fcm:{uuid.uuid4().hex}", f"apns:{uuid.uuid4().hex}"
    # WHEN two notifications are pushed to both
    first = sender.send(OUTGOING, delivery(fcm, apns), TENANT)
    second = sender.send(OUTGOING, delivery(fcm, apns), TENANT)
    # THEN both are delivered through one endpoint per token
    assert first.delivered
    assert second.delivered
    assert (first.reached, second.reached) == (2, 2)
    sns = moto.client("sns")
    for target, platform in ((fcm, PushPlatform.FCM), (apns, PushPlatform.APNS)):
        endpoints = sns.list_endpoints_by_platform_application(
            PlatformApplicationArn=applications[platform]
        )["Endpoints"]
        assert [e["EndpointArn"] for e in endpoints] == [store.get_push_endpoint(target)]
    # AND each platform got its own native message
    fcm_pushes = pushes(moto, store.get_push_endpoint(fcm) or "")
    assert len(fcm_pushes) == 2
    android = json.loads(fcm_pushes[0]["GCM"])["fcmV1Message"]["message"]
    assert android["notification"] == {"title": "Disk almost full", "body": "db-1 at 93%"}
    apple = json.loads(pushes(moto, store.get_push_endpoint(apns) or "")[0]["APNS"])
    assert apple["aps"]["alert"] == {"title": "Disk almost full", "body": "db-1 at 93%"}
    assert apple["aps"]["interruption-level"] == "time-sensitive"


def test_a_token_whose_endpoint_the_platform_disabled_is_reported_invalid_and_forgotten(
    moto: Moto, applications: dict[PushPlatform, str]
) -> None:
    # GIVEN a token that was pushed to once, then reported invalid by the platform (SNS
    # disables its endpoint), and a token that still works
    store = FakeStore()
    sender = SnsPushSender(sns=moto.client("sns"), endpoints=store, applications=applications)
    stale, fresh = f"fcm:{uuid.uuid4().hex}", f"apns:{uuid.uuid4().hex}"
    assert sender.send(OUTGOING, delivery(stale), TENANT).delivered
    endpoint = store.get_push_endpoint(stale)
    assert endpoint is not None
    sns = moto.client("sns")
    sns.set_endpoint_attributes(EndpointArn=endpoint, Attributes={"Enabled": "false"})
    # WHEN a notification is pushed to both
    outcome = sender.send(OUTGOING, delivery(stale, fresh), TENANT)
    # THEN the working one is reached, the stale one is reported invalid and its endpoint gone
    assert outcome.delivered
    assert outcome.invalid == (stale,)
    assert store.get_push_endpoint(stale) is None
    arns = [
        e["EndpointArn"]
        for e in sns.list_endpoints_by_platform_application(
            PlatformApplicationArn=applications[PushPlatform.FCM]
        )["Endpoints"]
    ]
    assert endpoint not in arns


def test_a_disabled_endpoint_made_elsewhere_is_found_through_the_error_and_reported(
    moto: Moto, applications: dict[PushPlatform, str]
) -> None:
    # GIVEN a token whose endpoint exists (made by another process) and is disabled
    token = uuid.uuid4().hex
    moto.client("sns").create_platform_endpoint(
        PlatformApplicationArn=applications[PushPlatform.FCM],
        Token=token,
        Attributes={"Enabled": "false"},
    )
    sender = SnsPushSender(sns=moto.client("sns"), endpoints=FakeStore(), applications=applications)
    # WHEN it is the only target
    outcome = sender.send(OUTGOING, delivery(f"fcm:{token}"), TENANT)
    # THEN the delivery is to be skipped: every token is invalid
    assert outcome.skip_reason is not None
    assert outcome.skip_reason.value == "push_token_invalid"
    assert outcome.invalid == (f"fcm:{token}",)
    assert token not in (outcome.error or "")


def test_a_platform_this_stage_has_no_application_for_fails_for_good(
    moto: Moto, applications: dict[PushPlatform, str]
) -> None:
    sender = SnsPushSender(sns=moto.client("sns"), endpoints=FakeStore(), applications=applications)
    outcome = sender.send(OUTGOING, delivery("apns_sandbox:abc"), TENANT)
    assert outcome.permanent
    assert outcome.skip_reason is None
    assert "not configured" in (outcome.error or "")
