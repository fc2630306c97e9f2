"""The LocalStack tier: the conformance rows of ``tests/emulator`` against LocalStack's own
event source mappings, with the fixture apps deployed as Lambda functions.

LocalStack is the one at ``LOCALSTACK_ENDPOINT`` when that is set (for instance one a user
runs in Docker), else one this tier starts (and stops) with ``tools/localstack-offline.sh``,
on ``LOCALSTACK_PORT`` (default 4599). Rows where LocalStack departs from the AWS
documentation are expected to fail here, each under the name of its deviation
(``DEVIATIONS``); they pass on the emulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.emulator.backend import Backend
from tests.localstack.backend import LocalStackBackend
from tocsin_local.localstack import running_localstack

AUTHORIZERS = (
    "LocalStack deviation 'authorizers': its free edition imports the API's Lambda, Cognito "
    "and IAM authorizers but does not run them: requests reach the route unauthenticated "
    "(200 where AWS answers 401/403) and requestContext has no authorizer entry"
)

DEVIATIONS: dict[str, str] = {
    "test_token_authorizer_without_a_token_is_401": AUTHORIZERS,
    "test_token_authorizer_that_raises_unauthorized_is_401": AUTHORIZERS,
    "test_token_authorizer_policy_not_allowing_the_route_is_403": AUTHORIZERS,
    "test_token_authorizer_context_reaches_the_handler": AUTHORIZERS,
    "test_token_authorizer_result_is_cached_for_its_ttl": AUTHORIZERS,
    "test_request_authorizer_without_its_identity_is_401": AUTHORIZERS,
    "test_request_authorizer_context_reaches_the_handler": AUTHORIZERS,
    "test_request_authorizer_that_refuses_is_401": AUTHORIZERS,
    "test_cognito_authorizer_without_a_token_is_401": AUTHORIZERS,
    "test_cognito_authorizer_claims_reach_the_handler": AUTHORIZERS,
    "test_iam_authorizer_without_a_signature_is_403": AUTHORIZERS,
    "test_queue_visibility_shorter_than_function_timeout_is_refused": (
        "LocalStack deviation 'visibility timeout check': it creates an SQS event source "
        "mapping whose queue visibility timeout is shorter than the function's timeout, which "
        "AWS refuses (InvalidParameterValueException)"
    ),
    "test_batching_window_gathers_messages_sent_apart": (
        "LocalStack deviation 'batching window': MaximumBatchingWindowInSeconds is used only "
        "as the long-poll wait; a batch never waits to fill"
    ),
    "test_batch_larger_than_ten_with_a_window": (
        "LocalStack deviation 'batching window': MaximumBatchingWindowInSeconds is used only "
        "as the long-poll wait; a batch never waits to fill, so messages sent apart within "
        "the window arrive in several batches"
    ),
    "test_maximum_concurrency_limits_parallel_invocations": (
        "LocalStack deviation 'maximum concurrency': ScalingConfig.MaximumConcurrency is "
        "stored but has no effect; one batch at a time per mapping"
    ),
    "test_fifo_batch_holds_several_groups_each_in_order": (
        "LocalStack deviation 'FIFO batches': with batches larger than one, LocalStack splits "
        "a receive into one invocation per message group"
    ),
    "test_cron_expression_fires_at_the_start_of_its_minute": (
        "LocalStack deviation 'cron timing': its scheduler looks at the rules once a minute "
        "and fires a cron rule whose next time is less than a minute away, at whatever second "
        "that check runs (up to a minute early), not at the start of the minute"
    ),
    "test_cron_step_of_one_fires_within_the_minute": (
        "LocalStack deviation 'cron timing': its scheduler looks at the rules once a minute "
        "and fires a cron rule whose next time is less than a minute away, at whatever second "
        "that check runs, not at the start of the minute"
    ),
}


# Rows LocalStack cannot run at all, by module: a platform limit, named, never a silent skip.
LIMITATIONS: dict[str, str] = {
    "test_websockets.py": (
        "LocalStack limitation 'WebSocket APIs': the free edition has REST API Gateway (v1) "
        "only; WebSocket and HTTP APIs (v2) are paid. These rows run on the emulator only."
    ),
}

# LocalStack's once-a-minute rule check lands on second 0 about one time in sixty.
BY_CHANCE = {
    "test_cron_expression_fires_at_the_start_of_its_minute",
    "test_cron_step_of_one_fires_within_the_minute",
}


def pytest_configure(config: pytest.Config) -> None:
    # The rows carry xdist_group marks; this tier runs without xdist, which registers them.
    config.addinivalue_line("markers", "xdist_group(name): tests that share an xdist worker")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here not in item.path.parents:
            continue
        item.add_marker(pytest.mark.localstack)
        limitation = LIMITATIONS.get(item.path.name)
        if limitation:
            item.add_marker(pytest.mark.skip(reason=limitation))
            continue
        reason = DEVIATIONS.get(item.name)
        if reason:
            # Strict, so a LocalStack that comes to match AWS is noticed; except where the
            # deviation is a matter of timing that LocalStack meets by chance now and then.
            strict = item.name not in BY_CHANCE
            item.add_marker(pytest.mark.xfail(reason=reason, strict=strict))


@pytest.fixture(scope="session")
def localstack() -> Iterator[tuple[str, float]]:
    """(endpoint, how long an asynchronous retry may take there)."""
    with running_localstack() as running:
        yield running.endpoint, running.async_retry_seconds


@pytest.fixture(scope="session")
def backend(
    localstack: tuple[str, float], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    endpoint, async_retry_seconds = localstack
    deployed = LocalStackBackend(
        endpoint, tmp_path_factory.mktemp("localstack"), async_retry_seconds=async_retry_seconds
    )
    yield deployed
    deployed.close()
