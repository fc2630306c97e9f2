"""The rows of ``tests/emulator/test_sources.py``, on LocalStack (see conftest.py)."""

from tests.emulator.test_sources import *  # noqa: F403
