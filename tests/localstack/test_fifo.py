"""The rows of ``tests/emulator/test_fifo.py``, on LocalStack (see conftest.py)."""

from tests.emulator.test_fifo import *  # noqa: F403
