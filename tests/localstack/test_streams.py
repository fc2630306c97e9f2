"""The rows of ``tests/emulator/test_streams.py``, on LocalStack (see conftest.py)."""

from tests.emulator.test_streams import *  # noqa: F403
