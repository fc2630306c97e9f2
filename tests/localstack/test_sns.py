"""The rows of ``tests/emulator/test_sns.py``, on LocalStack (see conftest.py)."""

from tests.emulator.test_sns import *  # noqa: F403
