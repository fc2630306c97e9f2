"""The rows of ``tests/emulator/test_functions.py``, on LocalStack (see conftest.py)."""

from tests.emulator.test_functions import *  # noqa: F403
