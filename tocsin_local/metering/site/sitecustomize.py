"""Imported at start-up by every Python process whose PYTHONPATH names this directory."""

import os

if os.environ.get("TOCSIN_AWS_CALL_LOG"):
    from tocsin_local.metering import install

    install(os.environ["TOCSIN_AWS_CALL_LOG"])
