"""The HTTP contract of ../shared/api.md, over real HTTP against the stack `make run` starts."""

from __future__ import annotations

import concurrent.futures
import json
import uuid
from typing import Any

import pytest
import requests
from openapi_spec_validator import validate

from tests.harness import Api, Receiver, Stack

PROBLEM = "application/problem+json"


def unique(prefix: str = "r") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def assert_problem(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith(PROBLEM)
    body = dict(response.json())
    assert body["status"] == status
    assert body["type"]
    assert body["title"]
    assert body["detail"]
    return body


# --- health and OpenAPI -------------------------------------------------------------------------
def test_health_answers_ok_without_auth(api: Api) -> None:
    response = api.request("GET", "/health", auth=False)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_openapi_is_a_valid_31_document_with_bearer_auth_and_problem_responses(api: Api) -> None:
    response = api.request("GET", "/openapi.json", auth=False)
    assert response.status_code == 200
    document = response.json()
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    post = document["paths"]["/v1/notifications"]["post"]
    assert {"200", "202", "400", "401", "409", "413", "415", "422"} <= set(post["responses"])
    assert PROBLEM in post["responses"]["422"]["content"]


# --- auth ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path", ["/v1/notifications", "/v1/recipients/alice", "/v1/no-such-route", "/v1"]
)
def test_every_v1_path_needs_a_key(api: Api, path: str) -> None:
    response = api.request("GET", path, auth=False)
    assert_problem(response, 401)


def test_an_unknown_key_is_401(api: Api) -> None:
    response = api.request(
        "GET",
        "/v1/notifications",
        headers={"Authorization": "Bearer tsn_000000000000.nope-nope-nope-nope-nope"},
    )
    assert_problem(response, 401)


def test_a_revoked_key_answers_401_from_then_on(stack: Stack) -> None:
    key, _ = stack.new_tenant(unique("t"))
    client = stack.client(key)
    assert client.request("GET", "/v1/notifications").status_code == 200
    revoked = stack.cli("keys", "revoke", key.split(".")[0])
    assert json.loads(revoked.stdout)["revoked"] is True
    assert_problem(client.request("GET", "/v1/notifications"), 401)


def test_a_second_key_of_a_tenant_shares_its_webhook_secret(stack: Stack) -> None:
    tenant = unique("t")
    key1, secret1 = stack.new_tenant(tenant)
    key2, secret2 = stack.new_tenant(tenant)
    assert key1 != key2
    assert secret1 == secret2
    assert secret1.startswith("whsec_")


# --- routing errors -----------------------------------------------------------------------------
def test_unknown_route_is_404_problem(api: Api) -> None:
    assert_problem(api.request("GET", "/v1/nothing/here"), 404)
    assert_problem(api.request("GET", "/nothing", auth=False), 404)


@pytest.mark.parametrize("method", ["PATCH", "TRACE", "POST", "DELETE"])
def test_unserved_method_is_405_problem(api: Api, method: str) -> None:
    response = api.request(method, "/v1/notifications" if method != "POST" else "/v1/dead-letters")
    assert_problem(response, 405)
    assert response.headers.get("Allow")


# --- recipients ---------------------------------------------------------------------------------
def test_recipient_put_get_delete(api: Api) -> None:
    rid = unique()
    body = {
        "name": "Alice",
        "email": "alice@example.com",
        "phone": "+14155550100",
        "webhook_url": "http://127.0.0.1:9/hook",
        "preferences": {"channels": {"sms": False}},
    }
    put = api.put_recipient(rid, **body)
    assert put.status_code == 200, put.text
    assert put.json()["recipient_id"] == rid
    got = api.request("GET", f"/v1/recipients/{rid}")
    assert got.status_code == 200
    assert {key: got.json()[key] for key in body} == body
    assert api.request("DELETE", f"/v1/recipients/{rid}").status_code == 204
    assert_problem(api.request("GET", f"/v1/recipients/{rid}"), 404)
    assert_problem(api.request("DELETE", f"/v1/recipients/{rid}"), 404)


