"""Pydantic models at every edge: API requests and responses, queue messages, stored items."""
