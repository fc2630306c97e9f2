"""The e2e delivery rows (tests/e2e/test_delivery.py): a signed webhook, a retry after a 503, a
410 failed at once, dead letters and their redrive, against the deployed pipeline."""

from __future__ import annotations

import uuid

from tests.e2e import test_delivery as rows
from tests.harness import Api, Receiver

globals().update({name: getattr(rows, name) for name in dir(rows) if name.startswith("test_")})

# LocalStack's visibility timer brings a message back up to 1.4 s late (local-cloud.md).
VISIBILITY_TIMER_SECONDS = 1.5


def test_a_503_is_retried_with_the_same_webhook_id_after_its_visibility_wait(
    api: Api, hook: Receiver
) -> None:
    # GIVEN a receiver that answers 503 once
    hook.respond = rows.answers(503)
    rid = f"r-{uuid.uuid4().hex[:10]}"
    api.put_recipient(rid, webhook_url=hook.url)

    # WHEN a notification is sent to it
    created = api.notify(recipient_id=rid, channels=["webhook"]).json()
    final = api.wait_final(created["id"])

    # THEN the second attempt delivers it, signed afresh, with the first one's webhook-id
    assert final["status"] == "delivered"
    assert rows.webhook_of(final)["attempts"] == 2
    first, second = hook.for_notification(created["id"])
    assert first.webhook_id == second.webhook_id
    assert second.received_at - first.received_at < 2.0 + VISIBILITY_TIMER_SECONDS
    assert hook.bad_signatures == 0