def test_recipient_put_replaces(api: Api) -> None:
    rid = unique()
    api.put_recipient(rid, email="a@example.com", name="A")
    replaced = api.put_recipient(rid, name="B")
    assert replaced.status_code == 200
    assert "email" not in api.request("GET", f"/v1/recipients/{rid}").json()


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"email": "not-an-email"}, ["body", "email"]),
        ({"phone": "0415550100"}, ["body", "phone"]),
        ({"webhook_url": "ftp://example.com/x"}, ["body", "webhook_url"]),
        ({"nickname": "x"}, ["body", "nickname"]),
    ],
)
def test_recipient_validation_is_422_with_location(
    api: Api, body: dict[str, Any], loc: list[str]
) -> None:
    problem = assert_problem(api.put_recipient(unique(), **body), 422)
    assert any(error["loc"] == loc for error in problem["errors"]), problem


def test_recipient_id_format_is_checked(api: Api) -> None:
    problem = assert_problem(api.request("PUT", "/v1/recipients/has%20space", json={}), 422)
    assert problem["errors"][0]["loc"] == ["path", "recipient_id"]


# --- request bodies -----------------------------------------------------------------------------
def test_malformed_json_is_400(api: Api) -> None:
    response = api.request(
        "POST", "/v1/notifications", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 400)


@pytest.mark.parametrize("payload", ["[1, 2]", '"text"', "42", "null"])
def test_a_body_that_is_not_an_object_is_400(api: Api, payload: str) -> None:
    response = api.request(
        "POST", "/v1/notifications", data=payload, headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 400)


def test_non_json_content_type_is_415(api: Api) -> None:
    response = api.request(
        "POST",
        "/v1/notifications",
        data="title=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_problem(response, 415)


def test_body_over_256_kib_is_413(api: Api) -> None:
    big = json.dumps({"recipient_id": "a", "title": "x", "body": "y" * (256 * 1024)})
    response = api.request(
        "POST", "/v1/notifications", data=big, headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413)


# --- notifications ------------------------------------------------------------------------------
@pytest.fixture
def recipient(api: Api) -> str:
    rid = unique()
    assert api.put_recipient(rid, name="R").status_code == 200
    return rid


def test_post_notification_is_202_with_location_and_get_reads_it(api: Api, recipient: str) -> None:
    response = api.notify(
        recipient_id=recipient,
        title="Disk almost full",
        body="db-1 at 93%",
        severity="warning",
        category="ops",
        data={"host": "db-1"},
    )
    assert response.status_code == 202, response.text
    created = response.json()
    assert created["status"] == "accepted"
    assert response.headers["Location"] == f"/v1/notifications/{created['id']}"
    got = api.notification(created["id"])
    assert got["id"] == created["id"]
    assert got["recipient_id"] == recipient
    assert got["severity"] == "warning"
    assert got["data"] == {"host": "db-1"}
    assert [delivery["channel"] for delivery in got["deliveries"]] == ["inbox"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"recipient_id": "x"}, ["body", "title"]),
        ({"recipient_id": "x", "title": ""}, ["body", "title"]),
        ({"recipient_id": "x", "title": "t" * 201}, ["body", "title"]),
        ({"recipient_id": "x", "title": "t", "body": "b" * 4001}, ["body", "body"]),
        ({"recipient_id": "x", "title": "t", "severity": "fatal"}, ["body", "severity"]),
        ({"recipient_id": "x", "title": "t", "channels": ["pager"]}, ["body", "channels", 0]),
        ({"recipient_id": "x", "title": "t", "data": {"k": "v" * 17000}}, ["body", "data"]),
        ({"recipient_id": "x", "title": "t", "colour": "red"}, ["body", "colour"]),
        ({"title": "t"}, ["body"]),
        ({"recipient_id": "x", "topic": "ops", "title": "t"}, ["body"]),
        (
            {"recipient_id": "x", "title": "t", "idempotency_key": "k" * 129},
            ["body", "idempotency_key"],
        ),
    ],
)
def test_notification_validation_is_422(api: Api, body: dict[str, Any], loc: list[Any]) -> None:
    problem = assert_problem(api.request("POST", "/v1/notifications", json=body), 422)
    assert any(error["loc"] == loc for error in problem["errors"]), problem["errors"]


