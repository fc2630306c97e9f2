"""The console and the API reference in a real browser: Debian's Chromium, headless, driven by
Playwright, on the whole local stack. Each page is checked with axe-core (no serious or
critical violation), weighed (under 50 KB on the wire) and photographed.

Screenshots go to ``build/console-shots`` (test artefacts), or to ``TOCSIN_SHOTS_DIR``
(``make console-shots`` writes the README's).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.wrappers import Response

from tests.harness import Api, Receiver, Stack, poll, receiver

playwright_api = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("TOCSIN_CHROMIUM", "/usr/bin/chromium")
AXE = Path(os.environ.get("TOCSIN_AXE", ROOT / "build/browser/node_modules/axe-core/axe.min.js"))
SHOTS = Path(os.environ.get("TOCSIN_SHOTS_DIR", ROOT / "build/console-shots"))
MAX_PAGE_BYTES = 50 * 1024
# Each page's weight on the wire, by page (a test artefact, beside the screenshots).
WEIGHTS = ROOT / "build/console-shots/weights.json"
# The flags Chromium needs on a machine without a network beyond loopback.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
    pytest.skip(f"no Chromium at {CHROMIUM} (make test installs it)", allow_module_level=True)
if not AXE.exists():
    pytest.skip(f"no axe-core at {AXE} (make test installs it)", allow_module_level=True)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Console:
    """One browser tab on the console, with the checks every page gets."""

    def __init__(self, page: Any, base: str) -> None:
        self.page = page
        self.base = base
        self.csp_errors: list[str] = []
        self.weights: dict[str, int] = {}
        self.visited: list[str] = []
        page.on("console", self._console)
        page.on("request", lambda request: self.visited.append(request.url))

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.csp_errors.append(message.text)

    def goto(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def check(self, name: str, *, exclude: list[str] | None = None) -> None:
        """axe-core on the page as it stands, its weight, and a screenshot."""
        self.page.wait_for_load_state("load")
        # Evaluated through the DevTools protocol: the page's CSP stays enforced.
        self.page.evaluate(AXE.read_text(encoding="utf-8") + "\n;void 0")
        result = self.page.evaluate(
            """async (exclude) => {
                const context = exclude.length ? {exclude: exclude.map((s) => [s])} : document;
                const r = await axe.run(context, {resultTypes: ["violations"]});
                return r.violations.map((v) => ({id: v.id, impact: v.impact,
                    nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" "))}));
            }""",
            exclude or [],
        )
        serious = [v for v in result if v["impact"] in ("serious", "critical")]
        assert serious == [], f"{name}: {json.dumps(serious, indent=1)}"
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=name != "docs")
        self.weigh(name, self.page.url)

    def weigh(self, name: str, url: str) -> None:
        cookies = {c["name"]: c["value"] for c in self.page.context.cookies()}
        response = requests.get(url, cookies=cookies, timeout=30, allow_redirects=False)
        # On the wire: what the server sends, headers included.
        size = len(response.content) + sum(len(k) + len(v) + 4 for k, v in response.headers.items())
        self.weights[name] = size
        WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
        weights = WEIGHTS
        known = json.loads(weights.read_text()) if weights.exists() else {}
        weights.write_text(json.dumps({**known, name: size}, indent=1, sort_keys=True) + "\n")
        assert size < MAX_PAGE_BYTES, f"{name} weighs {size} bytes"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> tuple[str, str]:
    return stack.new_tenant(unique("console"))


@pytest.fixture(scope="module")
def hook(tenant: tuple[str, str]) -> Iterator[Receiver]:
    with receiver(tenant[1]) as instance:
        yield instance


@pytest.fixture(scope="module")
def tenant_api(stack: Stack, tenant: tuple[str, str]) -> Api:
    return stack.client(tenant[0])


def failed_notification(api: Api, recipient_id: str, title: str) -> str:
    created = api.notify(recipient_id=recipient_id, channels=["webhook"], title=title).json()
    assert api.wait_final(created["id"])["status"] == "failed"
    return str(created["id"])


def test_an_operator_finds_a_failure_reads_its_timeline_redrives_it_and_signs_out(
    stack: Stack, browser: Any, tenant: tuple[str, str], hook: Receiver, tenant_api: Api
) -> None:
    # GIVEN a recipient whose endpoint answers 410 Gone: two notifications fail at once
    api_key, _ = tenant
    recipient = unique("ops")
    hook.respond = lambda _: Response("gone", status=410)
    assert tenant_api.put_recipient(recipient, webhook_url=hook.url).status_code == 200
    first = failed_notification(tenant_api, recipient, "Disk almost full on db-1")
    second = failed_notification(tenant_api, recipient, "Replica lag on db-2")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = Console(context.new_page(), stack.api_url)
    page = tab.page

    # WHEN the operator opens the console: the sign-in form, its key field labelled
    tab.goto("/console")
    assert page.url.endswith("/console/sign-in")
    tab.check("sign-in")
    page.get_by_label("API key").fill(api_key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console")
    playwright_api.expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    tab.check("overview")

    # AND finds the failed notification through the status filter (submits on change)
    page.get_by_role("link", name="Notifications", exact=True).click()
    page.get_by_label("Status").select_option("failed")
    page.wait_for_url("**status=failed**")
    tab.check("notifications")
    page.get_by_role("link", name="Disk almost full on db-1").click()
    page.wait_for_url(f"**/console/notifications/{first}")

    # THEN its page shows its id and the attempt: time, channel, HTTP status, error
    playwright_api.expect(page.get_by_text(first, exact=True)).to_be_visible()
    timeline = page.get_by_role("table", name="Timeline of the webhook delivery")
    playwright_api.expect(timeline.get_by_role("cell", name="410", exact=True)).to_be_visible()
    playwright_api.expect(timeline.get_by_role("cell", name="HTTP 410")).to_be_visible()
    tab.check("notification-failed")

    # WHEN the receiver recovers and the operator retries the delivery
    hook.respond = lambda _: Response("ok", status=200)
    page.get_by_role("button", name="Retry").click()
    playwright_api.expect(page.get_by_role("status")).to_contain_text("queued again")

    # THEN the delivery is delivered, and the timeline shows the second attempt
    def delivered() -> bool:
        page.reload()
        return bool(page.locator(".facts .status-delivered").count() == 1)

    poll(delivered, timeout=30, interval=0.5, what="notification delivered in the console")
    playwright_api.expect(timeline.get_by_role("cell", name="200", exact=True)).to_be_visible()
    tab.check("notification-delivered")

    # WHEN the other failure is redriven from the dead letters
    page.get_by_role("link", name="Dead letters").click()
    playwright_api.expect(page.get_by_role("cell", name=second, exact=True)).to_be_visible()
    tab.check("dead-letters")
    page.get_by_role("button", name="Redrive").click()
    playwright_api.expect(page.get_by_role("status")).to_contain_text("1 dead letter queued")
    # THEN it is delivered too
    assert tenant_api.wait_final(second)["status"] == "delivered"
    assert len(hook.for_notification(second)) == 2

    # AND every other page passes the same checks
    for name, link in [
        ("recipients", "Recipients"),
        ("topics", "Topics"),
        ("keys", "Keys"),
        ("templates", "Templates"),
    ]:
        page.get_by_role("link", name=link, exact=True).click()
        page.wait_for_load_state("load")
        tab.check(name)
    tab.goto(f"/console/recipients/{recipient}")
    tab.check("recipient")

    # AND on a phone's width the console still fits
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, storage_state=context.storage_state()
    )
    small = Console(phone.new_page(), stack.api_url)
    small.goto(f"/console/notifications/{first}")
    small.check("notification-phone")
    phone.close()

    # WHEN the operator signs out
    old = {c["name"]: c["value"] for c in context.cookies()}
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/sign-in")
    # THEN the old cookie is refused
    replay = requests.get(
        stack.api_url + "/console", cookies=old, timeout=30, allow_redirects=False
    )
    assert replay.status_code == 303
    assert replay.headers["Location"].endswith("/console/sign-in")
    assert tab.csp_errors == []
    # AND the key was never in a URL the browser visited, nor in the stack's log
    secret = api_key.split(".", 1)[1]
    assert all(secret not in url for url in tab.visited)
    assert secret not in (stack.state_dir / "stack.log").read_text(errors="replace")
    context.close()


def sign_in(browser: Any, stack: Stack, api_key: str) -> tuple[Any, Console]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = Console(context.new_page(), stack.api_url)
    tab.goto("/console/sign-in")
    tab.page.get_by_label("API key").fill(api_key)
    tab.page.get_by_role("button", name="Sign in").click()
    tab.page.wait_for_url("**/console")
    return context, tab


def test_an_operator_acknowledges_then_resolves_an_alert(
    stack: Stack, browser: Any, tenant: tuple[str, str], tenant_api: Api
) -> None:
    # GIVEN a new critical alert of the tenant
    summary = f"db-1 down {uuid.uuid4().hex[:6]}"
    response = tenant_api.request(
        "POST",
        "/v1/alerts/events",
        json={"action": "trigger", "summary": summary, "source": "db-1", "labels": {"env": "prod"}},
    )
    assert response.status_code == 202, response.text
    alert_id = response.json()["alert_id"]
    context, tab = sign_in(browser, stack, tenant[0])
    page = tab.page
    # WHEN the operator finds it from the overview and acknowledges it
    playwright_api.expect(page.get_by_role("link", name=summary)).to_be_visible()
    page.get_by_role("link", name="Alerts", exact=True).click()
    tab.check("alerts")
    page.get_by_role("link", name=summary).click()
    page.wait_for_url(f"**/console/alerts/{alert_id}")
    tab.check("alert-triggered")
    page.get_by_role("button", name="Acknowledge").click()
    # THEN the alert is acknowledged, in the page's timeline and through the API
    playwright_api.expect(page.get_by_role("status")).to_contain_text("Alert acknowledged")
    playwright_api.expect(page.locator(".timeline")).to_contain_text("acknowledged")
    assert tenant_api.request("GET", f"/v1/alerts/{alert_id}").json()["status"] == "acknowledged"
    tab.check("alert-acknowledged")
    # WHEN it is resolved
    page.get_by_role("button", name="Resolve").click()
    playwright_api.expect(page.get_by_role("status")).to_contain_text("Alert resolved")
    assert tenant_api.request("GET", f"/v1/alerts/{alert_id}").json()["status"] == "resolved"
    # AND the silences and integrations pages pass the same checks
    for name, link in [("silences", "Silences"), ("integrations", "Integrations")]:
        page.get_by_role("link", name=link, exact=True).click()
        page.wait_for_load_state("load")
        tab.check(name)
    assert tab.csp_errors == []
    context.close()


def test_an_operator_writes_a_template_and_previews_it(
    stack: Stack, browser: Any, tenant: tuple[str, str]
) -> None:
    context, tab = sign_in(browser, stack, tenant[0])
    page = tab.page
    # GIVEN a template written in the console
    page.get_by_role("link", name="Templates", exact=True).click()
    page.get_by_label("Name").fill("disk-full")
    page.get_by_label("Title").fill("Disk {{ data.host }} at {{ data.percent }}%")
    page.get_by_label("SMS text (optional)").fill("{{ data.host }}: disk {{ data.percent }}%")
    page.get_by_role("button", name="Create template").click()
    page.wait_for_url("**/console/templates/disk-full?saved=1")
    # WHEN it is previewed with data
    page.get_by_label("Data (JSON)").fill('{"host": "db-1", "percent": 93}')
    page.get_by_role("button", name="Preview").click()
    # THEN each channel's rendering shows
    rendered = page.get_by_role("status", name="Rendered preview")
    playwright_api.expect(rendered).to_contain_text("Disk db-1 at 93%")
    playwright_api.expect(rendered).to_contain_text("db-1: disk 93%")
    tab.check("template-preview")
    # AND a missing variable is refused with its reason, not rendered
    page.get_by_label("Data (JSON)").fill('{"host": "db-1"}')
    page.get_by_role("button", name="Preview").click()
    playwright_api.expect(page.get_by_role("alert")).to_contain_text("does not render")
    tab.goto("/console/preferences")
    tab.check("preferences")
    assert tab.csp_errors == []
    context.close()


def test_the_api_reference_renders_the_openapi_document_and_tries_it(
    stack: Stack, browser: Any
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = Console(context.new_page(), stack.api_url)
    page = tab.page
    tab.goto("/docs")
    playwright_api.expect(page.get_by_role("heading", name="Tocsin", level=1)).to_be_visible(
        timeout=30_000
    )
    # "Try it out" on GET /health, against this same stack
    operation = page.locator("#operations-system-health")
    operation.locator(".opblock-summary-control").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    playwright_api.expect(
        operation.locator(".live-responses-table tbody .response-col_status").first
    ).to_contain_text("200")
    tab.check("docs")
    assert tab.csp_errors == []
    context.close()
