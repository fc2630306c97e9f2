"""The emulator tier: the conformance rows against Tocsin's emulator on a real moto server.

One moto server per test process (a process of its own, as in ``make run``); each fixture app
gets its own trigger runner the first time a row needs it. Rows of one app share an xdist
group, so an app's runner starts once and different apps run in parallel.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.emulator.backend import Backend, EmulatorBackend, stop_process_group


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tocsin_local.moto_server", "--port", "0"],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, "the moto server did not start"
    yield f"http://127.0.0.1:{json.loads(line)['port']}"
    stop_process_group(process)


@pytest.fixture(scope="session")
def backend(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    emulator = EmulatorBackend(moto_endpoint, tmp_path_factory.mktemp("emulator"))
    yield emulator
    emulator.close()
