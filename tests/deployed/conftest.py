"""The deployed tier (``make test-deployed``): Tocsin deployed into LocalStack by ``make deploy``
(API Gateway -> Lambda -> DynamoDB -> SNS/SQS -> Lambda, the sweep on its EventBridge rule),
the e2e contract and delivery rows against it, an upgrade that must keep every notification
and resend none, and ``make destroy``, which must keep the table.

LocalStack is the one at ``LOCALSTACK_ENDPOINT``, else one this tier starts on
``LOCALSTACK_PORT`` (default 4599) and stops. The rows that test the local gateway's own HTTP
server, or methods API Gateway does not route, are skipped here by name, each saying why.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deployed.deployment import DeployedStack, forget_kept_tables, make
from tests.harness import Api, Receiver, receiver
from tocsin_local.localstack import LocalStack, running_localstack

GATEWAY_METHODS = (
    "API Gateway routes only GET, POST, PUT, DELETE, PATCH, HEAD and OPTIONS; the gateway "
    "answers any other method itself, before Tocsin"
)
OWN_HTTP_SERVER = (
    "a row of the local gateway's own HTTP server; a deployed API's HTTP parsing is the "
    "gateway's (API Gateway, LocalStack)"
)
# By test name, or by name with its parameters.
NOT_HERE: dict[str, str] = {
    "test_a_malformed_chunked_body_is_400_problem": OWN_HTTP_SERVER,
    "test_the_http_servers_own_errors_are_problem_json": OWN_HTTP_SERVER,
    "test_unserved_method_is_405_problem[TRACE]": GATEWAY_METHODS,
    "test_email_and_sms_are_sent_and_visible_in_the_outbox": (
        "tocsin outbox reads the local cloud's moto server; LocalStack keeps sent mail elsewhere"
    ),
}
UNUSUAL_METHODS = (
    "test_any_method_on_an_unknown_path_is_404",
    "test_an_unusual_method_on_a_route_is_405_allowing_only_what_it_serves",
)
# Rows where LocalStack departs from AWS, expected to fail here by name (they pass on the
# emulator); not strict where LocalStack meets them by chance.
DEVIATIONS: dict[str, str] = {
    "test_a_transient_failure_is_retried_with_the_same_webhook_id": (
        "LocalStack deviation 'visibility timer': a message comes back up to 1.4 s after its "
        "visibility timeout (a 1 s timer), so the first retry can miss 2 s; "
        "test_delivery.py checks the retry itself with that allowance"
    ),
}
# These run last, in this order: the upgrade changes the deployed code, destroy removes it.
LAST = ("test_lifecycle.py",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here not in item.path.parents:
            continue
        name = getattr(item, "originalname", item.name)
        reason = NOT_HERE.get(item.name) or NOT_HERE.get(name)
        if reason is None and name in UNUSUAL_METHODS:
            reason = GATEWAY_METHODS
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
        if name in DEVIATIONS:
            item.add_marker(pytest.mark.xfail(reason=DEVIATIONS[name], strict=False))
    items.sort(key=lambda item: item.path.name in LAST)


@pytest.fixture(scope="session")
def localstack() -> Iterator[LocalStack]:
    with running_localstack() as running:
        yield running


@pytest.fixture(scope="session")
def stack(
    localstack: LocalStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DeployedStack]:
    """Tocsin deployed with ``make deploy STAGE=local ENDPOINT=...``; destroyed at the end
    unless a row did it."""
    forget_kept_tables(localstack.endpoint)
    deployed = make("deploy", localstack.endpoint)
    assert deployed.returncode == 0, f"make deploy failed:\n{deployed.stdout}\n{deployed.stderr}"
    print(deployed.stdout)
    running = DeployedStack.read(tmp_path_factory.mktemp("deployed"))
    yield running
    cloudformation = running.aws("cloudformation")
    if any(
        stack["StackStatus"] != "DELETE_COMPLETE"
        for stack in cloudformation.list_stacks()["StackSummaries"]
        if stack["StackName"] == running.stack_name
    ):
        make("destroy", localstack.endpoint)


@pytest.fixture
def api(stack: DeployedStack) -> Api:
    return stack.client()


@pytest.fixture
def hook(stack: DeployedStack) -> Iterator[Receiver]:
    with receiver(stack.webhook_secret) as instance:
        yield instance