def test_unknown_recipient_is_422_at_recipient_id(api: Api) -> None:
    problem = assert_problem(api.notify(recipient_id=unique("nobody")), 422)
    assert problem["errors"][0]["loc"] == ["body", "recipient_id"]


@pytest.mark.parametrize("topic", ["ops..db", ".ops", "ops.", "ops.*", "ops.#", "a b", "x" * 129])
def test_a_malformed_topic_is_422_at_topic(api: Api, topic: str) -> None:
    problem = assert_problem(api.notify(topic=topic), 422)
    assert problem["errors"][0]["loc"][:2] == ["body", "topic"]


def test_unknown_notification_is_404(api: Api) -> None:
    assert_problem(api.request("GET", "/v1/notifications/01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404)


def test_default_channels_follow_the_recipients_addresses(api: Api) -> None:
    rid = unique()
    api.put_recipient(rid, email="a@example.com", phone="+14155550100")
    created = api.notify(recipient_id=rid).json()
    assert created["channels"] == ["email", "sms", "inbox"]


def test_a_requested_channel_without_address_is_skipped_with_reason(
    api: Api, recipient: str
) -> None:
    created = api.notify(recipient_id=recipient, channels=["webhook", "inbox"]).json()
    final = api.wait_final(created["id"])
    webhook = next(d for d in final["deliveries"] if d["channel"] == "webhook")
    assert webhook["status"] == "skipped"
    assert "webhook_url" in webhook["last_error"]
    assert final["status"] == "delivered"


def test_every_delivery_skipped_makes_the_notification_skipped(api: Api, recipient: str) -> None:
    created = api.notify(recipient_id=recipient, channels=["email"]).json()
    assert api.wait_final(created["id"])["status"] == "skipped"


# --- idempotency ----------------------------------------------------------------------------
def test_same_key_same_body_replays_with_200(api: Api, recipient: str) -> None:
    key = unique("k")
    first = api.notify(recipient_id=recipient, title="once", idempotency_key=key)
    assert first.status_code == 202
    settled = api.wait_final(first.json()["id"])
    again = api.request(
        "POST",
        "/v1/notifications",
        data=json.dumps(
            {"title": "once", "idempotency_key": key, "recipient_id": recipient}, indent=2
        ),
        headers={"Content-Type": "application/json"},
    )
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Location"] == first.headers["Location"]
    assert again.json() == settled


def test_header_and_body_key_are_one_key_space(api: Api, recipient: str) -> None:
    key = unique("k")
    first = api.request(
        "POST",
        "/v1/notifications",
        json={"recipient_id": recipient, "title": "h"},
        headers={"Idempotency-Key": key},
    )
    assert first.status_code == 202
    again = api.notify(recipient_id=recipient, title="h", idempotency_key=key)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]


def test_same_key_different_body_is_409(api: Api, recipient: str) -> None:
    key = unique("k")
    assert api.notify(recipient_id=recipient, title="one", idempotency_key=key).status_code == 202
    assert_problem(api.notify(recipient_id=recipient, title="two", idempotency_key=key), 409)


def test_header_and_body_keys_that_differ_are_422(api: Api, recipient: str) -> None:
    response = api.request(
        "POST",
        "/v1/notifications",
        json={"recipient_id": recipient, "title": "x", "idempotency_key": "a"},
        headers={"Idempotency-Key": "b"},
    )
    assert_problem(response, 422)


def test_keys_are_scoped_to_the_tenant(stack: Stack, api: Api, recipient: str) -> None:
    key = unique("k")
    assert api.notify(recipient_id=recipient, title="x", idempotency_key=key).status_code == 202
    other = stack.client(stack.new_tenant(unique("t"))[0])
    other.put_recipient(recipient)
    assert (
        other.notify(recipient_id=recipient, title="different", idempotency_key=key).status_code
        == 202
    )


def test_concurrent_requests_with_one_key_create_one_notification(api: Api, recipient: str) -> None:
    key = unique("k")

    def send(_: int) -> requests.Response:
        return Api(api.base, api.key).notify(
            recipient_id=recipient, title="race", idempotency_key=key
        )

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(send, range(8)))
    statuses = sorted(response.status_code for response in responses)
    assert statuses.count(202) == 1, statuses
    assert statuses.count(200) == 7, statuses
    assert len({response.json()["id"] for response in responses}) == 1


