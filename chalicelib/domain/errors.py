"""Errors the domain reports; the API layer maps each to one HTTP status."""

from __future__ import annotations

from collections.abc import Sequence


class DomainError(Exception):
    pass


class NotFound(DomainError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


class Invalid(DomainError):
    """Input that is well-formed but not acceptable (422), with the field it concerns."""

    def __init__(self, loc: Sequence[str | int], msg: str) -> None:
        super().__init__(msg)
        self.loc = list(loc)
        self.msg = msg


class Conflict(DomainError):
    pass


class Unauthorized(DomainError):
    pass
