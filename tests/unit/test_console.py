"""The console in-process outside the local stage (moto's mock, the gateway's WSGI app):
sessions, CSRF, tenant isolation, security headers, page weight."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import pytest
from moto import mock_aws
from werkzeug.test import Client, TestResponse

from chalicelib import aws
from chalicelib.domain.notifications import SendNotification
from chalicelib.models.stored import Content
from chalicelib.settings import Stage
from chalicelib.wiring import Services, build_services, use_services
from infra.provision import provision
from infra.resources import definition, stage_settings
from tocsin_local.emulator.gateway import Gateway

FORM = "application/x-www-form-urlencoded"
PAGES = [
    "/console",
    "/console/notifications",
    "/console/dead-letters",
    "/console/recipients",
    "/console/topics",
    "/console/keys",
    "/console/alerts",
    "/console/templates",
]


@dataclass
class Operator:
    """A browser of one operator: its cookies, sent by hand (the test client would keep a
    Secure cookie off plain http)."""

    client: Client
    jar: dict[str, str] = field(default_factory=dict)

    def _keep(self, response: TestResponse) -> TestResponse:
        for header in response.headers.getlist("Set-Cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in header:
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        return response

    def _cookie(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.jar.items())} if self.jar else {}

    def get(self, path: str) -> TestResponse:
        return self._keep(self.client.get(path, headers=self._cookie()))

    def post(self, path: str, data: Mapping[str, str | list[str]]) -> TestResponse:
        return self._keep(
            self.client.post(path, data=data, content_type=FORM, headers=self._cookie())
        )

    def csrf(self, path: str = "/console") -> str:
        match = re.search(r'name="csrf" value="([^"]+)"', self.get(path).get_data(as_text=True))
        assert match is not None
        return match.group(1)

    def sign_in(self, api_key: str) -> TestResponse:
        token = self.csrf("/console/sign-in")
        return self.post("/console/sign-in", {"csrf": token, "api_key": api_key})


@pytest.fixture(scope="module")
def dev_services() -> Iterator[Services]:
    """One mocked cloud for the module (each test uses tenants of its own)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        for name, value in (
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ):
            monkeypatch.setenv(name, value)
        with mock_aws():
            aws.forget_clients()
            provisioned = provision(definition(Stage.DEV))
            settings = stage_settings(Stage.DEV).model_copy(
                update={"notifications_topic_arn": next(iter(provisioned.topic_arns.values()))}
            )
            services = build_services(settings)
            use_services(services)
            yield services
            use_services(None)
            aws.forget_clients()


@pytest.fixture
def acme() -> str:
    return f"acme-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def gateway() -> Gateway:
    import app

    return Gateway(app.app, "dev", 30.0)


def operator(gateway: Gateway) -> Operator:
    return Operator(Client(gateway, use_cookies=False))


def signed_in(gateway: Gateway, services: Services, tenant: str) -> tuple[Operator, str]:
    key = services.tenants.issue_key(tenant).api_key
    browser = operator(gateway)
    assert browser.sign_in(key).status_code == 303
    return browser, key


def test_sign_in_sets_a_strict_http_only_secure_cookie(
    dev_services: Services, gateway: Gateway, acme: str
) -> None:
    key = dev_services.tenants.issue_key(acme).api_key
    browser = operator(gateway)
    response = browser.sign_in(key)
    assert response.status_code == 303
    assert response.headers["Location"] == "/console"
    [session_cookie] = [
        c for c in response.headers.getlist("Set-Cookie") if c.startswith("tocsin_session=")
    ]
    assert {"HttpOnly", "SameSite=Strict", "Secure", "Path=/"} <= set(session_cookie.split("; "))
    page = browser.get("/console")
    assert page.status_code == 200
    assert acme in page.get_data(as_text=True)
    # The key itself is in no page and no cookie: only its non-secret prefix is.
    secret = key.split(".", 1)[1]
    assert secret not in session_cookie
    for path in PAGES:
        assert secret not in browser.get(path).get_data(as_text=True)


def test_a_wrong_key_is_refused_and_no_session_means_the_sign_in_page(
    dev_services: Services, gateway: Gateway, acme: str
) -> None:
    browser = operator(gateway)
    assert browser.sign_in("tsn_000000000000.not-a-real-secret-at-all").status_code == 401
    assert "tocsin_session" not in browser.jar
    response = browser.get("/console/notifications")
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/sign-in"