# --- listing ------------------------------------------------------------------------------------
def test_list_is_newest_first_and_paginates_with_a_cursor(stack: Stack) -> None:
    client = stack.client(stack.new_tenant(unique("t"))[0])
    rid = unique()
    client.put_recipient(rid)
    ids = [client.notify(recipient_id=rid, title=f"n{index}").json()["id"] for index in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.request("GET", "/v1/notifications", params=params).json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))


def test_list_filters_by_recipient_and_status(stack: Stack) -> None:
    client = stack.client(stack.new_tenant(unique("t"))[0])
    alice, bob = unique("alice"), unique("bob")
    client.put_recipient(alice)
    client.put_recipient(bob)
    a = client.notify(recipient_id=alice).json()["id"]
    client.notify(recipient_id=bob)
    client.wait_final(a)
    by_recipient = client.request("GET", "/v1/notifications", params={"recipient_id": alice}).json()
    assert [item["id"] for item in by_recipient["items"]] == [a]
    delivered = client.request(
        "GET", "/v1/notifications", params={"recipient_id": alice, "status": "delivered"}
    ).json()
    assert [item["id"] for item in delivered["items"]] == [a]
    failed = client.request("GET", "/v1/notifications", params={"status": "failed"}).json()
    assert failed["items"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "ten"},
        {"status": "lost"},
        {"cursor": "!!!"},
        {"cursor": "eyJwayI6IngifQ"},
    ],
)
def test_bad_list_parameters_are_422(api: Api, params: dict[str, Any]) -> None:
    assert_problem(api.request("GET", "/v1/notifications", params=params), 422)


def test_a_cursor_from_another_tenant_is_422(stack: Stack, api: Api, recipient: str) -> None:
    for _ in range(2):
        api.notify(recipient_id=recipient)
    cursor = api.request("GET", "/v1/notifications", params={"limit": 1}).json()["next"]
    assert cursor
    other = stack.client(stack.new_tenant(unique("t"))[0])
    assert_problem(other.request("GET", "/v1/notifications", params={"cursor": cursor}), 422)


# --- tenant isolation ---------------------------------------------------------------------------
def test_a_tenant_never_sees_another_tenants_objects(
    stack: Stack, api: Api, recipient: str
) -> None:
    created = api.notify(recipient_id=recipient).json()["id"]
    other = stack.client(stack.new_tenant(unique("t"))[0])
    assert_problem(other.request("GET", f"/v1/notifications/{created}"), 404)
    assert_problem(other.request("GET", f"/v1/recipients/{recipient}"), 404)
    assert_problem(other.request("DELETE", f"/v1/recipients/{recipient}"), 404)
    assert_problem(other.request("GET", f"/v1/recipients/{recipient}/inbox"), 404)
    assert_problem(other.request("POST", f"/v1/notifications/{created}/retry"), 404)
    assert other.request("GET", "/v1/notifications").json()["items"] == []
    assert_problem(other.notify(recipient_id=recipient), 422)


