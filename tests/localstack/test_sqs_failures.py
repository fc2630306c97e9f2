"""The rows of ``tests/emulator/test_sqs_failures.py``, on LocalStack (see conftest.py)."""

from tests.emulator.test_sqs_failures import *  # noqa: F403
