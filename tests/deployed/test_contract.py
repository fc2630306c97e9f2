"""The e2e contract rows (tests/e2e/test_contract.py), against the deployed API."""

from __future__ import annotations

from tests.e2e import test_contract as rows

recipient = rows.recipient
globals().update({name: getattr(rows, name) for name in dir(rows) if name.startswith("test_")})
