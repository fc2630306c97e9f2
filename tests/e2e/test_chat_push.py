"""Slack, Teams, Discord, mobile push and Apprise, end to end on the local stack: each channel
delivered to a local receiver that checks the platform's message and limits."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from tests.chat_receivers import ChatReceivers, chat_receivers
from tests.harness import Api, Stack, poll


@pytest.fixture
def chats() -> Iterator[ChatReceivers]:
    with chat_receivers() as receivers:
        yield receivers


def rid() -> str:
    return f"r-{uuid.uuid4().hex[:10]}"


def deliveries(notification: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["channel"]: item for item in notification["deliveries"]}


def test_each_chat_platform_gets_its_native_message_cut_to_its_limits(
    api: Api, chats: ChatReceivers
) -> None:
    # GIVEN a recipient on Slack, Teams and Discord
    recipient = rid()
    urls = {
        "slack_webhook_url": chats.url("slack", "/services/T0/B0/secret"),
        "teams_webhook_url": chats.url("teams", "/webhookb2/secret"),
        "discord_webhook_url": chats.url("discord", "/api/webhooks/1/secret"),
    }
    assert api.put_recipient(recipient, **urls).status_code == 200
    # WHEN a critical notification longer than Slack allows is sent to every channel it has
    title, body = "T" * 199 + "!", "db-1 at 93% " * 333
    response = api.notify(
        recipient_id=recipient,
        title=title,
        body=body,
        severity="critical",
        data={"url": "https://status.example.com/db-1"},
    )
    assert response.status_code == 202, response.text
    nid = response.json()["id"]
    final = api.wait_final(nid)
    # THEN each platform took its message, none was refused, and Slack's was cut to fit
    assert final["status"] == "delivered", final
    assert sorted(deliveries(final)) == ["discord", "inbox", "slack", "teams"]
    assert chats.refused == []
    (slack,) = chats.messages("slack", nid)
    header = slack["attachments"][0]["blocks"][0]["text"]["text"]
    assert (len(header), header[-1]) == (150, "…")
    assert slack["attachments"][0]["color"] == "#EB5757"
    (teams,) = chats.messages("teams", nid)
    assert teams["attachments"][0]["content"]["body"][0]["style"] == "attention"
    (discord,) = chats.messages("discord", nid)
    assert discord["embeds"][0]["title"] == title
    assert discord["embeds"][0]["url"] == "https://status.example.com/db-1"


def test_chat_urls_are_masked_in_every_reply_after_the_put(api: Api, chats: ChatReceivers) -> None:
    # GIVEN a recipient stored with a Slack URL (the PUT's reply shows it as given)
    recipient, url = rid(), chats.url("slack", "/services/T0/B0/secret")
    put = api.put_recipient(recipient, slack_webhook_url=url)
    assert put.json()["slack_webhook_url"] == url
    # WHEN it is read, and the masked form is sent back with a new name
    shown = api.request("GET", f"/v1/recipients/{recipient}").json()
    again = api.put_recipient(recipient, name="Alice", slack_webhook_url=shown["slack_webhook_url"])
    # THEN the reads mask it, and the stored URL is kept: messages still reach it
    assert shown["slack_webhook_url"] == f"http://127.0.0.1:{chats.server.port}/****"
    assert again.status_code == 200
    nid = api.notify(recipient_id=recipient, channels=["slack"]).json()["id"]
    assert api.wait_final(nid)["status"] == "delivered"
    assert len(chats.messages("slack", nid)) == 1


@pytest.mark.parametrize("platform", ["slack", "teams", "discord"])
def test_a_platforms_429_is_retried_after_its_retry_after(
    api: Api, chats: ChatReceivers, platform: str
) -> None:
    # GIVEN a platform that answers the first post 429 with Retry-After: 1
    recipient = rid()
    api.put_recipient(recipient, **{f"{platform}_webhook_url": chats.url(platform, "/x")})
    chats.rate_limited[platform] = 1
    # WHEN a notification goes to it
    nid = api.notify(recipient_id=recipient, channels=[platform]).json()["id"]
    final = api.wait_final(nid)
    # THEN the second attempt delivers it
    assert final["status"] == "delivered"
    assert deliveries(final)[platform]["attempts"] == 2
    assert len(chats.messages(platform, nid)) == 1


def sns_of(stack: Stack) -> Any:
    return boto3.client(
        "sns",
        endpoint_url=stack.aws_endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def disable_endpoint_of(stack: Stack, token: str) -> None:
    """What SNS does when the platform reports a token invalid."""
    endpoint = next(e for e in platform_endpoints(stack) if e["Attributes"]["Token"] == token)
    sns_of(stack).set_endpoint_attributes(
        EndpointArn=endpoint["EndpointArn"], Attributes={"Enabled": "false"}
    )


def platform_endpoints(stack: Stack) -> list[dict[str, Any]]:
    sns = sns_of(stack)
    found = []
    for application in sns.list_platform_applications()["PlatformApplications"]:
        arn = application["PlatformApplicationArn"]
        found += sns.list_endpoints_by_platform_application(PlatformApplicationArn=arn)["Endpoints"]
    return found


def test_push_goes_to_each_token_shows_in_the_outbox_and_invalid_tokens_are_pruned(
    stack: Stack, api: Api
) -> None:
    # GIVEN a recipient with an Android and an iPhone token
    recipient = rid()
    fcm, apns = f"fcm-{uuid.uuid4().hex}", f"{uuid.uuid4().hex}"
    tokens = [{"platform": "fcm", "token": fcm}, {"platform": "apns", "token": apns}]
    assert api.put_recipient(recipient, push_tokens=tokens).status_code == 200
    # WHEN a notification is pushed
    nid = api.notify(recipient_id=recipient, title="Deploy done", channels=["push"]).json()["id"]
    # THEN it is delivered, and the local cloud's outbox shows a push per token
    assert api.wait_final(nid)["status"] == "delivered"
    outbox = json.loads(stack.cli("outbox", "--json").stdout)
    pushed = {item["to"] for item in outbox if item["channel"] == "push"}
    assert {fcm, apns} <= pushed
    assert {item["subject"] for item in outbox if item["to"] == fcm} == {"Deploy done"}
    # WHEN the platform reports the Android token invalid (SNS disables its endpoint)
    disable_endpoint_of(stack, fcm)
    second = api.notify(recipient_id=recipient, channels=["push"]).json()["id"]
    # THEN the iPhone still gets it, and the recipient no longer has the Android token
    assert api.wait_final(second)["status"] == "delivered"
    kept = api.request("GET", f"/v1/recipients/{recipient}").json()["push_tokens"]
    assert kept == [{"platform": "apns", "token": apns}]


def test_a_push_whose_every_token_is_invalid_is_skipped_with_the_reason(
    stack: Stack, api: Api
) -> None:
    recipient, token = rid(), uuid.uuid4().hex
    api.put_recipient(recipient, push_tokens=[{"platform": "fcm", "token": token}])
    first = api.notify(recipient_id=recipient, channels=["push"]).json()["id"]
    assert api.wait_final(first)["status"] == "delivered"
    disable_endpoint_of(stack, token)
    second = api.wait_final(api.notify(recipient_id=recipient, channels=["push"]).json()["id"])
    assert second["status"] == "skipped"
    push = deliveries(second)["push"]
    assert (push["status"], push["reason"]) == ("skipped", "push_token_invalid")
    assert token not in push["last_error"]
    assert "push_tokens" not in api.request("GET", f"/v1/recipients/{recipient}").json()


@pytest.fixture
def apprise_service() -> Iterator[tuple[HTTPServer, list[dict[str, Any]]]]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    received: list[dict[str, Any]] = []

    def take(request: Request) -> Response:
        received.append(json.loads(request.get_data()))
        return Response("{}", 200)

    server.expect_request("/apprise", method="POST").respond_with_handler(take)
    yield server, received
    server.clear()
    server.stop()


def test_apprise_delivers_through_its_own_function_and_masks_its_urls(
    api: Api, apprise_service: tuple[HTTPServer, list[dict[str, Any]]]
) -> None:
    # GIVEN a recipient with an Apprise URL (Apprise's JSON service on loopback)
    server, received = apprise_service
    recipient, url = rid(), f"json://127.0.0.1:{server.port}/apprise"
    assert api.put_recipient(recipient, apprise_urls=[url]).json()["apprise_urls"] == [url]
    # WHEN a notification goes to its default channels
    nid = api.notify(recipient_id=recipient, title="Backup failed", severity="warning").json()["id"]
    final = api.wait_final(nid, timeout=60)
    # THEN Apprise delivered it, and the URL shows masked from then on
    assert final["status"] == "delivered", final
    assert sorted(deliveries(final)) == ["apprise", "inbox"]
    poll(lambda: received, what="the Apprise message")
    assert (received[0]["message"], received[0]["type"]) == ("Backup failed", "warning")
    shown = api.request("GET", f"/v1/recipients/{recipient}").json()
    assert shown["apprise_urls"] == ["json://****"]


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"apprise_urls": ["nosuchservice://x"]}, ["body", "apprise_urls", 0]),
        ({"apprise_urls": ["json://a"] * 11}, ["body", "apprise_urls"]),
        ({"push_tokens": [{"platform": "fcm", "token": f"t{i}"} for i in range(11)]}, None),
        ({"push_tokens": [{"platform": "wns", "token": "t"}]}, None),
        ({"slack_webhook_url": "ftp://hooks.slack.com/x"}, ["body", "slack_webhook_url"]),
    ],
)
def test_bad_chat_push_and_apprise_addresses_are_422(
    api: Api, fields: dict[str, Any], loc: list[Any] | None
) -> None:
    response = api.put_recipient(rid(), **fields)
    assert response.status_code == 422, response.text
    if loc is not None:
        assert loc in [error["loc"][: len(loc)] for error in response.json()["errors"]]
