"""The rows of ``tests/emulator/test_schedules.py``, on LocalStack (see conftest.py)."""

from tests.emulator.test_schedules import *  # noqa: F403