def test_a_form_without_its_csrf_token_is_refused(
    dev_services: Services, gateway: Gateway, acme: str
) -> None:
    # GIVEN two signed-in operators
    browser, _ = signed_in(gateway, dev_services, acme)
    other, _ = signed_in(gateway, dev_services, acme)
    form = {"recipient_id": "mallory", "email": "m@example.com"}
    # WHEN a form comes without a token, with another session's, or a sign-in without one
    missing = browser.post("/console/recipients", form)
    foreign = browser.post("/console/recipients", {**form, "csrf": other.csrf()})
    bare = operator(gateway).post("/console/sign-in", {"api_key": "x"})
    # THEN each is refused and nothing changed
    assert (missing.status_code, foreign.status_code, bare.status_code) == (403, 403, 403)
    assert browser.get("/console/recipients/mallory").status_code == 404
    # AND with its own token the same form is accepted
    saved = browser.post("/console/recipients", {**form, "csrf": browser.csrf()})
    assert saved.status_code == 303
    assert browser.get("/console/recipients/mallory").status_code == 200


def test_a_cookie_from_one_tenant_never_shows_another_tenants_data(
    dev_services: Services, gateway: Gateway, acme: str
) -> None:
    # GIVEN tenant acme with a recipient and a notification, and an operator of globex
    owner, _ = signed_in(gateway, dev_services, acme)
    owner.post(
        "/console/recipients",
        {"csrf": owner.csrf(), "recipient_id": "acme-ops", "email": "ops@acme.example"},
    )
    accepted = dev_services.notifications.accept(
        acme, SendNotification(content=Content(title="acme secret"), recipient_id="acme-ops")
    )
    notification_id = accepted.notification.id
    globex, _ = signed_in(gateway, dev_services, f"globex-{acme}")
    # WHEN globex's operator looks for acme's data, by list and by id
    pages = [globex.get(path).get_data(as_text=True) for path in PAGES]
    by_id = globex.get(f"/console/notifications/{notification_id}")
    recipient = globex.get("/console/recipients/acme-ops")
    # THEN it is not there
    assert not any("acme-ops" in text or "acme secret" in text for text in pages)
    assert by_id.status_code == 404
    assert recipient.status_code == 404
    # AND acme's own operator sees both
    assert "acme secret" in owner.get(f"/console/notifications/{notification_id}").get_data(
        as_text=True
    )
    # AND globex cannot revoke acme's key nor change acme's recipient
    acme_prefix = dev_services.console.keys.list(acme)[0].prefix
    assert (
        globex.post(f"/console/keys/{acme_prefix}/revoke", {"csrf": globex.csrf()}).status_code
        == 404
    )
    globex.post(
        "/console/recipients",
        {"csrf": globex.csrf(), "recipient_id": "acme-ops", "email": "evil@globex.example"},
    )
    assert dev_services.recipients.get(acme, "acme-ops").email == "ops@acme.example"


def test_signing_out_or_revoking_the_key_ends_the_session(
    dev_services: Services, gateway: Gateway, acme: str
) -> None:
    # GIVEN two sessions, each with its own key
    first, _ = signed_in(gateway, dev_services, acme)
    old_cookie = dict(first.jar)
    second, second_key = signed_in(gateway, dev_services, acme)
    # WHEN the first signs out
    assert first.post("/console/sign-out", {"csrf": first.csrf()}).status_code == 303
    # THEN its old cookie is refused
    replay = operator(gateway)
    replay.jar = old_cookie
    assert replay.get("/console").status_code == 303
    # WHEN the second's key is revoked (from the first's new session)
    first.sign_in(dev_services.tenants.issue_key(acme).api_key)
    prefix = second_key.split(".")[0]
    assert first.post(f"/console/keys/{prefix}/revoke", {"csrf": first.csrf()}).status_code == 303
    # THEN the second session is over too
    assert second.get("/console").status_code == 303
    assert first.get("/console").status_code == 200


def test_a_tampered_cookie_is_refused(dev_services: Services, gateway: Gateway, acme: str) -> None:
    browser, _ = signed_in(gateway, dev_services, acme)
    prefix, session_id, expires, signature = browser.jar["tocsin_session"].split(".")
    later = str(int(expires) + 3600)
    browser.jar["tocsin_session"] = ".".join([prefix, session_id, later, signature])
    assert browser.get("/console").status_code == 303


def test_every_page_sends_a_strict_csp_and_weighs_under_50_kb(
    dev_services: Services, gateway: Gateway, acme: str
) -> None:
    browser, _ = signed_in(gateway, dev_services, acme)
    for path in [*PAGES, "/console/sign-in", "/docs"]:
        response = browser.get(path)
        assert response.status_code == 200, path
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["Cache-Control"] == "no-store"
        assert len(response.get_data()) < 50 * 1024, path


def test_an_id_outside_the_api_format_names_nothing(
    dev_services: Services, gateway: Gateway, acme: str
) -> None:
    browser, _ = signed_in(gateway, dev_services, acme)
    assert browser.get("/console/notifications/x%23D").status_code == 404
    assert browser.get("/console/recipients/a%20b").status_code == 404
