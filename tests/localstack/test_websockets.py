"""The rows of ``tests/emulator/test_websockets.py``, on LocalStack (see conftest.py)."""

from tests.emulator.test_websockets import *  # noqa: F403
