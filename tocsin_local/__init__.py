"""Tocsin's local tooling: the local cloud, the managed-queue emulator and the ``tocsin`` CLI.

Never packaged into the Lambda bundle: app.py and chalicelib must not import it.
"""
