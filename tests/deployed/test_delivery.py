"""The e2e delivery rows (tests/e2e/test_delivery.py): a signed webhook, a retry after a 503, a
410 failed at once, dead letters and their redrive, against the deployed pipeline."""

from __future__ import annotations

from tests.e2e import test_delivery as rows

globals().update({name: getattr(rows, name) for name in dir(rows) if name.startswith("test_")})