# --- inbox --------------------------------------------------------------------------------------
def test_inbox_lists_unread_and_marks_read(api: Api, recipient: str) -> None:
    first = api.notify(recipient_id=recipient, title="first").json()["id"]
    second = api.notify(recipient_id=recipient, title="second", data={"n": 2}).json()["id"]
    api.wait_final(first)
    api.wait_final(second)
    inbox = api.request("GET", f"/v1/recipients/{recipient}/inbox").json()
    assert [item["notification_id"] for item in inbox["items"]] == [second, first]
    item = inbox["items"][0]
    assert item["title"] == "second"
    assert item["data"] == {"n": 2}
    assert item["read_at"] is None
    assert set(item) == {
        "notification_id",
        "title",
        "body",
        "severity",
        "category",
        "data",
        "created_at",
        "read_at",
    }
    assert api.request("POST", f"/v1/recipients/{recipient}/inbox/{second}/read").status_code == 204
    assert api.request("POST", f"/v1/recipients/{recipient}/inbox/{second}/read").status_code == 204
    unread = api.request(
        "GET", f"/v1/recipients/{recipient}/inbox", params={"unread": "true"}
    ).json()
    assert [item["notification_id"] for item in unread["items"]] == [first]
    read = api.request("GET", f"/v1/recipients/{recipient}/inbox").json()["items"][0]
    assert read["read_at"] is not None


def test_marking_an_unknown_inbox_item_is_404(api: Api, recipient: str) -> None:
    assert_problem(
        api.request("POST", f"/v1/recipients/{recipient}/inbox/01ARZ3NDEKTSV4RRFFQ69G5FAV/read"),
        404,
    )


def test_inbox_paginates(api: Api, recipient: str) -> None:
    ids = [api.notify(recipient_id=recipient, title=f"i{index}").json()["id"] for index in range(3)]
    for notification_id in ids:
        api.wait_final(notification_id)
    page = api.request("GET", f"/v1/recipients/{recipient}/inbox", params={"limit": 2}).json()
    rest = api.request(
        "GET", f"/v1/recipients/{recipient}/inbox", params={"limit": 2, "cursor": page["next"]}
    ).json()
    assert [item["notification_id"] for item in page["items"] + rest["items"]] == list(
        reversed(ids)
    )
    assert rest["next"] is None


# --- webhook delivery ---------------------------------------------------------------------------
def test_webhook_is_delivered_once_and_correctly_signed(api: Api, hook: Receiver) -> None:
    rid = unique()
    api.put_recipient(rid, webhook_url=hook.url)
    created = api.notify(
        recipient_id=rid, title="Disk almost full", body="db-1 at 93%", data={"disk": 93}
    ).json()
    final = api.wait_final(created["id"])
    assert final["status"] == "delivered"
    webhook = next(d for d in final["deliveries"] if d["channel"] == "webhook")
    assert webhook["attempts"] == 1
    assert webhook["delivered_at"]
    received = hook.for_notification(created["id"])
    assert len(received) == 1
    assert hook.bad_signatures == 0
    assert received[0].body == {
        "type": "notification",
        "id": created["id"],
        "title": "Disk almost full",
        "body": "db-1 at 93%",
        "severity": "info",
        "category": None,
        "data": {"disk": 93},
        "created_at": created["created_at"],
    }


# --- found by the contract audit ----------------------------------------------------------------
def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [40, 200, 5000])
def test_deeply_nested_data_is_refused_not_stored(api: Api, recipient: str, depth: int) -> None:
    data = "[" * depth + "1" + "]" * depth
    payload = json.dumps({"recipient_id": recipient, "title": "deep", "data": {"x": 0}}).replace(
        "0}", data + "}"
    )
    response = api.request(
        "POST", "/v1/notifications", data=payload, headers={"Content-Type": "application/json"}
    )
    assert response.status_code in (400, 422), response.text
    assert response.headers["Content-Type"].startswith(PROBLEM)
    assert api.request("GET", "/v1/notifications").status_code == 200


def test_deeply_nested_preferences_are_refused(api: Api) -> None:
    response = api.put_recipient(unique(), preferences={"x": nested(200)})
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"][:2] == ["body", "preferences"]


