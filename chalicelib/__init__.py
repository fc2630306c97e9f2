"""Tocsin's deployed code: everything Chalice bundles beside app.py."""
