"""The HTTP API: Chalice blueprints, auth, problem+json errors and the OpenAPI document."""
