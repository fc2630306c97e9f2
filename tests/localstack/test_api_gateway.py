"""The rows of ``tests/emulator/test_api_gateway.py``, on LocalStack (see conftest.py)."""

from tests.emulator.test_api_gateway import *  # noqa: F403
