"""Fixtures shared by the tiers. The e2e stack is started once per test process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import Api, Receiver, Stack, receiver


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = Stack.start(tmp_path_factory.mktemp("stack"))
    yield started
    started.stop()


@pytest.fixture
def api(stack: Stack) -> Api:
    return stack.client()


@pytest.fixture
def hook(stack: Stack) -> Iterator[Receiver]:
    with receiver(stack.webhook_secret) as instance:
        yield instance