def test_a_number_out_of_float_range_is_400_not_null(api: Api, recipient: str) -> None:
    payload = '{"recipient_id": "RID", "title": "t", "data": {"x": 1e400}}'.replace(
        "RID", recipient
    )
    assert_problem(
        api.request(
            "POST", "/v1/notifications", data=payload, headers={"Content-Type": "application/json"}
        ),
        400,
    )


@pytest.mark.parametrize("path", ["/v1/nope", "/v1/recipients/alice/bogus", "/nope"])
@pytest.mark.parametrize("method", ["TRACE", "PROPFIND"])
def test_any_method_on_an_unknown_path_is_404(api: Api, path: str, method: str) -> None:
    assert_problem(api.request(method, path), 404)


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND"])
def test_an_unusual_method_on_a_route_is_405_allowing_only_what_it_serves(
    api: Api, method: str
) -> None:
    response = api.request(method, "/v1/recipients/alice")
    assert_problem(response, 405)
    assert sorted(part.strip() for part in response.headers["Allow"].split(",")) == [
        "DELETE",
        "GET",
        "PUT",
    ]


def test_a_malformed_chunked_body_is_400_problem(api: Api) -> None:
    import socket
    from urllib.parse import urlsplit

    target = urlsplit(api.base)
    with socket.create_connection((target.hostname, target.port), timeout=10) as connection:
        connection.sendall(
            b"POST /v1/notifications HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + api.key.encode()
            + b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"
        )
        reply = connection.recv(65536).decode(errors="replace")
    assert reply.split(" ", 2)[1] == "400", reply
    assert "application/problem+json" in reply


@pytest.mark.parametrize(
    ("request_head", "status"),
    [
        (b"GET / extra HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
    ],
    ids=["bad-request-line", "request-line-too-long", "header-too-large"],
)
def test_the_http_servers_own_errors_are_problem_json(
    api: Api, request_head: bytes, status: int
) -> None:
    import socket
    from urllib.parse import urlsplit

    target = urlsplit(api.base)
    with socket.create_connection((target.hostname, target.port), timeout=10) as connection:
        connection.sendall(request_head)
        reply = b""
        while chunk := connection.recv(65536):
            reply += chunk
    head, _, body = reply.decode(errors="replace").partition("\r\n\r\n")
    assert head.split(" ", 2)[1] == str(status), head
    assert "application/problem+json" in head
    assert json.loads(body)["status"] == status


@pytest.mark.parametrize(
    "url", ["https://exa mple.com/hook", "https://exa%20mple.com/", "http://[::1/x"]
)
def test_a_webhook_url_with_a_bad_host_is_422(api: Api, url: str) -> None:
    problem = assert_problem(api.put_recipient(unique(), webhook_url=url), 422)
    assert problem["errors"][0]["loc"] == ["body", "webhook_url"]


@pytest.mark.parametrize("email", ["Bob <bob@example.com>", "bob", "bob@", "@example.com"])
def test_an_email_must_be_a_plain_address(api: Api, email: str) -> None:
    assert_problem(api.put_recipient(unique(), email=email), 422)


@pytest.mark.parametrize(
    "email", ["Bob.Smith@EXAMPLE.COM", "bob@example.test", "ops+alerts@sub.example.org"]
)
def test_a_valid_email_is_stored_as_given(api: Api, email: str) -> None:
    rid = unique()
    assert api.put_recipient(rid, email=email).status_code == 200
    assert api.request("GET", f"/v1/recipients/{rid}").json()["email"] == email


def test_a_null_severity_means_the_default(api: Api, recipient: str) -> None:
    response = api.notify(recipient_id=recipient, severity=None)
    assert response.status_code == 202, response.text
    assert response.json()["severity"] == "info"


def test_keys_create_refuses_a_bad_tenant_name_cleanly(stack: Stack) -> None:
    result = stack.cli("keys", "create", "--tenant", "bad name!", check=False)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert json.loads(result.stdout)["error"]
