"""The rows of ``tests/emulator/test_sqs_batching.py``, on LocalStack (see conftest.py)."""

from tests.emulator.test_sqs_batching import *  # noqa: F403
