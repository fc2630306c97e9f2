"""Templates: sandboxed, strict, rendered at acceptance (a failure is a 422, never later)."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import Invalid
from chalicelib.domain.templates import TemplateDetails
from chalicelib.models.common import Channel, Severity
from chalicelib.models.stored import Content
from chalicelib.models.templates import EmailTemplate, SmsTemplate
from tests.unit.domain_world import World

HOOK = "https://example.com/hook"


@pytest.fixture
def world() -> World:
    world = World()
    world.recipient(name="Alice", webhook_url=HOOK, email="alice@example.com")
    world.templates.put(
        "acme",
        "disk",
        TemplateDetails(
            title="{{ data.host }} disk at {{ data.percent }}%",
            body="Hello {{ recipient.name }}, {{ notification.severity }}",
            email=EmailTemplate(subject="[{{ data.host }}]", html="<p>{{ data.note }}</p>"),
            sms=SmsTemplate(text="{{ data.host }}!"),
        ),
    )
    return world


def accept(world: World, data: dict[str, object], **more: object) -> Content:
    from chalicelib.domain.notifications import SendNotification

    command = SendNotification(
        content=Content(title="", data=data, severity=Severity.WARNING),
        recipient_id=str(more.pop("recipient_id", "alice")),
        template="disk",
        **more,  # type: ignore[arg-type]
    )
    return world.notifications.accept("acme", command).notification.content


def test_a_template_renders_each_part_for_its_recipient(world: World) -> None:
    content = accept(world, {"host": "db-1", "percent": 93, "note": "<b>clean up</b>"})
    assert content.title == "db-1 disk at 93%"
    assert content.body == "Hello Alice, warning"
    assert content.email is not None
    assert content.email.subject == "[db-1]"
    # HTML parts are autoescaped; text parts are not
    assert content.email.html == "<p>&lt;b&gt;clean up&lt;/b&gt;</p>"
    assert content.sms == "db-1!"


def test_a_missing_variable_is_refused_at_acceptance_and_nothing_is_stored(world: World) -> None:
    with pytest.raises(Invalid, match="percent") as raised:
        accept(world, {"host": "db-1", "note": ""})
    assert raised.value.loc == ["template"]
    assert world.store.notifications == {}


def test_an_unknown_template_is_refused(world: World) -> None:
    from chalicelib.domain.notifications import SendNotification

    command = SendNotification(content=Content(title=""), recipient_id="alice", template="nope")
    with pytest.raises(Invalid, match="no template") as raised:
        world.notifications.accept("acme", command)
    assert raised.value.loc == ["template"]


def test_a_template_that_does_not_parse_is_refused_naming_its_part(world: World) -> None:
    with pytest.raises(Invalid) as raised:
        world.templates.put(
            "acme", "bad", TemplateDetails(title="ok", email=EmailTemplate(html="{% if %}"))
        )
    assert raised.value.loc == ["email", "html"]


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ data.__class__.__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
    ],
)
def test_the_sandbox_refuses_python_internals(world: World, source: str) -> None:
    world.templates.put("acme", "evil", TemplateDetails(title=source))
    from chalicelib.domain.notifications import SendNotification

    command = SendNotification(content=Content(title=""), recipient_id="alice", template="evil")
    with pytest.raises(Invalid):
        world.notifications.accept("acme", command)


def test_a_template_that_loops_without_end_is_stopped(world: World) -> None:
    looping = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}x"
    world.templates.put("acme", "slow", TemplateDetails(title=looping))
    from chalicelib.domain.notifications import SendNotification

    command = SendNotification(content=Content(title=""), recipient_id="alice", template="slow")
    with pytest.raises(Invalid, match="longer than"):
        world.notifications.accept("acme", command)


def test_the_request_title_wins_over_the_template(world: World) -> None:
    from chalicelib.domain.notifications import SendNotification

    command = SendNotification(
        content=Content(title="Mine", data={"host": "h", "percent": 1, "note": ""}),
        recipient_id="alice",
        template="disk",
    )
    content = world.notifications.accept("acme", command).notification.content
    assert (content.title, content.body) == ("Mine", "Hello Alice, info")


def test_preview_shows_each_channel_as_sent(world: World) -> None:
    preview = world.templates.preview(
        "acme",
        "disk",
        data={"host": "db-1", "percent": 93, "note": "x"},
        recipient_id="alice",
        severity=Severity.CRITICAL,
        category=None,
    )
    assert preview.title == "db-1 disk at 93%"
    assert preview.email.subject == "[db-1]"
    assert preview.email.text == "Hello Alice, critical"
    assert preview.sms.text == "db-1!"
    with pytest.raises(Invalid):
        world.templates.preview(
            "acme", "disk", data={}, recipient_id=None, severity=Severity.INFO, category=None
        )


def test_a_topic_notification_renders_for_each_recipient(world: World) -> None:
    # GIVEN two subscribers with names, one with none
    world.recipient("bob", name="Bob", webhook_url=HOOK)
    world.recipient("carol", webhook_url=HOOK)
    for rid in ("alice", "bob", "carol"):
        world.subscribe(f"s-{rid}", rid, "ops.#")
    from chalicelib.domain.notifications import SendNotification

    command = SendNotification(
        content=Content(title="", data={"host": "db-1", "percent": 5, "note": ""}),
        topic="ops.db",
        template="disk",
    )
    notification = world.notifications.accept("acme", command).notification
    world.expand_all(notification.id)
    # WHEN each webhook is sent
    for rid in ("alice", "bob", "carol"):
        world.process(notification.id, recipient_id=rid)
    # THEN each carried its own greeting
    bodies = {
        delivery.recipient_id: (delivery.content or notification.content).body
        for delivery in world.store.deliveries.values()
        if delivery.channel is Channel.WEBHOOK
    }
    assert bodies == {
        "alice": "Hello Alice, info",
        "bob": "Hello Bob, info",
        "carol": "Hello , info",
    }
